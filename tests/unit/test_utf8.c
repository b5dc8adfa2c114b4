// Tests for core/utf8: gc_utf8_next (utf8proc) and gc_utf8_subpart (Unicode
// table 3-7) against an oracle written from the definition instead (decode
// the bits, then reject overlong forms, surrogates and values past
// U+10FFFF), on every two-byte string and on every lead and second byte with
// third and fourth bytes from the boundary values of the continuation range.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/utf8.h"

// Third and fourth bytes: at or next to every boundary that table 3-7 draws.
static const unsigned char EDGE[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF4, 0xFF};
#define N_EDGE (sizeof EDGE / sizeof EDGE[0])

// Length of the well-formed character at s[0..n) by the definition, or 0.
static size_t oracle_len(const unsigned char *s, size_t n, int32_t *cp) {
    size_t len;
    uint32_t v;
    if (s[0] < 0x80) len = 1, v = s[0];
    else if ((s[0] & 0xE0) == 0xC0) len = 2, v = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0) len = 3, v = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0) len = 4, v = s[0] & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t MIN[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < MIN[len] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0;
    *cp = (int32_t)v;
    return len;
}

// prefix_bits[m-1] marks the m-byte strings (m = 1..3) that some
// well-formed character begins with, built by encoding every scalar value
// from the definition: 1, 2, 3 or 4 bytes by range, 6 bits per trailing byte.
static uint8_t prefix_bits[3][1u << 21];

static void mark(int m, const unsigned char *b) {
    uint32_t key = 0;
    for (int i = 0; i < m; i++) key = key << 8 | b[i];
    prefix_bits[m - 1][key >> 3] |= (uint8_t)(1u << (key & 7));
}

static void build_prefixes(void) {
    for (uint32_t v = 0; v <= 0x10FFFF; v++) {
        if (v >= 0xD800 && v <= 0xDFFF) continue;
        unsigned char b[4];
        int len = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
        static const unsigned char LEAD[] = {0, 0x00, 0xC0, 0xE0, 0xF0};
        for (int i = len - 1; i > 0; i--) b[i] = (unsigned char)(0x80 | ((v >> (6 * (len - 1 - i))) & 0x3F));
        b[0] = (unsigned char)(LEAD[len] | (v >> (6 * (len - 1))));
        for (int m = 1; m <= len && m <= 3; m++) mark(m, b);
    }
}

// Whether s[0..m) (m = 1..3) begins some well-formed character.
static int oracle_prefix(const unsigned char *s, size_t m) {
    uint32_t key = 0;
    for (size_t i = 0; i < m; i++) key = key << 8 | s[i];
    return prefix_bits[m - 1][key >> 3] >> (key & 7) & 1;
}

static void check(const unsigned char *s, size_t n) {
    int32_t want_cp = -1, got_cp = 0;
    const size_t want = oracle_len(s, n, &want_cp);
    const size_t got = gc_utf8_next((const char *)s, n, &got_cp);
    if (got != want || got_cp != (want ? want_cp : -1))
        fail_msg("next(%02X %02X %02X %02X, n=%zu) = %zu U+%X, want %zu U+%X", s[0], n > 1 ? s[1] : 0,
                 n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n, got, (unsigned)got_cp, want, (unsigned)want_cp);
    bool truncated;
    const size_t k = gc_utf8_subpart((const char *)s, n, &truncated);
    if (want) {
        if (k != want || truncated) fail_msg("subpart of a whole character: %zu, want %zu", k, want);
        return;
    }
    // The maximal subpart: a prefix of some character, one byte longer is not (or s ends).
    if (k > 1 && !oracle_prefix(s, k)) fail_msg("subpart %zu of %02X %02X is no prefix", k, s[0], s[1]);
    if (k < n && k < 3 && oracle_prefix(s, k + 1)) fail_msg("subpart %zu of %02X %02X is not maximal", k, s[0], s[1]);
    if (truncated != (k == n && oracle_prefix(s, k) && s[0] >= 0x80))
        fail_msg("truncated flag %d at subpart %zu of n=%zu", truncated, k, n);
}

static void test_agrees_with_the_definition(void **st) {
    (void)st;
    build_prefixes();
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        check(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            check(s, 2);
            for (size_t c = 0; c < N_EDGE; c++) {
                s[2] = EDGE[c];
                check(s, 3);
                for (size_t d = 0; d < N_EDGE; d++) {
                    s[3] = EDGE[d];
                    check(s, 4);
                }
            }
        }
    }
}

static void test_strings(void **st) {
    (void)st;
    const char ok[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
    assert_int_equal(gc_utf8_invalid_at(ok, sizeof ok - 1), sizeof ok - 1);
    assert_true(gc_utf8_valid(ok, sizeof ok - 1));
    assert_true(gc_utf8_valid("", 0));
    assert_true(gc_utf8_valid("a\0b", 3));  // NUL is a character
    assert_int_equal(gc_utf8_invalid_at("ab\xC0\xAF", 4), 2);          // overlong '/'
    assert_int_equal(gc_utf8_invalid_at("\xED\xA0\x80", 3), 0);        // surrogate U+D800
    assert_int_equal(gc_utf8_invalid_at("x\xF4\x90\x80\x80", 5), 1);   // U+110000
    assert_int_equal(gc_utf8_invalid_at("\xE2\x82", 2), 0);            // cut short
    assert_int_equal(gc_utf8_invalid_at("\xC3\xA9\x80", 3), 2);        // stray continuation byte
    int32_t cp;
    assert_int_equal(gc_utf8_next("", 0, &cp), 0);
    assert_int_equal(cp, -1);
}

static void test_walk_back_and_lead_len(void **st) {
    (void)st;
    const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
    const size_t starts[] = {0, 1, 3, 6}, lens[] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(gc_utf8_lead_len((unsigned char)s[starts[i]]), lens[i]);
        assert_int_equal(gc_utf8_prev(s, starts[i] + lens[i]), starts[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_the_definition),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_walk_back_and_lead_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
