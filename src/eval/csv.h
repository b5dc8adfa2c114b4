// RFC 4180 CSV reader: fields separated by ',', records by LF or CRLF,
// quoted fields ("...") may hold commas, line breaks and doubled quotes ("").
// A quote inside an unquoted field is kept as a literal character. Blank
// lines between records are skipped; a leading UTF-8 BOM is ignored.
#ifndef GC_EVAL_CSV_H
#define GC_EVAL_CSV_H
#include "gcache/gcache.h"

typedef struct gc_csv {
    const char *data;
    size_t len, pos;
    int64_t line;         // line at pos (1-based)
    char *buf;            // field texts of the current record, each NUL-terminated
    size_t blen, bcap;
    size_t *offs;         // start of field i in buf
    size_t n, cap;
} gc_csv;

void gc_csv_init(gc_csv *c, const char *data, size_t len);
void gc_csv_free(gc_csv *c);
// Reads the next record; *more = false at the end of the data. *rec_line
// gets the line the record starts on. A syntax error (unterminated quote,
// text after a closing quote, NUL byte) returns GC_ERR_FORMAT with
// "<path>:<line>: ..." and leaves the reader after the bad record's line,
// so that the caller may go on.
gc_status gc_csv_next(gc_csv *c, const char *path, bool *more, int64_t *rec_line);
static inline size_t gc_csv_count(const gc_csv *c) { return c->n; }
static inline const char *gc_csv_field(const gc_csv *c, size_t i) { return c->buf + c->offs[i]; }

#endif
