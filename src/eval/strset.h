// A growable set of strings (open addressing, FNV-1a), owning copies.
#ifndef GC_EVAL_STRSET_H
#define GC_EVAL_STRSET_H
#include <stdbool.h>
#include <stddef.h>

typedef struct gc_strset {
    char **slot;   // cap entries, NULL = empty; cap is 0 or a power of two
    size_t cap, n;
} gc_strset;

// A zeroed gc_strset is an empty set.
bool gc_strset_has(const gc_strset *s, const char *k);
// 1: added, 0: already there, -1: out of memory.
int gc_strset_add(gc_strset *s, const char *k);
void gc_strset_free(gc_strset *s);

#endif
