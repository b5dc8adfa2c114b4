#include "eval/number.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c) { return isalnum((unsigned char)c) != 0; }

void gc_num_set_value(gc_num *n, double v) {
    if (v == 0) v = 0;  // no "-0"
    n->value = v;
    snprintf(n->norm, sizeof n->norm, "%.15g", v);
}

// Canonical text from the digits before and after the point (no commas):
// no leading zeros in the integer part, no trailing zeros in the fraction.
static void set_canonical(gc_num *n, bool neg, const char *ip, size_t il, const char *fp, size_t fl) {
    while (il > 1 && ip[0] == '0') { ip++; il--; }
    while (fl > 0 && fp[fl - 1] == '0') fl--;
    if (il == 0) { ip = "0"; il = 1; }
    bool zero = (il == 1 && ip[0] == '0' && fl == 0);
    if (zero) neg = false;
    size_t need = (neg ? 1 : 0) + il + (fl ? fl + 1 : 0) + 1;
    char buf[512];
    if (need > sizeof buf || need > sizeof n->norm) {
        // Too long to keep exactly: compare through the double value.
        char *tmp = malloc(need + 1);
        double v = HUGE_VAL;
        if (tmp) {
            size_t k = 0;
            if (neg) tmp[k++] = '-';
            memcpy(tmp + k, ip, il); k += il;
            if (fl) { tmp[k++] = '.'; memcpy(tmp + k, fp, fl); k += fl; }
            tmp[k] = 0;
            v = strtod(tmp, NULL);
            free(tmp);
        }
        gc_num_set_value(n, v);
        return;
    }
    size_t k = 0;
    if (neg) buf[k++] = '-';
    memcpy(buf + k, ip, il); k += il;
    if (fl) { buf[k++] = '.'; memcpy(buf + k, fp, fl); k += fl; }
    buf[k] = 0;
    memcpy(n->norm, buf, k + 1);
    n->value = strtod(buf, NULL);
}

// Scans the digits of a token starting at d (a digit, or a '.' before one).
// Returns the end; ip/il and fp/fl receive the digit runs (commas removed
// into `scratch`, which must hold len - d bytes).
static size_t scan_digits(const char *t, size_t len, size_t d, char *scratch,
                          size_t *il, size_t *fl) {
    size_t j = d, k = 0;
    size_t run = 0;
    while (j < len && is_digit(t[j])) { scratch[k++] = t[j++]; run++; }
    // Thousands groups: ",ddd" not followed by another digit, after a lead of 1-3 digits.
    if (run >= 1 && run <= 3) {
        while (j + 3 < len && t[j] == ',' && is_digit(t[j + 1]) && is_digit(t[j + 2]) &&
               is_digit(t[j + 3]) && (j + 4 >= len || !is_digit(t[j + 4]))) {
            scratch[k++] = t[j + 1]; scratch[k++] = t[j + 2]; scratch[k++] = t[j + 3];
            j += 4;
        }
    }
    *il = k;
    if (j + 1 < len && t[j] == '.' && is_digit(t[j + 1])) {
        j++;
        size_t f0 = k;
        while (j < len && is_digit(t[j])) scratch[k++] = t[j++];
        *fl = k - f0;
    } else {
        *fl = 0;
    }
    return j;
}

// A sign at t[s-1] (or U+2212 ending there) counts when what precedes it
// is not part of a word or an expression operand.
static size_t sign_before(const char *t, size_t s, bool *neg) {
    *neg = false;
    size_t sl = 0;
    if (s >= 1 && (t[s - 1] == '-' || t[s - 1] == '+')) sl = 1;
    else if (s >= 3 && (unsigned char)t[s - 3] == 0xE2 && (unsigned char)t[s - 2] == 0x88 &&
             (unsigned char)t[s - 1] == 0x92) sl = 3;
    if (!sl) return s;
    size_t p = s - sl;
    if (p > 0 && (is_alnum(t[p - 1]) || t[p - 1] == ')' || t[p - 1] == '.' || t[p - 1] == '_')) return s;
    *neg = (t[s - 1] != '+');
    return p;
}

bool gc_num_next(const char *t, size_t len, size_t *pos, gc_num *n) {
    for (size_t i = *pos; i < len; i++) {
        bool start = is_digit(t[i]) ||
                     (t[i] == '.' && i + 1 < len && is_digit(t[i + 1]) && !(i > 0 && is_digit(t[i - 1])));
        if (!start) continue;
        char small[256];
        char *scratch = len - i <= sizeof small ? small : malloc(len - i);
        if (!scratch) return false;
        size_t il, fl;
        size_t end = scan_digits(t, len, i, scratch, &il, &fl);
        size_t s = i;
        if (s >= 1 && t[s - 1] == '$') {
            s--;
            if (s >= 1 && t[s - 1] == '\\') s--;
        }
        bool neg;
        s = sign_before(t, s, &neg);
        if (neg && s >= 1 && t[s - 1] == '$') {  // "$-5"
            s--;
            if (s >= 1 && t[s - 1] == '\\') s--;
        }
        set_canonical(n, neg, scratch, il, scratch + il, fl);
        if (scratch != small) free(scratch);
        n->start = s;
        n->end = end;
        *pos = end;
        return true;
    }
    return false;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool gc_num_parse_exact(const char *s, size_t len, gc_num *n) {
    size_t b = 0, e = len;
    while (b < e && is_space(s[b])) b++;
    while (e > b && is_space(s[e - 1])) e--;
    if (e > b && s[e - 1] == '%') { e--; if (e > b && s[e - 1] == '\\') e--; }
    if (e > b + 1 && s[e - 1] == '.' && is_digit(s[e - 2])) e--;
    while (e > b && is_space(s[e - 1])) e--;
    if (b == e) return false;
    size_t pos = b;
    gc_num a;
    if (!gc_num_next(s, e, &pos, &a) || a.start != b) return false;
    if (a.end == e) { *n = a; return true; }
    // An exponent, as "%.15g" writes very large or small values: 3.3e-22.
    size_t x = a.end;
    if (x < e && (s[x] == 'e' || s[x] == 'E')) {
        x++;
        if (x < e && (s[x] == '+' || s[x] == '-')) x++;
        size_t ds = x;
        while (x < e && is_digit(s[x])) x++;
        if (x == e && x > ds && x - ds <= 4) {
            // Mantissa as normalized, then the exponent as written.
            char buf[GC_NUM_NORM_CAP + 8];
            snprintf(buf, sizeof buf, "%s%.*s", a.norm, (int)(e - a.end), s + a.end);
            *n = a;
            gc_num_set_value(n, strtod(buf, NULL));
            n->end = e;
            return true;
        }
    }
    // a/b
    size_t p = a.end;
    while (p < e && s[p] == ' ') p++;
    if (p >= e || s[p] != '/') return false;
    p++;
    while (p < e && s[p] == ' ') p++;
    if (p >= e || !is_digit(s[p])) return false;
    size_t q = p;
    gc_num d;
    if (!gc_num_next(s, e, &q, &d) || d.start != p || d.end != e || d.value == 0) return false;
    *n = a;
    gc_num_set_value(n, a.value / d.value);
    n->end = e;
    return true;
}
