// UTF-8 decoding and validation, one set of rules for the whole library:
// utf8proc's (RFC 3629 / Unicode table 3-7): no overlong forms, no surrogates
// (U+D800..U+DFFF), nothing past U+10FFFF, no stray continuation bytes.
// Byte strings are (pointer, length) pairs; NUL is an ordinary character.
#ifndef GC_CORE_UTF8_H
#define GC_CORE_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Length (1..4) of the well-formed character at s[0..n), storing its code
// point in *cp when cp is not NULL; 0 (and *cp = -1) when s does not start
// with one, or n is 0.
size_t gc_utf8_next(const char *s, size_t n, int32_t *cp);

// Offset of the first byte of s[0..n) that does not start a well-formed
// character, or n when all of s is valid.
size_t gc_utf8_invalid_at(const char *s, size_t n);

static inline bool gc_utf8_valid(const char *s, size_t n) { return gc_utf8_invalid_at(s, n) == n; }

// Length (1..4) of the maximal subpart at s[0..n) (n > 0): the longest
// prefix that some well-formed character begins with (the whole character
// when s starts with one), or 1 when s[0] begins none. Where s does not start
// with a well-formed character, each maximal subpart becomes one U+FFFD under
// the Unicode / WHATWG replacement rule (Python's errors="replace").
// *truncated tells whether a proper prefix ends only because s ends, so that
// more bytes could complete it.
size_t gc_utf8_subpart(const char *s, size_t n, bool *truncated);

// Length (1..4) of the character whose first byte is c, in text known to be
// valid.
static inline size_t gc_utf8_lead_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

// Offset of the first byte of the character that ends at s[end), in valid
// text (end > 0).
static inline size_t gc_utf8_prev(const char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

#endif
