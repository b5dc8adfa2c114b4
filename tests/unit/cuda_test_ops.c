// Single kernels on host arrays, for tests/unit/test_cuda.c (declared in
// cuda_test_ops.h; linked into test_cuda only). Outputs are poisoned with
// NaN (all bits set) before each run, so an element a kernel fails to write
// shows up. Without CUDA (the #else half) every call says so.
#include "cuda_test_ops.h"
#ifdef GC_HAVE_CUDA
#include "backend/cuda/cuda_internal.h"
#include "gcache/sampler.h"
#include "format/quant.h"
#include "backend/kv_q8.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tctx {
    cudaStream_t s;
    cublasHandle_t h;
    void *ptrs[32];
    int n;
} tctx;

static gc_status t_open(tctx *t) {
    memset(t, 0, sizeof *t);
    if (gc_cuda_device_count() < 1) return gc_fail(GC_ERR_UNSUPPORTED, "CUDA: no device");
    CU_TRY(cudaStreamCreate(&t->s));
    CUBLAS_TRY(cublasCreate(&t->h));
    CUBLAS_TRY(cublasSetStream(t->h, t->s));
    return GC_OK;
}

static void t_close(tctx *t) {
    if (t->s) cudaStreamSynchronize(t->s);
    for (int i = 0; i < t->n; i++) cudaFree(t->ptrs[i]);
    if (t->h) cublasDestroy(t->h);
    if (t->s) cudaStreamDestroy(t->s);
}

// Device buffer of `bytes`, filled with 0xFF (NaN as f32 and bf16), or with src.
static gc_status t_buf(tctx *t, void **d, size_t bytes, const void *src) {
    *d = NULL;
    if (t->n == 32) return gc_fail(GC_ERR_INTERNAL, "test context full");
    GC_TRY(gc_cu_malloc(d, bytes ? bytes : 16, "test buffer"));
    t->ptrs[t->n++] = *d;
    if (src) CU_TRY(cudaMemcpy(*d, src, bytes, cudaMemcpyHostToDevice));
    else CU_TRY(cudaMemset(*d, 0xFF, bytes ? bytes : 16));
    return GC_OK;
}

static gc_status t_bf16(tctx *t, void **d, const float *src, size_t n) {
    bf16_t *h = malloc(n * 2 + 2);
    if (!h) return gc_fail(GC_ERR_OOM, "out of memory");
    for (size_t i = 0; i < n; i++) h[i] = gc_f32_to_bf16(src[i]);
    gc_status s = t_buf(t, d, n * 2, h);
    free(h);
    return s;
}

static gc_status t_get_bf16(float *dst, const void *d, size_t n) {
    bf16_t *h = malloc(n * 2 + 2);
    if (!h) return gc_fail(GC_ERR_OOM, "out of memory");
    cudaError_t e = cudaMemcpy(h, d, n * 2, cudaMemcpyDeviceToHost);
    for (size_t i = 0; e == cudaSuccess && i < n; i++) dst[i] = gc_bf16_to_f32(h[i]);
    free(h);
    if (e != cudaSuccess) return gc_cu_fail(e, "cudaMemcpy");
    return GC_OK;
}

static gc_status t_sync(tctx *t, cudaError_t launch) {
    if (launch != cudaSuccess) return gc_cu_fail(launch, "kernel launch");
    CU_TRY(cudaStreamSynchronize(t->s));
    CU_TRY(cudaGetLastError());
    return GC_OK;
}

#define T_RUN(expr) do { gc_status s_ = (expr); if (s_ != GC_OK) { t_close(&t); return s_; } } while (0)

gc_status gc_cuda_test_rmsnorm(float *out, const float *x, const float *w, int64_t T, int64_t D, double eps) {
    tctx t;
    void *dx, *dw, *dout;
    T_RUN(t_open(&t));
    T_RUN(t_buf(&t, &dx, (size_t)(T * D) * 4, x));
    T_RUN(t_buf(&t, &dw, (size_t)D * 4, w));
    T_RUN(t_buf(&t, &dout, (size_t)(T * D) * 2, NULL));
    T_RUN(t_sync(&t, gck_rmsnorm(t.s, dout, NULL, dx, dw, NULL, (int)T, (int)D, (float)eps)));
    T_RUN(t_get_bf16(out, dout, (size_t)(T * D)));
    t_close(&t);
    return GC_OK;
}

// skinny_variant -1: cuBLAS; >= 0: gck_skinny; invariant: gck_skinny_invariant with CU_BI_SKINNY_VARIANT.
static gc_status matmul_run(float *y, const float *x, int64_t T, const gc_tensor *W, bool accumulate,
                            int skinny_variant, bool invariant) {
    const int64_t N = W->shape[0], K = W->shape[1];
    tctx t;
    void *dx, *dw, *dy;
    T_RUN(t_open(&t));
    T_RUN(t_bf16(&t, &dx, x, (size_t)(T * K)));
    T_RUN(t_buf(&t, &dw, (size_t)(N * K) * 2, NULL));
    T_RUN(gc_cu_upload_matrix(t.s, dw, W, N, K, "test weight"));
    T_RUN(t_buf(&t, &dy, (size_t)(T * N) * 4, accumulate ? y : NULL));
    if (invariant) {
        T_RUN(t_sync(&t, gck_skinny_invariant(t.s, dy, dx, dw, (int)T, (int)N, (int)K, accumulate,
                                              CU_BI_SKINNY_VARIANT)));
    } else if (skinny_variant >= 0) {
        T_RUN(t_sync(&t, gck_skinny(t.s, dy, dx, dw, (int)T, (int)N, (int)K, accumulate, skinny_variant)));
    } else {
        T_RUN(gc_cu_gemm(t.h, dy, dx, T, dw, N, K, accumulate));
        T_RUN(t_sync(&t, cudaSuccess));
    }
    cudaError_t e = cudaMemcpy(y, dy, (size_t)(T * N) * 4, cudaMemcpyDeviceToHost);
    t_close(&t);
    if (e != cudaSuccess) return gc_cu_fail(e, "cudaMemcpy");
    return GC_OK;
}

gc_status gc_cuda_test_matmul(float *y, const float *x, int64_t T, const gc_tensor *W, bool accumulate,
                              int skinny_variant) {
    return matmul_run(y, x, T, W, accumulate, skinny_variant, false);
}

gc_status gc_cuda_test_matmul_invariant(float *y, const float *x, int64_t T, const gc_tensor *W) {
    return matmul_run(y, x, T, W, false, -1, true);
}

gc_status gc_cuda_test_swiglu(float *out, const float *gu, int64_t T, int64_t F) {
    tctx t;
    void *dg, *dout;
    T_RUN(t_open(&t));
    T_RUN(t_buf(&t, &dg, (size_t)(T * 2 * F) * 4, gu));
    T_RUN(t_buf(&t, &dout, (size_t)(T * F) * 2, NULL));
    T_RUN(t_sync(&t, gck_swiglu(t.s, dout, dg, (int)T, (int)F)));
    T_RUN(t_get_bf16(out, dout, (size_t)(T * F)));
    t_close(&t);
    return GC_OK;
}

gc_status gc_cuda_test_qkv(float *q, float *k, float *v, const float *qkv, const float *bias, const float *q_norm,
                           const float *k_norm, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H,
                           int64_t KV, int64_t hd, double eps, bool neox, bool kv_q8) {
    const int64_t W3 = (H + 2 * KV) * hd, row = KV * hd, half = hd / 2;
    const int64_t nb = (T + 15) / 16, blk = 2 * 16 * row;   // one layer per fake block
    // Bytes of a block: bf16, or q8 (int8 values, then the row scales from byte blk on).
    const int64_t bbytes = kv_q8 ? ((blk + blk / hd * 4) + 255) & ~(int64_t)255 : blk * 2;
    tctx t;
    void *dqkv, *db = NULL, *dqn = NULL, *dkn = NULL, *dpos, *dinv, *dcos, *dsin, *dq, *dblocks, *dbase, *didx;
    uint64_t *base = malloc((size_t)T * 8);
    int32_t *idx = malloc((size_t)T * 4);
    unsigned char *hb = malloc((size_t)(nb * bbytes));
    if (!base || !idx || !hb) { free(base); free(idx); free(hb); return gc_fail(GC_ERR_OOM, "out of memory"); }
    gc_status s = t_open(&t);
    if (s == GC_OK) s = t_buf(&t, &dqkv, (size_t)(T * W3) * 4, qkv);
    if (s == GC_OK && bias) s = t_buf(&t, &db, (size_t)W3 * 4, bias);
    if (s == GC_OK && q_norm) s = t_buf(&t, &dqn, (size_t)hd * 4, q_norm);
    if (s == GC_OK && k_norm) s = t_buf(&t, &dkn, (size_t)hd * 4, k_norm);
    if (s == GC_OK) s = t_buf(&t, &dpos, (size_t)T * 4, pos);
    if (s == GC_OK) s = t_buf(&t, &dinv, (size_t)half * 4, inv_freq);
    if (s == GC_OK) s = t_buf(&t, &dcos, (size_t)(T * half) * 4, NULL);
    if (s == GC_OK) s = t_buf(&t, &dsin, (size_t)(T * half) * 4, NULL);
    if (s == GC_OK) s = t_buf(&t, &dq, (size_t)(T * H * hd) * 2, NULL);
    if (s == GC_OK) s = t_buf(&t, &dblocks, (size_t)(nb * bbytes), NULL);
    if (s == GC_OK) {
        for (int64_t r = 0; r < T; r++) {
            base[r] = (uint64_t)(uintptr_t)((unsigned char *)dblocks + (r / 16) * bbytes);
            idx[r] = (int32_t)(r % 16);
        }
        s = t_buf(&t, &dbase, (size_t)T * 8, base);
    }
    if (s == GC_OK) s = t_buf(&t, &didx, (size_t)T * 4, idx);
    if (s == GC_OK) s = t_sync(&t, gck_rope_table(t.s, dcos, dsin, dpos, dinv, (int)T, (int)half));
    if (s == GC_OK)
        s = t_sync(&t, gck_qkv_post(t.s, dqkv, db, dqn, dkn, dcos, dsin, dq, dbase, didx, 0, (int)T, (int)H, (int)KV,
                                    (int)hd, (float)eps, neox, kv_q8 ? (size_t)blk : 0));
    if (s == GC_OK) s = t_get_bf16(q, dq, (size_t)(T * H * hd));
    if (s == GC_OK) {
        cudaError_t e = cudaMemcpy(hb, dblocks, (size_t)(nb * bbytes), cudaMemcpyDeviceToHost);
        if (e != cudaSuccess) s = gc_cu_fail(e, "cudaMemcpy");
        for (int64_t r = 0; s == GC_OK && r < T; r++) {
            const unsigned char *b = hb + (r / 16) * bbytes;
            const int64_t kr = (r % 16) * row, vr = 16 * row + (r % 16) * row;   // elements of the K / V row
            if (kv_q8) {   // dequantized: q · the row's scale
                float sk, sv;
                for (int64_t h = 0; h < KV; h++) {
                    memcpy(&sk, b + blk + (size_t)(kr / hd + h) * 4, 4);
                    memcpy(&sv, b + blk + (size_t)(vr / hd + h) * 4, 4);
                    for (int64_t j = 0; j < hd; j++) {
                        k[r * row + h * hd + j] = (float)((const int8_t *)b)[kr + h * hd + j] * sk;
                        v[r * row + h * hd + j] = (float)((const int8_t *)b)[vr + h * hd + j] * sv;
                    }
                }
                continue;
            }
            for (int64_t j = 0; j < row; j++) {
                k[r * row + j] = gc_bf16_to_f32(((const bf16_t *)b)[kr + j]);
                v[r * row + j] = gc_bf16_to_f32(((const bf16_t *)b)[vr + j]);
            }
        }
    }
    t_close(&t);
    free(base); free(idx); free(hb);
    return s;
}

gc_status gc_cuda_test_attention(float *out, const float *q, const float *k, const float *v, int64_t n_q,
                                 int64_t ctx_first, const int64_t *seg_n, const float *seg_ks, const float *seg_vs,
                                 const uint8_t *seg_hidden, int n_segs, int64_t H, int64_t KV, int64_t hd,
                                 int max_split, int tile_m, bool kv_q8) {
    const int64_t row = KV * hd, blk = 2 * 16 * row, G = H / KV;
    // Bytes of one block (one layer): bf16, or q8 (int8 values, then the row
    // scales from byte blk on), rounded as the backend's blocks are.
    const int64_t bbytes = kv_q8 ? ((blk + blk / hd * 4) + 255) & ~(int64_t)255 : blk * 2;
    int64_t n_ctx = 0, nb = 0;
    for (int i = 0; i < n_segs; i++) { n_ctx += seg_n[i]; nb += (seg_n[i] + 15) / 16; }
    if (n_ctx != ctx_first + n_q) return gc_fail(GC_ERR_INVALID_ARG, "attention test: segments must cover the context");
    if (tile_m != 1 && tile_m != 16 && tile_m != 64) return gc_fail(GC_ERR_INVALID_ARG, "tile_m is 1, 16 or 64");
    const int kern = tile_m;   // 1: the decode kernel, on items built as for tile 16
    if (tile_m == 1) {
        if (n_q != 1) return gc_fail(GC_ERR_INVALID_ARG, "the decode kernel takes one query position");
        tile_m = 16;
    }
    if (n_q * G > 16 && tile_m == 16) tile_m = 64;
    unsigned char *hb = calloc((size_t)(nb * bbytes), 1);
    gck_span *spans = calloc((size_t)nb, sizeof *spans);
    gck_mod *mods = calloc((size_t)nb, sizeof *mods);
    if (max_split > GCK_MAX_SPLIT) max_split = GCK_MAX_SPLIT;
    const int64_t qt = tile_m / G, cap_items = KV * ((n_q + qt - 1) / qt) * (max_split > 0 ? max_split : 1);
    gck_item *items = calloc((size_t)cap_items, sizeof *items);
    gck_group *groups = calloc((size_t)cap_items, sizeof *groups);
    if (!hb || !spans || !mods || !items || !groups) {
        free(hb); free(spans); free(mods); free(items); free(groups);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    tctx t;
    void *dq, *dblocks, *dout, *dspans, *dmods, *ditems, *dgroups, *dseq, *dn, *dpo, *dpml, *dcnt;
    gc_status s = t_open(&t);
    if (s == GC_OK) s = t_bf16(&t, &dq, q, (size_t)(n_q * H * hd));
    if (s == GC_OK) s = t_buf(&t, &dblocks, (size_t)(nb * bbytes), NULL);
    // Segment i fills its own blocks; each block is one span with the segment's modifiers.
    int64_t p = 0, b = 0, n_sp = 0;
    for (int i = 0; s == GC_OK && i < n_segs; i++) {
        for (int64_t o = 0; o < seg_n[i]; o += 16, b++) {
            const int64_t n = seg_n[i] - o < 16 ? seg_n[i] - o : 16;
            unsigned char *hbb = hb + b * bbytes;
            for (int64_t j = 0; j < n; j++) {
                const float *kr = k + (p + o + j) * row, *vr = v + (p + o + j) * row;
                if (kv_q8) {   // position j's K row at element j·row, its V row at (16 + j)·row
                    float *sc = (float *)(hbb + blk);
                    gc_kv_q8_quantize(kr, KV, hd, (int8_t *)hbb + j * row, sc + j * KV);
                    gc_kv_q8_quantize(vr, KV, hd, (int8_t *)hbb + (16 + j) * row, sc + (16 + j) * KV);
                    continue;
                }
                for (int64_t e = 0; e < row; e++) {
                    ((bf16_t *)hbb)[j * row + e] = gc_f32_to_bf16(kr[e]);
                    ((bf16_t *)hbb)[16 * row + j * row + e] = gc_f32_to_bf16(vr[e]);
                }
            }
            mods[n_sp] = (gck_mod){.k_scale = seg_ks[i], .v_scale = seg_vs[i], .hidden = seg_hidden[i]};
            spans[n_sp] = (gck_span){.base = (uint64_t)(uintptr_t)((unsigned char *)dblocks + b * bbytes), .off = 0,
                                     .start = (int32_t)(p + o), .n = (int32_t)n, .mod = (int32_t)n_sp};
            n_sp++;
        }
        p += seg_n[i];
    }
    int64_t n_items = 0, n_groups = 0, n_parts = 0, it = 0, gr = 0, part = 0;
    const int64_t want = max_split > 0 ? max_split : 1;
    gc_cu_count_items(n_q, ctx_first, qt, KV, want, 0, &n_items, &n_groups, &n_parts);
    gc_cu_build_items(spans, 0, n_sp, 0, n_q, ctx_first, qt, KV, want, 0, items, &it, groups, &gr, &part);
    gck_seq seq = {.row0 = 0, .n = (int32_t)n_q, .ctx_first = (int32_t)ctx_first, .span0 = 0, .n_spans = (int32_t)n_sp};
    int32_t n_items32 = (int32_t)it;
    if (s == GC_OK && (it != n_items || gr != n_groups || part != n_parts))
        s = gc_fail(GC_ERR_INTERNAL, "attention test: item count mismatch");
    if (s == GC_OK) s = t_buf(&t, &dout, (size_t)(n_q * H * hd) * 2, NULL);
    if (s == GC_OK) { cudaError_t e = cudaMemcpy(dblocks, hb, (size_t)(nb * bbytes), cudaMemcpyHostToDevice); if (e) s = gc_cu_fail(e, "cudaMemcpy"); }
    if (s == GC_OK) s = t_buf(&t, &dspans, (size_t)n_sp * sizeof *spans, spans);
    if (s == GC_OK) s = t_buf(&t, &dmods, (size_t)n_sp * sizeof *mods, mods);
    if (s == GC_OK) s = t_buf(&t, &ditems, (size_t)it * sizeof *items, items);
    if (s == GC_OK) s = t_buf(&t, &dgroups, (size_t)(gr ? gr : 1) * sizeof *groups, groups);
    if (s == GC_OK) s = t_buf(&t, &dseq, sizeof seq, &seq);
    if (s == GC_OK) s = t_buf(&t, &dn, 4, &n_items32);
    if (s == GC_OK) s = t_buf(&t, &dpo, (size_t)((part ? part : 1) * tile_m * hd) * 4, NULL);
    if (s == GC_OK) s = t_buf(&t, &dpml, (size_t)((part ? part : 1) * tile_m * 2) * 4, NULL);
    if (s == GC_OK) s = t_buf(&t, &dcnt, (size_t)(gr ? gr : 1) * 4, NULL);
    if (s == GC_OK) { cudaError_t e = cudaMemset(dcnt, 0, (size_t)(gr ? gr : 1) * 4); if (e) s = gc_cu_fail(e, "cudaMemset"); }
    if (s == GC_OK) {
        gck_attn_args a = {.out = dout, .part_o = dpo, .part_ml = dpml, .counters = dcnt, .q = dq, .items = ditems,
                           .n_items = dn, .groups = dgroups, .seqs = dseq, .spans = dspans, .mods = dmods,
                           .layer = 0, .n_layers = 1, .H = (int)H, .KV = (int)KV, .hd = (int)hd,
                           .scale = (float)(1.0 / sqrt((double)hd)), .kv_q8 = kv_q8};
        // Two extra blocks past n_items check that surplus blocks (as in graphs) exit.
        s = t_sync(&t, gck_attention(t.s, kern, &a, (int)it + 2));
    }
    if (s == GC_OK) s = t_get_bf16(out, dout, (size_t)(n_q * H * hd));
    // The counters must be back at zero for the next step.
    if (s == GC_OK && gr) {
        int32_t *cnt = malloc((size_t)gr * 4);
        if (cnt && cudaMemcpy(cnt, dcnt, (size_t)gr * 4, cudaMemcpyDeviceToHost) == cudaSuccess)
            for (int64_t i = 0; i < gr; i++)
                if (cnt[i]) s = gc_fail(GC_ERR_INTERNAL, "attention: split counter %lld left at %d", (long long)i, cnt[i]);
        free(cnt);
    }
    t_close(&t);
    free(hb); free(spans); free(mods); free(items); free(groups);
    return s;
}

gc_status gc_cuda_test_argmax(int32_t *out, const float *x, int64_t n, int64_t V) {
    tctx t;
    void *dx, *dout;
    T_RUN(t_open(&t));
    T_RUN(t_buf(&t, &dx, (size_t)(n * V) * 4, x));
    T_RUN(t_buf(&t, &dout, (size_t)n * 4, NULL));
    T_RUN(t_sync(&t, gck_argmax(t.s, dout, dx, (int)n, (int)V)));
    cudaError_t e = cudaMemcpy(out, dout, (size_t)n * 4, cudaMemcpyDeviceToHost);
    t_close(&t);
    if (e != cudaSuccess) return gc_cu_fail(e, "cudaMemcpy");
    return GC_OK;
}

gc_status gc_cuda_test_sample(int32_t *out, const float *x, const gc_token_draw *draws, int64_t n, int64_t V) {
    tctx t;
    void *dx, *dd, *dout;
    gck_draw *hd = malloc((size_t)n * sizeof *hd);
    if (!hd) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        hd[i] = (gck_draw){.temperature = draws[i].temperature, .top_p = draws[i].top_p, .top_k = draws[i].top_k,
                           .u = draws[i].u};
    gc_status st = t_open(&t);
    if (st == GC_OK) st = t_buf(&t, &dx, (size_t)(n * V) * 4, x);
    if (st == GC_OK) st = t_buf(&t, &dd, (size_t)n * sizeof *hd, hd);
    if (st == GC_OK) st = t_buf(&t, &dout, (size_t)n * 4, NULL);
    free(hd);
    if (st != GC_OK) { t_close(&t); return st; }
    T_RUN(t_sync(&t, gck_sample(t.s, dout, dx, dd, (int)n, (int)V)));
    cudaError_t e = cudaMemcpy(out, dout, (size_t)n * 4, cudaMemcpyDeviceToHost);
    t_close(&t);
    if (e != cudaSuccess) return gc_cu_fail(e, "cudaMemcpy");
    return GC_OK;
}

int gc_cuda_skinny_variants(void) { return GCK_SKINNY_NVARIANTS; }

#else
#include "core/error.h"

#define NO_CUDA gc_fail(GC_ERR_UNSUPPORTED, "this gcache was built without CUDA")

gc_status gc_cuda_test_rmsnorm(float *out, const float *x, const float *w, int64_t T, int64_t D, double eps) {
    (void)out; (void)x; (void)w; (void)T; (void)D; (void)eps;
    return NO_CUDA;
}
gc_status gc_cuda_test_matmul(float *y, const float *x, int64_t T, const gc_tensor *W, bool accumulate,
                              int skinny_variant) {
    (void)y; (void)x; (void)T; (void)W; (void)accumulate; (void)skinny_variant;
    return NO_CUDA;
}
gc_status gc_cuda_test_matmul_invariant(float *y, const float *x, int64_t T, const gc_tensor *W) {
    (void)y; (void)x; (void)T; (void)W;
    return NO_CUDA;
}
gc_status gc_cuda_test_swiglu(float *out, const float *gu, int64_t T, int64_t F) {
    (void)out; (void)gu; (void)T; (void)F;
    return NO_CUDA;
}
gc_status gc_cuda_test_qkv(float *q, float *k, float *v, const float *qkv, const float *bias, const float *q_norm,
                           const float *k_norm, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H,
                           int64_t KV, int64_t hd, double eps, bool neox, bool kv_q8) {
    (void)q; (void)k; (void)v; (void)qkv; (void)bias; (void)q_norm; (void)k_norm; (void)pos; (void)inv_freq;
    (void)T; (void)H; (void)KV; (void)hd; (void)eps; (void)neox; (void)kv_q8;
    return NO_CUDA;
}
gc_status gc_cuda_test_attention(float *out, const float *q, const float *k, const float *v, int64_t n_q,
                                 int64_t ctx_first, const int64_t *seg_n, const float *seg_ks, const float *seg_vs,
                                 const uint8_t *seg_hidden, int n_segs, int64_t H, int64_t KV, int64_t hd,
                                 int max_split, int tile_m, bool kv_q8) {
    (void)out; (void)q; (void)k; (void)v; (void)n_q; (void)ctx_first; (void)seg_n; (void)seg_ks; (void)seg_vs;
    (void)seg_hidden; (void)n_segs; (void)H; (void)KV; (void)hd; (void)max_split; (void)tile_m; (void)kv_q8;
    return NO_CUDA;
}
gc_status gc_cuda_test_argmax(int32_t *out, const float *x, int64_t n, int64_t V) {
    (void)out; (void)x; (void)n; (void)V;
    return NO_CUDA;
}
gc_status gc_cuda_test_sample(int32_t *out, const float *x, const struct gc_token_draw *draws, int64_t n, int64_t V) {
    (void)out; (void)x; (void)draws; (void)n; (void)V;
    return NO_CUDA;
}
int gc_cuda_skinny_variants(void) { return 0; }
#endif
