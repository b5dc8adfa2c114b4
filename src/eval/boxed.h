// \boxed{…} spans in model output (shared by number and choice extraction).
#ifndef GC_EVAL_BOXED_H
#define GC_EVAL_BOXED_H
#include <stdbool.h>
#include <stddef.h>

typedef struct gc_span { size_t start, end; } gc_span;

// Content spans of every \boxed{…} / \fbox{…} whose braces balance, in
// order of their opening. Escaped braces (\{ \}) do not count. Returns the
// count; *out is malloc'd (NULL when 0 or on OOM) and freed by the caller.
size_t gc_boxed_find(const char *t, size_t len, gc_span **out);

#endif
