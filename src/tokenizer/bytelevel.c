#include "tokenizer/bytelevel.h"
#include "core/utf8.h"

static bool printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

uint32_t gc_bytelevel_char(uint8_t b) {
    if (printable(b)) return b;
    // Rank of b among the non-printable bytes: those below 0x21 come first,
    // then 0x7F..0xA0 (34 bytes), then 0xAD.
    if (b <= 0x20) return 0x100u + b;
    if (b <= 0xA0) return 0x100u + 0x21u + (b - 0x7Fu);
    return 0x100u + 0x21u + 0x22u;  // 0xAD
}

int gc_bytelevel_byte(uint32_t cp) {
    if (cp < 0x100) return printable(cp) ? (int)cp : -1;
    if (cp < 0x121) return (int)(cp - 0x100);
    if (cp < 0x143) return (int)(cp - 0x121 + 0x7F);
    if (cp == 0x143) return 0xAD;
    return -1;
}

size_t gc_bytelevel_encode_byte(uint8_t b, char buf[2]) {
    uint32_t cp = gc_bytelevel_char(b);
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    buf[0] = (char)(0xC0 | (cp >> 6));
    buf[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

bool gc_bytelevel_decode(const char *s, size_t len, uint8_t *out, size_t *out_len) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        const size_t k = gc_utf8_next(s + i, len - i, &cp);
        const int b = k ? gc_bytelevel_byte((uint32_t)cp) : -1;
        if (b < 0) return false;
        out[n++] = (uint8_t)b;
        i += k;
    }
    *out_len = n;
    return true;
}
