#include "eval/capture.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gc_capture_init(gc_capture *c, size_t cap) {
    memset(c, 0, sizeof *c);
    if (cap < 4) cap = 4;
    c->head_cap = cap / 4;
    c->ring_cap = cap - c->head_cap;
    c->head = malloc(c->head_cap);
    c->ring = malloc(c->ring_cap);
    if (!c->head || !c->ring) { gc_capture_free(c); return false; }
    return true;
}

void gc_capture_add(gc_capture *c, const char *data, size_t n) {
    size_t h = c->head_cap - c->head_len;
    if (h > n) h = n;
    memcpy(c->head + c->head_len, data, h);
    c->head_len += h;
    data += h;
    n -= h;
    if (n >= c->ring_cap) {  // only the last ring_cap bytes can survive
        c->dropped += c->ring_len + (n - c->ring_cap);
        data += n - c->ring_cap;
        n = c->ring_cap;
        c->ring_start = 0;
        c->ring_len = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (c->ring_len == c->ring_cap) {
            c->ring_start = (c->ring_start + 1) % c->ring_cap;
            c->ring_len--;
            c->dropped++;
        }
        c->ring[(c->ring_start + c->ring_len) % c->ring_cap] = data[i];
        c->ring_len++;
    }
}

char *gc_capture_take(gc_capture *c, size_t *len) {
    char note[64] = "";
    if (c->dropped) snprintf(note, sizeof note, "\n[... %zu bytes dropped ...]\n", c->dropped);
    size_t nl = strlen(note), total = c->head_len + nl + c->ring_len;
    char *o = malloc(total + 1);
    if (!o) { *len = 0; return NULL; }
    memcpy(o, c->head, c->head_len);
    memcpy(o + c->head_len, note, nl);
    for (size_t i = 0; i < c->ring_len; i++) o[c->head_len + nl + i] = c->ring[(c->ring_start + i) % c->ring_cap];
    o[total] = 0;
    *len = total;
    return o;
}

void gc_capture_free(gc_capture *c) {
    free(c->head);
    free(c->ring);
    memset(c, 0, sizeof *c);
}
