#include "core/strbuf.h"
#include "core/vec.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool gc_strbuf_append(gc_strbuf *b, const char *p, size_t n) {
    if (n >= SIZE_MAX - b->len || !GC_VEC_RESERVE(b->s, b->cap, b->len + n + 1)) return false;
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
    return true;
}
