// UTF-8 on utf8proc (core/utf8.h). utf8proc_iterate decides what is well
// formed; only the maximal-subpart rule, which utf8proc does not offer, reads
// the byte ranges of Unicode table 3-7 here (tests/unit/test_utf8.c checks
// that both agree on every one- to four-byte prefix class).
#include "core/utf8.h"
#include <utf8proc.h>

size_t gc_utf8_next(const char *s, size_t n, int32_t *cp) {
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t r = n ? utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &c) : 0;
    if (cp) *cp = r > 0 ? c : -1;
    return r > 0 ? (size_t)r : 0;
}

size_t gc_utf8_invalid_at(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {  // ASCII runs skip the library call
            i++;
            continue;
        }
        size_t k = gc_utf8_next(s + i, n - i, NULL);
        if (!k) return i;
        i += k;
    }
    return n;
}

// Table 3-7: a lead byte fixes the length and the range of the second byte;
// later bytes are any continuation byte 0x80..0xBF.
size_t gc_utf8_subpart(const char *s, size_t n, bool *truncated) {
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    *truncated = false;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;  // below: overlong
        if (c == 0xED) hi = 0x9F;  // above: surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;  // below: overlong
        if (c == 0xF4) hi = 0x8F;  // above: past U+10FFFF
    } else {
        return 1;  // ASCII, a continuation byte, C0, C1 or F5..FF: begins no multi-byte character
    }
    size_t k = 1;
    while (k < need && k < n) {
        const unsigned char b = p[k];
        if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
        k++;
    }
    *truncated = k < need && k == n;
    return k;
}
