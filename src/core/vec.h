// Growable arrays: a buffer of `cap` elements that grows by doubling, kept
// by the caller as three fields (pointer, count, capacity) of its own struct
// so that each array keeps its element type.
//
//     if (!GC_VEC_RESERVE(v->ids, v->cap, v->n + 1)) return oom();
//     v->ids[v->n++] = id;
#ifndef GC_CORE_VEC_H
#define GC_CORE_VEC_H
#include <stdbool.h>
#include <stddef.h>

// Makes room for `need` elements of `elem` bytes in the buffer whose address
// is at pp (a T ** for any object type T) and whose capacity is *cap: when
// need > *cap it reallocates to max(need, 2 * *cap, 8) elements and updates
// *cap. Returns false, leaving the buffer and *cap as they were, when the
// byte size would overflow size_t or memory runs out.
bool gc_vec_reserve(void *pp, size_t *cap, size_t need, size_t elem);

// The same for an lvalue `ptr` of type T * and a size_t lvalue `cap`.
#define GC_VEC_RESERVE(ptr, cap, need) gc_vec_reserve(&(ptr), &(cap), (need), sizeof *(ptr))

#endif
