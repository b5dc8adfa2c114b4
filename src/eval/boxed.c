#include "eval/boxed.h"
#include "core/vec.h"
#include <stdlib.h>
#include <string.h>

static bool has_at(const char *t, size_t len, size_t i, const char *w) {
    size_t n = strlen(w);
    return i + n <= len && memcmp(t + i, w, n) == 0;
}

typedef struct open_brace { size_t pos; bool boxed; } open_brace;

static int by_start(const void *a, const void *b) {
    size_t x = ((const gc_span *)a)->start, y = ((const gc_span *)b)->start;
    return (x > y) - (x < y);
}

// One pass with a stack of open braces (linear even for thousands of
// unclosed or nested boxes); a box is recorded when its brace closes.
size_t gc_boxed_find(const char *t, size_t len, gc_span **out) {
    *out = NULL;
    size_t n = 0, cap = 0, depth = 0, scap = 0;
    gc_span *v = NULL;
    open_brace *stack = NULL;
    bool pending = false;  // the next '{' opens a box
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (c == '\\') {
            if (i + 1 < len && (t[i + 1] == '{' || t[i + 1] == '}')) { i++; continue; }
            if (has_at(t, len, i + 1, "boxed")) { pending = true; i += 5; continue; }
            if (has_at(t, len, i + 1, "fbox")) { pending = true; i += 4; continue; }
            pending = false;
            continue;
        }
        if (c == '{') {
            if (!GC_VEC_RESERVE(stack, scap, depth + 1)) break;
            stack[depth].pos = i;
            stack[depth].boxed = pending;
            depth++;
            pending = false;
        } else if (c == '}') {
            pending = false;
            if (depth == 0) continue;
            open_brace ob = stack[--depth];
            if (!ob.boxed) continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4;
                gc_span *nv = realloc(v, nc * sizeof *nv);
                if (!nv) break;
                v = nv;
                cap = nc;
            }
            v[n].start = ob.pos + 1;
            v[n].end = i;
            n++;
        } else if (c != ' ') {
            pending = false;
        }
    }
    free(stack);
    if (n == 0) { free(v); v = NULL; }
    else qsort(v, n, sizeof *v, by_start);
    *out = v;
    return n;
}
