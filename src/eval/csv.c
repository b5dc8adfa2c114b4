#include "eval/csv.h"
#include "core/error.h"
#include "core/vec.h"
#include <stdlib.h>
#include <string.h>

void gc_csv_init(gc_csv *c, const char *data, size_t len) {
    memset(c, 0, sizeof *c);
    c->data = data;
    c->len = len;
    c->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) c->pos = 3;
}

void gc_csv_free(gc_csv *c) {
    free(c->buf);
    free(c->offs);
    memset(c, 0, sizeof *c);
}

static bool put(gc_csv *c, char ch) {
    if (!GC_VEC_RESERVE(c->buf, c->bcap, c->blen + 1)) return false;
    c->buf[c->blen++] = ch;
    return true;
}

static bool start_field(gc_csv *c) {
    if (!GC_VEC_RESERVE(c->offs, c->cap, c->n + 1)) return false;
    c->offs[c->n++] = c->blen;
    return true;
}

// After an error: continue at the next line.
static void skip_line(gc_csv *c) {
    const char *nl = memchr(c->data + c->pos, '\n', c->len - c->pos);
    if (nl) { c->pos = (size_t)(nl - c->data) + 1; c->line++; }
    else c->pos = c->len;
}

// At a record end: consumes "\n" or "\r\n". True if one was there.
static bool eat_newline(gc_csv *c) {
    size_t p = c->pos;
    if (p < c->len && c->data[p] == '\r' && p + 1 < c->len && c->data[p + 1] == '\n') p++;
    if (p < c->len && c->data[p] == '\n') { c->pos = p + 1; c->line++; return true; }
    return false;
}

gc_status gc_csv_next(gc_csv *c, const char *path, bool *more, int64_t *rec_line) {
    c->n = 0;
    c->blen = 0;
    while (eat_newline(c)) {}  // blank lines
    if (c->pos >= c->len) { *more = false; return GC_OK; }
    *more = true;
    int64_t start = c->line;
    *rec_line = start;
    const char *d = c->data;
    for (;;) {
        if (!start_field(c)) return gc_fail(GC_ERR_OOM, "%s:%lld: out of memory", path, (long long)start);
        if (c->pos < c->len && d[c->pos] == '"') {
            c->pos++;
            for (;;) {
                if (c->pos >= c->len)
                    return gc_fail(GC_ERR_FORMAT, "%s:%lld: field %zu: unterminated quoted field", path,
                                   (long long)start, c->n);
                char ch = d[c->pos];
                if (ch == '\0') {
                    skip_line(c);
                    return gc_fail(GC_ERR_FORMAT, "%s:%lld: field %zu: NUL byte", path, (long long)start, c->n);
                }
                if (ch == '"') {
                    if (c->pos + 1 < c->len && d[c->pos + 1] == '"') { ch = '"'; c->pos++; }
                    else { c->pos++; break; }
                } else if (ch == '\n') {
                    c->line++;
                }
                if (!put(c, ch)) return gc_fail(GC_ERR_OOM, "%s:%lld: out of memory", path, (long long)start);
                c->pos++;
            }
            bool sep = c->pos >= c->len || d[c->pos] == ',' || d[c->pos] == '\n' ||
                       (d[c->pos] == '\r' && c->pos + 1 < c->len && d[c->pos + 1] == '\n');
            if (!sep) {
                int64_t at = c->line;
                skip_line(c);
                return gc_fail(GC_ERR_FORMAT, "%s:%lld: field %zu: text after the closing quote", path,
                               (long long)at, c->n);
            }
        } else {
            while (c->pos < c->len && d[c->pos] != ',' && d[c->pos] != '\n') {
                if (d[c->pos] == '\r' && c->pos + 1 < c->len && d[c->pos + 1] == '\n') break;
                if (d[c->pos] == '\0') {
                    skip_line(c);
                    return gc_fail(GC_ERR_FORMAT, "%s:%lld: field %zu: NUL byte", path, (long long)start, c->n);
                }
                if (!put(c, d[c->pos])) return gc_fail(GC_ERR_OOM, "%s:%lld: out of memory", path, (long long)start);
                c->pos++;
            }
        }
        if (!put(c, '\0')) return gc_fail(GC_ERR_OOM, "%s:%lld: out of memory", path, (long long)start);
        if (c->pos < c->len && d[c->pos] == ',') { c->pos++; continue; }
        eat_newline(c);
        return GC_OK;
    }
}
