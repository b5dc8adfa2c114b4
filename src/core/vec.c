// Growable arrays (core/vec.h).
#include "core/vec.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 8

bool gc_vec_reserve(void *pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    const size_t max = SIZE_MAX / elem;
    if (need > max) return false;
    size_t c = *cap > max / 2 ? max : *cap * 2;
    if (c < need) c = need;
    if (c < MIN_CAP && MIN_CAP <= max) c = MIN_CAP;
    // The buffer pointer is read and written as bytes: pp may point to an
    // int32_t * or a struct pointer, never a void * object.
    void *p;
    memcpy(&p, pp, sizeof p);
    void *np = realloc(p, c * elem);
    if (!np) return false;
    memcpy(pp, &np, sizeof np);
    *cap = c;
    return true;
}
