// Rows held by the engine's backend (gcache/engine.h: gc_rows): buffers of
// hidden_size floats that steps read as input embeddings and write as hidden
// states, and that the realignment maps to rows, all in the backend's memory.
#include "engine/engine.h"
#include "core/error.h"
#include <stdlib.h>

gc_status gc_rows_new(gc_engine *e, int64_t n, gc_rows **out) {
    *out = NULL;
    if (!e) return gc_fail(GC_ERR_INVALID_ARG, "rows: no engine");
    const int64_t D = e->m->cfg.hidden_size;
    if (n < 1 || n > INT32_MAX / 2) return gc_fail(GC_ERR_INVALID_ARG, "rows: %lld rows (at least 1)", (long long)n);
    gc_rows *r = calloc(1, sizeof *r);
    if (!r) return gc_fail(GC_ERR_OOM, "out of memory");
    *r = (gc_rows){.e = e, .n = n, .D = D};
    gc_status s = e->be->rows_new(e->be_state, (size_t)n * (size_t)D, &r->data);
    if (s != GC_OK) {
        free(r);
        return s;
    }
    *out = r;
    return GC_OK;
}

void gc_rows_free(gc_rows *r) {
    if (!r) return;
    r->e->be->rows_free(r->e->be_state, r->data);
    free(r);
}

int64_t gc_rows_count(const gc_rows *r) { return r ? r->n : 0; }

static gc_status check_range(const gc_rows *r, int64_t first, int64_t n) {
    if (!r) return gc_fail(GC_ERR_INVALID_ARG, "rows: no buffer");
    if (n < 0 || first < 0 || first > r->n - n)
        return gc_fail(GC_ERR_RANGE, "rows [%lld, %lld) outside a buffer of %lld", (long long)first,
                       (long long)(first + n), (long long)r->n);
    return GC_OK;
}

gc_status gc_rows_get(const gc_rows *r, int64_t first, int64_t n, float *dst) {
    GC_TRY(check_range(r, first, n));
    if (n == 0) return GC_OK;
    return r->e->be->rows_get(r->e->be_state, r->data + first * r->D, (size_t)(n * r->D), dst);
}

gc_status gc_rows_set(gc_rows *r, int64_t first, int64_t n, const float *src) {
    GC_TRY(check_range(r, first, n));
    if (n == 0) return GC_OK;
    return r->e->be->rows_set(r->e->be_state, r->data + first * r->D, src, (size_t)(n * r->D));
}

gc_status gc_engine_scratch_rows(gc_engine *e, int64_t n, gc_rows **out) {
    if (!e->scratch || e->scratch->n < n) {
        gc_rows_free(e->scratch);
        e->scratch = NULL;
        GC_TRY(gc_rows_new(e, n, &e->scratch));
    }
    *out = e->scratch;
    return GC_OK;
}
