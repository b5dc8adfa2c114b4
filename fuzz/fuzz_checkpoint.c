// libFuzzer target: the input is a policy checkpoint. Each input is loaded
// twice: as given (the checksum guards it) and with its trailing checksum
// recomputed, so that mutations reach the body parser. A checkpoint that
// loads must serialise back to the same bytes and survive a sample + update.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "gcache/learn.h"

static void exercise(const uint8_t *data, size_t size) {
    gc_policy *p = NULL;
    if (gc_policy_load_memory(data, size, "fuzz.ckpt", NULL, &p) != GC_OK) {
        if (p) abort();
        return;
    }
    uint8_t *out;
    size_t len;
    if (gc_policy_serialize(p, &out, &len) != GC_OK) abort();
    if (len != size || memcmp(out, data, size) != 0) abort();
    free(out);

    gc_policy_params c = gc_policy_get_config(p);
    size_t nf = (size_t)c.n_nodes * (size_t)c.feat_dim;
    double *x = calloc(nf, sizeof *x);
    if (x) {
        for (size_t k = 0; k < nf; k++) x[k] = (double)(k % 7) - 3.0;
        gc_sample s = {0};
        gc_sample *b[1] = {&s};
        double u = 1.0;
        if (gc_policy_sample(p, x, true, &s) == GC_OK) (void)gc_policy_update(p, b, &u, 1, NULL);
        gc_sample_clear(&s);
        free(x);
    }
    gc_policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Exact-size copy so reads past the end are caught by ASan.
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    exercise(buf, size);
    if (size >= 32) {
        uint64_t h = gc_fnv1a(GC_FNV_INIT, buf, size - 8);
        for (int k = 0; k < 8; k++) buf[size - 8 + k] = (uint8_t)(h >> (8 * k));
        exercise(buf, size);
    }
    free(buf);
    return 0;
}
