// Numeric answer extraction and scoring. Rules: gcache/eval.h.
#include "gcache/eval.h"
#include "core/error.h"
#include "core/vec.h"
#include "eval/boxed.h"
#include "eval/number.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool has_at(const char *t, size_t len, size_t i, const char *w) {
    size_t n = strlen(w);
    return i + n <= len && memcmp(t + i, w, n) == 0;
}

// Copy of a boxed content with LaTeX spacing removed and "{,}" read as ",".
static char *clean_latex(const char *t, size_t len, size_t *olen) {
    char *o = malloc(len + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (has_at(t, len, i, "{,}")) { o[k++] = ','; i += 2; continue; }
        if (t[i] == '\\' && i + 1 < len && t[i + 1] && strchr(",!; :", t[i + 1])) { i++; continue; }
        o[k++] = t[i];
    }
    o[k] = 0;
    *olen = k;
    return o;
}

// The argument of \frac at t[*p]: "{...}" or a single digit ("\frac12").
static bool frac_arg(const char *t, size_t len, size_t *p, gc_num *out) {
    size_t i = *p;
    while (i < len && t[i] == ' ') i++;
    if (i >= len) return false;
    if (t[i] >= '0' && t[i] <= '9') {
        if (!gc_num_parse_exact(t + i, 1, out)) return false;
        *p = i + 1;
        return true;
    }
    if (t[i] != '{') return false;
    int depth = 0;
    size_t j = i;
    for (; j < len; j++) {
        if (t[j] == '{') depth++;
        else if (t[j] == '}' && --depth == 0) break;
    }
    if (j >= len) return false;
    if (!gc_num_parse_exact(t + i + 1, j - i - 1, out)) return false;
    *p = j + 1;
    return true;
}

// \frac{a}{b} starting at t[f] (the backslash); the sign is read before it.
static bool parse_frac(const char *t, size_t len, size_t f, size_t cmd_len, gc_num *out) {
    size_t p = f + cmd_len;
    gc_num a, b;
    if (!frac_arg(t, len, &p, &a) || !frac_arg(t, len, &p, &b) || b.value == 0) return false;
    double v = a.value / b.value;
    size_t s = f;
    while (s > 0 && t[s - 1] == ' ') s--;
    if (s > 0 && t[s - 1] == '-' && !(s > 1 && (isalnum((unsigned char)t[s - 2]) || t[s - 2] == ')'))) v = -v;
    gc_num_set_value(out, v);
    return true;
}

static size_t find_frac(const char *t, size_t len, size_t *cmd_len) {
    static const char *const cmds[] = {"\\frac", "\\dfrac", "\\tfrac"};
    for (size_t i = 0; i < len; i++) {
        for (int c = 0; c < 3; c++) {
            if (has_at(t, len, i, cmds[c])) { *cmd_len = strlen(cmds[c]); return i; }
        }
    }
    return len;
}

// First number of one boxed content: a fraction if one comes first.
static bool boxed_number(const char *raw, size_t rlen, gc_num *out) {
    size_t len;
    char *t = clean_latex(raw, rlen, &len);
    if (!t) return false;
    size_t cmd_len = 0, f = find_frac(t, len, &cmd_len);
    size_t pos = 0;
    gc_num n;
    bool have = gc_num_next(t, len, &pos, &n);
    bool ok = false;
    if (f < len && (!have || f < n.start) && parse_frac(t, len, f, cmd_len, out)) {
        ok = true;
    } else if (have) {
        *out = n;
        size_t p = n.end;
        while (p < len && t[p] == ' ') p++;
        if (p < len && t[p] == '/') {
            p++;
            while (p < len && t[p] == ' ') p++;
            size_t q = p;
            gc_num d;
            if (p < len && t[p] >= '0' && t[p] <= '9' && gc_num_next(t, len, &q, &d) && d.start == p &&
                d.value != 0)
                gc_num_set_value(out, n.value / d.value);
        }
        ok = true;
    }
    free(t);
    return ok;
}

// Positions just after each "answer is" / "answer:" / "answer =" / "####".
static size_t answer_markers(const char *t, size_t len, size_t **out) {
    size_t n = 0, cap = 0;
    size_t *v = NULL;
    for (size_t i = 0; i < len; i++) {
        size_t end = 0;
        if (has_at(t, len, i, "####")) {
            end = i + 4;
            while (end < len && t[end] == '#') end++;
        } else if (i + 6 <= len && strncasecmp(t + i, "answer", 6) == 0 &&
                   (i == 0 || !isalpha((unsigned char)t[i - 1]))) {
            size_t k = i + 6;
            while (k < len && (t[k] == ' ' || t[k] == '\t' || t[k] == '*' || t[k] == '_')) k++;
            if (k < len && (t[k] == ':' || t[k] == '=')) {
                end = k + 1;
            } else if (k + 2 <= len && strncasecmp(t + k, "is", 2) == 0 &&
                       (k + 2 == len || !isalpha((unsigned char)t[k + 2]))) {
                end = k + 2;
                if (end < len && t[end] == ':') end++;
            }
        }
        if (!end) continue;
        if (!GC_VEC_RESERVE(v, cap, n + 1)) break;
        v[n++] = end;
    }
    *out = v;
    return n;
}

static void put(char *out, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

bool gc_answer_extract_number(const char *output, char *out, size_t cap) {
    if (cap) out[0] = 0;
    if (!output || cap < 2) return false;
    size_t len = strlen(output);
    gc_num n;
    bool found = false;

    gc_span *boxes;
    size_t nb = gc_boxed_find(output, len, &boxes);
    for (size_t b = nb; b-- > 0 && !found;)
        found = boxed_number(output + boxes[b].start, boxes[b].end - boxes[b].start, &n);
    free(boxes);

    if (!found) {
        size_t *marks;
        size_t nm = answer_markers(output, len, &marks);
        // Markers hold no digits, so when nothing follows marker m+1, the
        // number after marker m (if any) lies before marker m+1's end:
        // each stretch is scanned once.
        size_t limit = len;
        for (size_t m = nm; m-- > 0 && !found;) {
            size_t pos = marks[m];
            found = gc_num_next(output, limit, &pos, &n);
            limit = marks[m];
        }
        free(marks);
    }
    if (!found) {
        size_t pos = 0;
        gc_num x;
        while (gc_num_next(output, len, &pos, &x)) { n = x; found = true; }
    }
    if (found) put(out, cap, n.norm);
    return found;
}

bool gc_answer_normalize_number(const char *s, char *out, size_t cap) {
    if (cap) out[0] = 0;
    gc_num n;
    if (!s || cap < 2 || !gc_num_parse_exact(s, strlen(s), &n)) return false;
    put(out, cap, n.norm);
    return true;
}

bool gc_answer_numbers_equal(const char *a, const char *b) {
    gc_num x, y;
    if (!a || !b || !gc_num_parse_exact(a, strlen(a), &x) || !gc_num_parse_exact(b, strlen(b), &y)) return false;
    if (strcmp(x.norm, y.norm) == 0) return true;
    if (!isfinite(x.value) || !isfinite(y.value)) return false;
    return fabs(x.value - y.value) <= 1e-6 * fmax(fabs(x.value), fabs(y.value));
}

gc_status gc_answer_score(gc_answer_kind kind, const gc_question *q, const char *output, gc_score *out) {
    memset(out, 0, sizeof *out);
    if (!q || !q->gold) return gc_fail(GC_ERR_INVALID_ARG, "gc_answer_score: question without gold");
    switch (kind) {
    case GC_ANSWER_NUMBER:
        out->extracted = gc_answer_extract_number(output, out->pred, sizeof out->pred);
        out->correct = out->extracted && gc_answer_numbers_equal(out->pred, q->gold);
        return GC_OK;
    case GC_ANSWER_CHOICE: {
        char c = gc_answer_extract_choice(output, q->n_choices);
        out->extracted = c != 0;
        out->pred[0] = c;
        out->pred[1] = 0;
        out->correct = c != 0 && q->gold[0] == c && q->gold[1] == 0;
        return GC_OK;
    }
    case GC_ANSWER_CODE:
        break;
    }
    return gc_fail(GC_ERR_INVALID_ARG, "question %s: code answers are scored by running them (gc_code_program + gc_sandbox_run)",
                   q->id ? q->id : "?");
}
