// Number tokens in free text, shared by answer extraction and dataset gold
// parsing. Grammar and sign rule: see the comment block in gcache/eval.h.
#ifndef GC_EVAL_NUMBER_H
#define GC_EVAL_NUMBER_H
#include <stdbool.h>
#include <stddef.h>

#define GC_NUM_NORM_CAP 64

typedef struct gc_num {
    size_t start, end;            // byte span in the text, sign and "$" included
    double value;
    char norm[GC_NUM_NORM_CAP];   // canonical decimal text: "-3.5", "1234", "0.5"
} gc_num;

// Finds the first number token starting at or after *pos in text[0..len);
// on success fills *n and sets *pos = n->end.
bool gc_num_next(const char *text, size_t len, size_t *pos, gc_num *n);

// Whole-string forms: optional spaces, "$", "%", a final ".", and a/b.
bool gc_num_parse_exact(const char *s, size_t len, gc_num *n);

// Fills n->norm from value (for fractions): up to 15 significant digits.
void gc_num_set_value(gc_num *n, double v);

#endif
