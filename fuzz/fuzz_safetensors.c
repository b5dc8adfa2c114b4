// libFuzzer target: parse the input as one safetensors buffer and touch
// every byte of every view, so an out-of-bounds view shows up under ASan.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // A private copy makes the buffer exactly `size` bytes for ASan.
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    gc_weights *w = NULL;
    if (gc_weights_open_memory(buf, size, "fuzz.safetensors", &w) == GC_OK) {
        volatile uint8_t sink = 0;
        int64_t n = gc_weights_count(w);
        for (int64_t i = 0; i < n; i++) {
            const gc_tensor *t = gc_weights_at(w, i);
            if (gc_weights_find(w, t->name) != t) abort();
            if (gc_weights_file_of(w, t) == NULL) abort();
            int64_t numel = gc_tensor_numel(t);
            if (numel < 0 || t->ndim < 0 || t->ndim > GC_MAX_DIMS) abort();
            const uint8_t *p = t->data;
            if (p < buf || p + t->nbytes > buf + size) abort();
            for (size_t k = 0; k < t->nbytes; k++) sink ^= p[k];
        }
        (void)sink;
        gc_weights_free(w);
    }
    free(buf);
    return 0;
}
