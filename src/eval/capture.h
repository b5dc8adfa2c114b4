// A bounded output buffer keeping the head and the tail of a stream: the
// first quarter of the capacity is the head (how the program started), the
// rest a ring holding the latest bytes (where tracebacks end up).
#ifndef GC_EVAL_CAPTURE_H
#define GC_EVAL_CAPTURE_H
#include <stdbool.h>
#include <stddef.h>

typedef struct gc_capture {
    char *head;
    size_t head_len, head_cap;
    char *ring;
    size_t ring_cap, ring_start, ring_len;
    size_t dropped;   // bytes that fell out between head and tail
} gc_capture;

bool gc_capture_init(gc_capture *c, size_t cap);   // cap >= 4
void gc_capture_add(gc_capture *c, const char *data, size_t n);
// Head, a "[... N bytes dropped ...]" line if any, then the tail; malloc'd.
char *gc_capture_take(gc_capture *c, size_t *len);
void gc_capture_free(gc_capture *c);

#endif
