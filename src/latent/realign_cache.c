// On-disk cache of the realignment matrix.
// File <dir>/realign-<16 hex>.bin, where the hex is a hash of both embedding
// matrices' bytes and shapes:
//   "GCRA" | u32 version | u64 key | u64 D | f64 target_norm | f64 W_aᵀ[D*D]
//   | u64 FNV-1a of all preceding bytes
#include "gcache/latent.h"
#include "latent/realign_cache.h"
#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { RA_VERSION = 1 };

// Word-at-a-time FNV-style mix over a tensor's bytes (8x faster than bytewise).
static uint64_t hash_tensor(uint64_t h, const gc_tensor *t) {
    h = gc_fnv1a(h, t->shape, sizeof t->shape);
    h = gc_fnv1a(h, &t->dtype, sizeof t->dtype);
    const uint8_t *p = t->data;
    size_t n = t->nbytes, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return gc_fnv1a(h, p + i, n - i);
}

static uint64_t key_of(const gc_model *m) {
    uint64_t h = hash_tensor(GC_FNV_INIT, m->tok_embd);
    return m->lm_head == m->tok_embd ? h ^ 0x71edULL : hash_tensor(h, m->lm_head);
}

static char *path_of(const gc_model *m, const char *dir) {
    char name[64];
    snprintf(name, sizeof name, "realign-%016llx.bin", (unsigned long long)key_of(m));
    return gc_path_join(dir, name);
}

char *gc_realign_cache_dir(void) {
    const char *d = getenv("GC_CACHE_DIR");
    if (d && strcmp(d, "off") == 0) return NULL;
    if (d && *d) return strdup(d);
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && *x) return gc_path_join(x, "gcache");
    const char *home = getenv("HOME");
    if (home && *home) return gc_path_join(home, ".cache/gcache");
    return NULL;
}

gc_status gc_realign_cache_load(const gc_model *m, const char *dir, double **wa_t, double *target, int64_t D) {
    char *path = path_of(m, dir);
    if (!path) return gc_fail(GC_ERR_OOM, "out of memory");
    char *data;
    size_t len;
    gc_status s = gc_file_read_all(path, &data, &len);
    free(path);
    GC_TRY(s);
    size_t want = 4 + 4 + 8 + 8 + 8 + (size_t)(D * D) * 8 + 8;
    uint32_t ver;
    uint64_t key, d, h;
    if (len == want) {
        memcpy(&ver, data + 4, 4);
        memcpy(&key, data + 8, 8);
        memcpy(&d, data + 16, 8);
        memcpy(&h, data + len - 8, 8);
    }
    if (len != want || memcmp(data, "GCRA", 4) != 0 || ver != RA_VERSION || key != key_of(m) || d != (uint64_t)D ||
        gc_fnv1a(GC_FNV_INIT, data, len - 8) != h) {
        free(data);
        return gc_fail(GC_ERR_FORMAT, "realignment cache file is stale or corrupt");
    }
    double *w = malloc((size_t)(D * D) * sizeof(double));
    if (!w) { free(data); return gc_fail(GC_ERR_OOM, "out of memory"); }
    memcpy(target, data + 24, 8);
    memcpy(w, data + 32, (size_t)(D * D) * sizeof(double));
    free(data);
    *wa_t = w;
    return GC_OK;
}

// Best effort: a cache that cannot be written only costs a recomputation.
void gc_realign_cache_store(const gc_model *m, const char *dir, const double *wa_t, double target, int64_t D) {
    gc_mkdir_p(dir);   // failure shows up as a failed write below
    size_t len = 4 + 4 + 8 + 8 + 8 + (size_t)(D * D) * 8 + 8;
    uint8_t *b = malloc(len);
    char *path = path_of(m, dir);
    if (b && path) {
        uint32_t ver = RA_VERSION;
        uint64_t key = key_of(m), d = (uint64_t)D;
        memcpy(b, "GCRA", 4);
        memcpy(b + 4, &ver, 4);
        memcpy(b + 8, &key, 8);
        memcpy(b + 16, &d, 8);
        memcpy(b + 24, &target, 8);
        memcpy(b + 32, wa_t, (size_t)(D * D) * 8);
        uint64_t h = gc_fnv1a(GC_FNV_INIT, b, len - 8);
        memcpy(b + len - 8, &h, 8);
        if (gc_file_write_atomic(path, b, len) != GC_OK)
            fprintf(stderr, "gcache: warning: could not write realignment cache %s: %s\n", path, gc_last_error());
    }
    free(b);
    free(path);
}
