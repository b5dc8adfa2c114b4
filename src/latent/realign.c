// The LatentMAS realignment matrix, in float64.
//   G = W_outᵀW_out + 1e-5·I   (D×D, symmetric positive definite)
//   R = W_outᵀW_in             (D×D)
//   W_a = G⁻¹R via Cholesky (G = LLᵀ).
// W_in / W_out are (V, D) weights of any dtype, read one row block at a time.
#include "gcache/latent.h"
#include "model/model.h"
#include "latent/realign_cache.h"
#include "engine/engine.h"
#include "format/quant.h"
#include "core/error.h"
#include "core/threads.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gc_realign {
    int64_t D;
    bool identity;
    bool from_cache;
    double *wa_t;        // (D, D) W_a transposed: e_j = Σ_i h_i wa_t[j*D + i]
    double target_norm;
    uint64_t id;         // unique per handle: the key of the engine's device copy
};

enum { ROWS = 64 };   // rows dequantised per block

// Dequantises rows [r0, r0+n) of W into dst (n, D) double.
static void rows_f64(const gc_tensor *W, int64_t r0, int64_t n, double *dst, float *tmp) {
    int64_t D = W->shape[1];
    size_t rb = W->nbytes / (size_t)W->shape[0];
    for (int64_t r = 0; r < n; r++) {
        gc_dequant_row(W->dtype, (const uint8_t *)W->data + (size_t)(r0 + r) * rb, tmp, D);
        for (int64_t i = 0; i < D; i++) dst[r * D + i] = tmp[i];
    }
}

typedef struct atb_job {
    double *acc;
    const double *A, *B;
    int64_t n, D;
} atb_job;

// Rows [i0, i1) of acc += Aᵀ B.
static void atb_rows(void *ctx, int64_t i0, int64_t i1, int tid) {
    const atb_job *j = ctx;
    const int64_t D = j->D;
    for (int64_t i = i0; i < i1; i++) {
        double *row = j->acc + i * D;
        for (int64_t r = 0; r < j->n; r++) {
            double a = j->A[r * D + i];
            const double *b = j->B + r * D;
            for (int64_t c = 0; c < D; c++) row[c] += a * b[c];
        }
    }
}

// acc (D, D) += Aᵀ B for A, B (n, D).
static void acc_atb(gc_pool *tp, double *acc, const double *A, const double *B, int64_t n, int64_t D) {
    atb_job j = {acc, A, B, n, D};
    gc_pool_for(tp, D, 1, atb_rows, &j);
}

typedef struct chol_job {
    double *G;
    int64_t D, j;
    double ljj;
} chol_job;

// Column j of L below the diagonal: items [u0, u1) are rows j+1+u.
static void chol_rows_below(void *ctx, int64_t u0, int64_t u1, int tid) {
    const chol_job *c = ctx;
    double *G = c->G;
    const int64_t D = c->D, j = c->j;
    for (int64_t i = j + 1 + u0; i < j + 1 + u1; i++) {
        double x = G[i * D + j];
        for (int64_t k = 0; k < j; k++) x -= G[i * D + k] * G[j * D + k];
        G[i * D + j] = x / c->ljj;
    }
}

static gc_status compute(const gc_model *m, gc_realign *r, gc_pool *tp) {
    const gc_tensor *Win = m->tok_embd, *Wout = m->lm_head;
    const int64_t D = r->D, V = Win->shape[0];
    bool tied = Win == Wout;
    double *G = calloc((size_t)(D * D), sizeof(double));
    double *R = tied ? NULL : calloc((size_t)(D * D), sizeof(double));
    double *A = malloc((size_t)(ROWS * D) * sizeof(double));
    double *B = tied ? NULL : malloc((size_t)(ROWS * D) * sizeof(double));
    float *tmp = malloc((size_t)D * sizeof(float));
    gc_status s = GC_OK;
    if (!G || !A || !tmp || (!tied && (!R || !B))) { s = gc_fail(GC_ERR_OOM, "out of memory for realignment"); goto done; }
    for (int64_t r0 = 0; r0 < V; r0 += ROWS) {
        int64_t n = V - r0 < ROWS ? V - r0 : ROWS;
        rows_f64(Wout, r0, n, A, tmp);
        acc_atb(tp, G, A, A, n, D);
        if (!tied) {
            rows_f64(Win, r0, n, B, tmp);
            acc_atb(tp, R, A, B, n, D);
        }
    }
    if (tied) {   // R = W_outᵀW_in = G before regularisation
        R = malloc((size_t)(D * D) * sizeof(double));
        if (!R) { s = gc_fail(GC_ERR_OOM, "out of memory for realignment"); goto done; }
        memcpy(R, G, (size_t)(D * D) * sizeof(double));
    }
    for (int64_t i = 0; i < D; i++) G[i * D + i] += 1e-5;
    // In-place Cholesky: lower triangle of G becomes L.
    for (int64_t j = 0; j < D; j++) {
        double d = G[j * D + j];
        for (int64_t k = 0; k < j; k++) d -= G[j * D + k] * G[j * D + k];
        if (!(d > 0)) { s = gc_fail(GC_ERR_INTERNAL, "realignment: W_outᵀW_out + 1e-5·I is not positive definite"); goto done; }
        double ljj = sqrt(d);
        G[j * D + j] = ljj;
        chol_job cj = {G, D, j, ljj};
        gc_pool_for(D > 256 ? tp : NULL, D - j - 1, 8, chol_rows_below, &cj);
    }
    // Solve L Y = R (forward), then Lᵀ X = Y (backward), all D columns at once
    // by operating on whole rows of R.
    for (int64_t i = 0; i < D; i++) {
        double *ri = R + i * D;
        for (int64_t k = 0; k < i; k++) {
            double l = G[i * D + k];
            const double *rk = R + k * D;
            for (int64_t j = 0; j < D; j++) ri[j] -= l * rk[j];
        }
        double inv = 1.0 / G[i * D + i];
        for (int64_t j = 0; j < D; j++) ri[j] *= inv;
    }
    for (int64_t i = D - 1; i >= 0; i--) {
        double *ri = R + i * D;
        for (int64_t k = i + 1; k < D; k++) {
            double l = G[k * D + i];
            const double *rk = R + k * D;
            for (int64_t j = 0; j < D; j++) ri[j] -= l * rk[j];
        }
        double inv = 1.0 / G[i * D + i];
        for (int64_t j = 0; j < D; j++) ri[j] *= inv;
    }
    // Store transposed so that applying reads rows contiguously.
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < D; j++) G[j * D + i] = R[i * D + j];
    r->wa_t = G;
    G = NULL;
done:
    free(G); free(R); free(A); free(B); free(tmp);
    return s;
}

gc_status gc_realign_new(const gc_model *m, bool enabled, int n_threads, gc_realign **out) {
    char *dir = gc_realign_cache_dir();
    gc_status s = gc_realign_new_cached(m, enabled, dir, n_threads, out);
    free(dir);
    return s;
}

bool gc_realign_from_cache(const gc_realign *r) { return r->from_cache; }

gc_status gc_realign_new_cached(const gc_model *m, bool enabled, const char *cache_dir, int n_threads,
                                gc_realign **out) {
    *out = NULL;
    if (n_threads < 0 || n_threads > GC_POOL_MAX_THREADS)
        return gc_fail(GC_ERR_INVALID_ARG, "realignment: thread count %d outside [0, %d]", n_threads, GC_POOL_MAX_THREADS);
    gc_realign *r = calloc(1, sizeof *r);
    if (!r) return gc_fail(GC_ERR_OOM, "out of memory");
    static _Atomic uint64_t next_id = 1;
    r->id = next_id++;
    r->D = m->cfg.hidden_size;
    r->identity = !enabled;
    // target_norm: mean row norm of the input embedding, accumulated in f64.
    float *tmp = malloc((size_t)r->D * sizeof(float));
    if (!tmp) { free(r); return gc_fail(GC_ERR_OOM, "out of memory"); }
    const gc_tensor *W = m->tok_embd;
    size_t rb = W->nbytes / (size_t)W->shape[0];
    double total = 0;
    for (int64_t v = 0; v < W->shape[0]; v++) {
        gc_dequant_row(W->dtype, (const uint8_t *)W->data + (size_t)v * rb, tmp, r->D);
        double ss = 0;
        for (int64_t i = 0; i < r->D; i++) ss += (double)tmp[i] * tmp[i];
        total += sqrt(ss);
    }
    free(tmp);
    r->target_norm = total / (double)W->shape[0];
    if (enabled) {
        double cached_target;
        if (cache_dir && gc_realign_cache_load(m, cache_dir, &r->wa_t, &cached_target, r->D) == GC_OK) {
            r->from_cache = true;
        } else {
            gc_pool *tp;
            gc_status s = gc_pool_new(n_threads, &tp);
            if (s == GC_OK) s = compute(m, r, tp);
            gc_pool_free(tp);
            if (s != GC_OK) { gc_realign_free(r); return s; }
            if (cache_dir) gc_realign_cache_store(m, cache_dir, r->wa_t, r->target_norm, r->D);
        }
    }
    *out = r;
    return GC_OK;
}

void gc_realign_free(gc_realign *r) {
    if (!r) return;
    free(r->wa_t);
    free(r);
}

double gc_realign_target_norm(const gc_realign *r) { return r->target_norm; }

void gc_realign_apply(const gc_realign *r, const float *h, float *e) {
    gc_realign_row(r->identity ? NULL : r->wa_t, r->D, r->target_norm, h, e);
}

gc_status gc_realign_rows(const gc_realign *r, const gc_rows *src, int64_t src_first, int64_t n, gc_rows *dst,
                          int64_t dst_first) {
    if (!r || !src || !dst) return gc_fail(GC_ERR_INVALID_ARG, "realign: map and row buffers needed");
    if (src->e != dst->e) return gc_fail(GC_ERR_INVALID_ARG, "realign: row buffers of two engines");
    if (src->D != r->D)
        return gc_fail(GC_ERR_INVALID_ARG, "realign: rows of %lld floats, map of %lld", (long long)src->D, (long long)r->D);
    if (n < 0 || src_first < 0 || dst_first < 0 || src_first > src->n - n || dst_first > dst->n - n)
        return gc_fail(GC_ERR_RANGE, "realign: rows [%lld, +%lld) -> [%lld, +%lld) outside buffers of %lld and %lld rows",
                       (long long)src_first, (long long)n, (long long)dst_first, (long long)n, (long long)src->n,
                       (long long)dst->n);
    if (src == dst && src_first != dst_first && llabs(src_first - dst_first) < n)
        return gc_fail(GC_ERR_INVALID_ARG, "realign: source and destination rows overlap (only in place is allowed)");
    if (n == 0) return GC_OK;
    const gc_engine *e = src->e;
    return e->be->realign_rows(e->be_state, r->id, r->identity ? NULL : r->wa_t, r->D, r->target_norm,
                               src->data + src_first * r->D, n, dst->data + dst_first * r->D);
}

gc_status gc_realign_apply_rows(const gc_realign *r, gc_engine *e, const float *h, int64_t n, float *out) {
    if (n < 0) return gc_fail(GC_ERR_INVALID_ARG, "realign: %lld rows", (long long)n);
    if (!e) {
        for (int64_t i = 0; i < n; i++) gc_realign_apply(r, h + i * r->D, out + i * r->D);
        return GC_OK;
    }
    if (n == 0) return GC_OK;
    // Through the engine's scratch rows: up, realigned in place on the backend, back.
    gc_rows *tmp;
    GC_TRY(gc_engine_scratch_rows(e, n, &tmp));
    GC_TRY(gc_rows_set(tmp, 0, n, h));
    GC_TRY(gc_realign_rows(r, tmp, 0, n, tmp, 0));
    return gc_rows_get(tmp, 0, n, out);
}
