// The .env parser (grammar in gcache/api.h). One pass over the text, line by
// line; each assignment's key and value are decoded into one scratch buffer
// (key NUL value NUL) that is handed to the callback and reused.
#include "gcache/api.h"
#include "core/error.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

// Parser state for the line being read: [p, end) is what is left of it.
typedef struct line_cur {
    const char *p, *end;
    const char *path;   // for messages
    size_t line;        // 1-based
} line_cur;

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_key_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_key_char(char c) { return is_key_start(c) || (c >= '0' && c <= '9'); }

static void skip_blanks(line_cur *c) {
    while (c->p < c->end && is_blank(*c->p)) c->p++;
}

static gc_status bad(const line_cur *c, const char *what) {
    return gc_fail(GC_ERR_FORMAT, "%s:%zu: %s", c->path, c->line, what);
}

// After a closing quote only blanks and an optional '#' comment may follow.
static gc_status expect_line_end(line_cur *c) {
    skip_blanks(c);
    if (c->p < c->end && *c->p != '#') return bad(c, "unexpected text after the closing quote");
    return GC_OK;
}

// 'literal': everything up to the next single quote, no escapes.
static gc_status read_single(line_cur *c, char *dst) {
    const char *close = memchr(c->p + 1, '\'', (size_t)(c->end - c->p - 1));
    if (!close) return bad(c, "unterminated single-quoted value");
    size_t n = (size_t)(close - c->p - 1);
    memcpy(dst, c->p + 1, n);
    dst[n] = 0;
    c->p = close + 1;
    return expect_line_end(c);
}

// "with escapes": \n \t \\ \" and nothing else.
static gc_status read_double(line_cur *c, char *dst) {
    size_t n = 0;
    for (c->p++; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (ch == '"') {
            dst[n] = 0;
            c->p++;
            return expect_line_end(c);
        }
        if (ch != '\\') { dst[n++] = ch; continue; }
        if (++c->p == c->end) break;
        switch (*c->p) {
        case 'n': dst[n++] = '\n'; break;
        case 't': dst[n++] = '\t'; break;
        case '\\': dst[n++] = '\\'; break;
        case '"': dst[n++] = '"'; break;
        default: return bad(c, "unknown escape in double-quoted value (allowed: \\n \\t \\\\ \\\")");
        }
    }
    return bad(c, "unterminated double-quoted value");
}

// Unquoted: up to a '#' that follows a blank (a comment), blanks trimmed.
// `start` is just after the '=' so that "K= #c" is an empty value while
// "K=a#b" keeps its '#'.
static void read_plain(const char *start, const char *end, char *dst) {
    const char *stop = end;
    for (const char *q = start; q < end; q++) {
        if (*q == '#' && q > start && is_blank(q[-1])) { stop = q; break; }
    }
    while (start < stop && is_blank(*start)) start++;
    while (stop > start && is_blank(stop[-1])) stop--;
    size_t n = (size_t)(stop - start);
    memcpy(dst, start, n);
    dst[n] = 0;
}

// Consumes "export" plus blanks when it is a prefix, not the key itself
// ("export=1" and "export = 1" assign the variable named export).
static void skip_export(line_cur *c) {
    static const char kw[] = "export";
    size_t k = sizeof kw - 1;
    if ((size_t)(c->end - c->p) <= k || memcmp(c->p, kw, k) != 0 || !is_blank(c->p[k])) return;
    const char *q = c->p + k;
    while (q < c->end && is_blank(*q)) q++;
    if (q < c->end && *q == '=') return;
    c->p = q;
}

// One non-blank, non-comment line: KEY = VALUE, decoded into scratch.
static gc_status parse_assignment(line_cur *c, char *scratch,
                                  void (*set)(void *, const char *, const char *), void *user) {
    skip_export(c);
    if (c->p == c->end || !is_key_start(*c->p))
        return bad(c, "expected KEY=VALUE (KEY: letters, digits and '_', not starting with a digit)");
    const char *key = c->p;
    while (c->p < c->end && is_key_char(*c->p)) c->p++;
    size_t key_len = (size_t)(c->p - key);
    skip_blanks(c);
    if (c->p == c->end || *c->p != '=') return bad(c, "expected '=' after the variable name");
    c->p++;
    memcpy(scratch, key, key_len);
    scratch[key_len] = 0;
    char *value = scratch + key_len + 1;
    const char *after_eq = c->p;
    skip_blanks(c);
    if (c->p < c->end && *c->p == '\'') GC_TRY(read_single(c, value));
    else if (c->p < c->end && *c->p == '"') GC_TRY(read_double(c, value));
    else read_plain(after_eq, c->end, value);
    set(user, scratch, value);
    return GC_OK;
}

static gc_status parse_line(line_cur *c, char *scratch,
                            void (*set)(void *, const char *, const char *), void *user) {
    if (memchr(c->p, 0, (size_t)(c->end - c->p))) return bad(c, "NUL byte");
    if (c->end > c->p && c->end[-1] == '\r') c->end--;   // CRLF line end
    skip_blanks(c);
    if (c->p == c->end || *c->p == '#') return GC_OK;
    return parse_assignment(c, scratch, set, user);
}

gc_status gc_dotenv_parse(const char *text, size_t len, const char *path,
                          void (*set)(void *user, const char *key, const char *value), void *user) {
    if (!path) path = ".env";
    if ((len && !text) || !set) return gc_fail(GC_ERR_INVALID_ARG, "%s: NULL text or callback", path);
    // Key + NUL + value + NUL never exceeds one line plus 2 bytes.
    char *scratch = malloc(len + 2);
    if (!scratch) return gc_fail(GC_ERR_OOM, "%s: out of memory (%zu bytes)", path, len);
    gc_status s = GC_OK;
    line_cur c = {.path = path, .line = 0};
    for (size_t pos = 0; pos < len && s == GC_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t stop = nl ? (size_t)(nl - text) : len;
        c.p = text + pos;
        c.end = text + stop;
        c.line++;
        s = parse_line(&c, scratch, set, user);
        pos = stop + 1;
    }
    free(scratch);
    return s;
}
