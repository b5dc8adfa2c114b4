// A growable NUL-terminated byte string (generated text, prompts).
#ifndef GC_CORE_STRBUF_H
#define GC_CORE_STRBUF_H
#include <stdbool.h>
#include <stddef.h>

typedef struct gc_strbuf {
    char *s;        // NULL until the first append; always NUL-terminated after
    size_t len, cap;
} gc_strbuf;

// Appends n bytes; false on out-of-memory (the buffer is left as it was).
bool gc_strbuf_append(gc_strbuf *b, const char *p, size_t n);

#endif
