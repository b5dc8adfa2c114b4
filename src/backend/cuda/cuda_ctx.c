// CUDA backend: device context, weight upload, KV block storage, row buffers, realignment.
#ifdef GC_HAVE_CUDA
#include "backend/cuda/cuda_internal.h"
#include "format/quant.h"
#include "backend/kv_q8.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gc_status gc_cu_fail(cudaError_t e, const char *what) {
    gc_status s = e == cudaErrorMemoryAllocation ? GC_ERR_OOM : GC_ERR_DEVICE;
    cudaGetLastError();   // clear a sticky-free error so later calls can report their own
    return gc_fail(s, "CUDA: %s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

gc_status gc_cublas_fail(cublasStatus_t e, const char *what) {
    gc_status s = e == CUBLAS_STATUS_ALLOC_FAILED ? GC_ERR_OOM : GC_ERR_DEVICE;
    return gc_fail(s, "cuBLAS: %s failed: %s", what, cublasGetStatusString(e));
}

gc_status gc_cu_malloc(void **p, size_t bytes, const char *what) {
    *p = NULL;
    if (!bytes) return GC_OK;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return gc_fail(e == cudaErrorMemoryAllocation ? GC_ERR_OOM : GC_ERR_DEVICE,
                       "CUDA: out of device memory allocating %s (%.1f MiB; %.1f of %.1f MiB free): %s", what,
                       (double)bytes / 1048576.0, (double)fr / 1048576.0, (double)tot / 1048576.0,
                       cudaGetErrorString(e));
    }
    return GC_OK;
}

int gc_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

bool gc_engine_cuda_available(void) { return gc_cuda_device_count() > 0; }

// ---- weights ----

enum { STAGE_BYTES = 32 << 20 };

gc_status gc_cu_upload_matrix(cudaStream_t s, bf16_t *dst, const gc_tensor *W, int64_t N, int64_t K, const char *name) {
    if (W->ndim != 2 || W->shape[0] != N || W->shape[1] != K)
        return gc_fail(GC_ERR_FORMAT, "CUDA upload: tensor %s has shape (%lld, %lld), expected (%lld, %lld)", name,
                       (long long)W->shape[0], (long long)(W->ndim > 1 ? W->shape[1] : 0), (long long)N, (long long)K);
    const size_t src_row = W->nbytes / (size_t)N;
    if (W->dtype == GC_DT_BF16) {
        CU_TRY(cudaMemcpyAsync(dst, W->data, (size_t)(N * K) * 2, cudaMemcpyHostToDevice, s));
        CU_TRY(cudaStreamSynchronize(s));
        return GC_OK;
    }
    int64_t rows = STAGE_BYTES / (K * 2);
    if (rows < 1) rows = 1;
    if (rows > N) rows = N;
    bf16_t *stage = NULL;
    float *tmp = malloc((size_t)K * sizeof(float));
    cudaError_t e = cudaMallocHost((void **)&stage, (size_t)(rows * K) * 2);
    if (e != cudaSuccess || !tmp) {
        free(tmp);
        if (e == cudaSuccess) cudaFreeHost(stage);
        else cudaGetLastError();
        return gc_fail(GC_ERR_OOM, "out of host memory staging %s for upload", name);
    }
    gc_status st = GC_OK;
    for (int64_t r0 = 0; r0 < N && st == GC_OK; r0 += rows) {
        int64_t n = N - r0 < rows ? N - r0 : rows;
        for (int64_t r = 0; r < n; r++) {
            gc_dequant_row(W->dtype, (const uint8_t *)W->data + (size_t)(r0 + r) * src_row, tmp, K);
            for (int64_t k = 0; k < K; k++) stage[r * K + k] = gc_f32_to_bf16(tmp[k]);
        }
        e = cudaMemcpyAsync(dst + r0 * K, stage, (size_t)(n * K) * 2, cudaMemcpyHostToDevice, s);
        if (e == cudaSuccess) e = cudaStreamSynchronize(s);
        if (e != cudaSuccess) st = gc_cu_fail(e, "weight upload");
    }
    cudaFreeHost(stage);
    free(tmp);
    return st;
}

static gc_status upload_f32(cudaStream_t s, float **dst, const float *src, int64_t n, const char *what) {
    *dst = NULL;
    if (!src) return GC_OK;
    GC_TRY(gc_cu_malloc((void **)dst, (size_t)n * sizeof(float), what));
    CU_TRY(cudaMemcpyAsync(*dst, src, (size_t)n * sizeof(float), cudaMemcpyHostToDevice, s));
    return GC_OK;
}

gc_status gc_cu_gemm(cublasHandle_t h, float *y, const bf16_t *x, int64_t T, const bf16_t *W, int64_t N, int64_t K,
                     bool accumulate) {
    // Column-major view: yᵀ (N, T) = W (K, N)ᵀ · xᵀ (K, T).
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    CUBLAS_TRY(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)T, (int)K, &alpha, W, CUDA_R_16BF, (int)K, x,
                            CUDA_R_16BF, (int)K, &beta, y, CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return GC_OK;
}

static void free_layers(gc_cuda_ctx *c) {
    if (!c->layers) return;
    for (int64_t l = 0; l < c->L; l++) {
        cu_layer *y = &c->layers[l];
        cudaFree(y->wqkv); cudaFree(y->wo); cudaFree(y->wgu); cudaFree(y->wdown);
        cudaFree(y->attn_norm); cudaFree(y->ffn_norm); cudaFree(y->q_norm); cudaFree(y->k_norm); cudaFree(y->bqkv);
    }
    free(c->layers);
    c->layers = NULL;
}

static const char *const PROF_NAMES[CU_PROF_KINDS] = {
    "embed+rope", "rmsnorm", "qkv gemm", "qkv epilogue", "attention", "o gemm", "gate/up gemm",
    "swiglu", "down gemm", "final norm", "logits gemm", "argmax", "output copies"};

void gc_cu_prof_record(gc_cuda_ctx *c, int kind) {
    if (c->n_ev >= CU_PROF_EV) return;
    if (cudaEventRecord(c->prof_ev[c->n_ev], c->stream) != cudaSuccess) { cudaGetLastError(); return; }
    c->prof_kind[c->n_ev++] = kind;
}

void gc_cu_prof_collect(gc_cuda_ctx *c) {
    if (!c->prof) return;
    const int q = c->prof_cls;
    for (int i = 1; i < c->n_ev; i++) {
        float ms = 0;
        int k = c->prof_kind[i];
        if (k < 0 || k >= CU_PROF_KINDS || cudaEventElapsedTime(&ms, c->prof_ev[i - 1], c->prof_ev[i]) != cudaSuccess)
            continue;
        c->prof_ms[q][k] += ms;
        c->prof_n[q][k]++;
    }
    c->n_ev = 0;
    c->prof_steps[q]++;
}

void gc_cu_prof_print(gc_cuda_ctx *c) {
    for (int q = 0; c->prof && q < 2; q++) {
        if (!c->prof_steps[q]) continue;
        double tot = 0;
        for (int k = 0; k < CU_PROF_KINDS; k++) tot += c->prof_ms[q][k];
        fprintf(stderr, "gcache cuda profile, %s steps: %ld steps, %.3f ms device time (%.3f ms per step)\n",
                q ? "large (> 64 rows)" : "small (<= 64 rows)", c->prof_steps[q], tot, tot / (double)c->prof_steps[q]);
        for (int k = 0; k < CU_PROF_KINDS; k++)
            if (c->prof_n[q][k])
                fprintf(stderr, "  %-14s %9.3f ms %5.1f%%  %7ld launches  %8.2f us each\n", PROF_NAMES[k],
                        c->prof_ms[q][k], 100.0 * c->prof_ms[q][k] / tot, c->prof_n[q][k],
                        1000.0 * c->prof_ms[q][k] / (double)c->prof_n[q][k]);
    }
}

static void realign_free(struct cu_realign *r);

static void ctx_free(gc_cuda_ctx *c) {
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    gc_cu_prof_print(c);
    for (int i = 0; c->prof && i < CU_PROF_EV; i++) cudaEventDestroy(c->prof_ev[i]);
    gc_cu_free_graphs(c);
    free_layers(c);
    if (c->lm_head != c->embd) cudaFree(c->lm_head);
    cudaFree(c->embd);
    cudaFree(c->final_norm); cudaFree(c->inv_freq);
    for (int i = 0; i < c->n_chunks; i++) cudaFree(c->chunks[i]);
    free(c->chunks);
    cudaFree(c->x); cudaFree(c->qkv); cudaFree(c->gu); cudaFree(c->cos_t); cudaFree(c->sin_t);
    cudaFree(c->xn); cudaFree(c->q); cudaFree(c->att); cudaFree(c->act); cudaFree(c->emb_in);
    cudaFree(c->rows_bf); cudaFree(c->hid); cudaFree(c->logits); cudaFree(c->amax); cudaFreeHost(c->amax_h);
    cudaFree(c->draws); cudaFreeHost(c->draws_h);
    realign_free(c->ra);
    gc_cu_kv_wsum_free(c);
    cudaFree(c->part_o); cudaFree(c->part_ml); cudaFree(c->counters);
    cudaFree(c->meta.d); cudaFreeHost(c->meta.h);
    if (c->blas) cublasDestroy(c->blas);
    cudaFree(c->blas_ws);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static gc_status upload_layer(gc_cuda_ctx *c, const gc_layer_weights *W, cu_layer *y, int64_t l) {
    const int64_t D = c->D, qd = c->qd, kvd = c->kvd, F = c->F, NQKV = qd + 2 * kvd;
    char nm[64];
    snprintf(nm, sizeof nm, "layer %lld weights", (long long)l);
    GC_TRY(gc_cu_malloc((void **)&y->wqkv, (size_t)(NQKV * D) * 2, nm));
    GC_TRY(gc_cu_malloc((void **)&y->wo, (size_t)(D * qd) * 2, nm));
    GC_TRY(gc_cu_malloc((void **)&y->wgu, (size_t)(2 * F * D) * 2, nm));
    GC_TRY(gc_cu_malloc((void **)&y->wdown, (size_t)(D * F) * 2, nm));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wqkv, W->wq, qd, D, "q_proj"));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wqkv + qd * D, W->wk, kvd, D, "k_proj"));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wqkv + (qd + kvd) * D, W->wv, kvd, D, "v_proj"));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wo, W->wo, D, qd, "o_proj"));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wgu, W->w_gate, F, D, "gate_proj"));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wgu + F * D, W->w_up, F, D, "up_proj"));
    GC_TRY(gc_cu_upload_matrix(c->stream, y->wdown, W->w_down, D, F, "down_proj"));
    GC_TRY(upload_f32(c->stream, &y->attn_norm, W->attn_norm, D, nm));
    GC_TRY(upload_f32(c->stream, &y->ffn_norm, W->ffn_norm, D, nm));
    GC_TRY(upload_f32(c->stream, &y->q_norm, W->q_norm, c->hd, nm));
    GC_TRY(upload_f32(c->stream, &y->k_norm, W->k_norm, c->hd, nm));
    if (W->bq && W->bk && W->bv) {
        GC_TRY(gc_cu_malloc((void **)&y->bqkv, (size_t)NQKV * sizeof(float), nm));
        CU_TRY(cudaMemcpyAsync(y->bqkv, W->bq, (size_t)qd * 4, cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaMemcpyAsync(y->bqkv + qd, W->bk, (size_t)kvd * 4, cudaMemcpyHostToDevice, c->stream));
        CU_TRY(cudaMemcpyAsync(y->bqkv + qd + kvd, W->bv, (size_t)kvd * 4, cudaMemcpyHostToDevice, c->stream));
    }
    CU_TRY(cudaStreamSynchronize(c->stream));
    c->weight_bytes += (size_t)(NQKV * D + D * qd + 3 * F * D) * 2;
    return GC_OK;
}

static gc_status ctx_init(const gc_backend_env *env, gc_cuda_ctx *c) {
    const gc_model *m = env->m;
    const gc_model_config *cf = &m->cfg;
    int n_dev = gc_cuda_device_count();
    if (n_dev < 1) return gc_fail(GC_ERR_UNSUPPORTED, "CUDA: no CUDA device found (cudaGetDeviceCount reports none)");
    c->device = 0;
    CU_TRY(cudaSetDevice(c->device));
    CU_TRY(cudaDeviceGetAttribute(&c->n_sm, cudaDevAttrMultiProcessorCount, c->device));
    c->D = cf->hidden_size; c->H = cf->n_heads; c->KV = cf->n_kv_heads; c->hd = cf->head_dim;
    c->F = cf->intermediate_size; c->V = cf->vocab_size; c->L = cf->n_layers;
    c->qd = c->H * c->hd; c->kvd = c->KV * c->hd; c->half = c->hd / 2;
    c->kv_q8 = env->kv_dtype == GC_KV_Q8;
    c->kv_block_elems = (size_t)c->L * 2 * GC_KV_BLOCK * (size_t)c->kvd;
    c->eps = (float)cf->rms_eps;
    c->neox = cf->rope_style == GC_ROPE_NEOX;
    if ((c->hd & 1) || c->hd > 256 || c->H % c->KV || c->H / c->KV > 64)
        return gc_fail(GC_ERR_UNSUPPORTED, "CUDA: head_dim %lld / %lld query heads per KV head not supported "
                       "(head_dim must be even and <= 256, at most 64 query heads per KV head)",
                       (long long)c->hd, (long long)(c->H / c->KV));
    c->dbg = env->cuda;
    if (c->dbg.skinny_max_t > 16) c->dbg.skinny_max_t = 16;
    if (c->dbg.attn_blocks_per_sm < 1) c->dbg.attn_blocks_per_sm = 1;
    if (c->dbg.batch_invariant) {   // the engine refuses steps past max_position, so no tile sees more keys
        c->bi_chunk = gc_attn_fixed_chunk(cf->max_position);
        c->bi_splits = gc_attn_split_of(cf->max_position, 1, c->bi_chunk).ns;
    }
    if (c->dbg.profile) {
        for (int i = 0; i < CU_PROF_EV; i++) CU_TRY(cudaEventCreate(&c->prof_ev[i]));
        c->prof = true;
    }
    CU_TRY(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUBLAS_TRY(cublasCreate(&c->blas));
    CUBLAS_TRY(cublasSetStream(c->blas, c->stream));
    // A fixed workspace keeps cuBLAS from allocating while a graph is captured.
    const size_t ws = 32 << 20;
    GC_TRY(gc_cu_malloc(&c->blas_ws, ws, "cuBLAS workspace"));
    CUBLAS_TRY(cublasSetWorkspace(c->blas, c->blas_ws, ws));

    GC_TRY(gc_cu_malloc((void **)&c->embd, (size_t)(c->V * c->D) * 2, "token embeddings"));
    GC_TRY(gc_cu_upload_matrix(c->stream, c->embd, m->tok_embd, c->V, c->D, "embed_tokens"));
    c->weight_bytes += (size_t)(c->V * c->D) * 2;
    if (m->lm_head == m->tok_embd) {
        c->lm_head = c->embd;
    } else {
        GC_TRY(gc_cu_malloc((void **)&c->lm_head, (size_t)(c->V * c->D) * 2, "lm_head"));
        GC_TRY(gc_cu_upload_matrix(c->stream, c->lm_head, m->lm_head, c->V, c->D, "lm_head"));
        c->weight_bytes += (size_t)(c->V * c->D) * 2;
    }
    GC_TRY(upload_f32(c->stream, &c->final_norm, m->final_norm, c->D, "final norm"));
    GC_TRY(upload_f32(c->stream, &c->inv_freq, env->inv_freq, c->half, "RoPE frequencies"));
    c->layers = calloc((size_t)c->L, sizeof *c->layers);
    if (!c->layers) return gc_fail(GC_ERR_OOM, "out of memory");
    for (int64_t l = 0; l < c->L; l++) GC_TRY(upload_layer(c, &m->layers[l], &c->layers[l], l));
    CU_TRY(cudaStreamSynchronize(c->stream));
    c->next_chunk_blocks = 8;
    return GC_OK;
}

// The table's init: weights uploaded, stream and cuBLAS handle made.
static gc_status cu_init(const gc_backend_env *env, void **state) {
    *state = NULL;
    if (env->kv_dtype != GC_KV_BF16 && env->kv_dtype != GC_KV_Q8)
        return gc_fail(GC_ERR_UNSUPPORTED, "the CUDA device stores the KV cache as bf16 or q8, not %s",
                       gc_kv_dtype_name(env->kv_dtype));
    gc_cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return gc_fail(GC_ERR_OOM, "out of memory");
    gc_status s = ctx_init(env, c);
    if (s != GC_OK) {
        ctx_free(c);
        return s;
    }
    *state = c;
    return GC_OK;
}

static void cu_release(void *state) { ctx_free(state); }

// ---- KV block storage: bf16 or q8 device memory (layouts: backend/backend.h) ----

static gc_status cu_kv_block_new(void *dev, size_t elems, void **data) {
    gc_cuda_ctx *c = dev;
    const size_t bytes = (gc_kv_storage_bytes(c->kv_q8 ? GC_KV_Q8 : GC_KV_BF16, elems, c->hd) + 255) & ~(size_t)255;
    if (c->chunk_left < bytes) {
        size_t nb = c->next_chunk_blocks;
        void *p = NULL;
        cudaError_t e = cudaMalloc(&p, nb * bytes);
        while (e != cudaSuccess && nb > 1) {   // the device is nearly full: try smaller chunks
            cudaGetLastError();
            nb /= 2;
            e = cudaMalloc(&p, nb * bytes);
        }
        if (e != cudaSuccess) {
            cudaGetLastError();
            return gc_fail(GC_ERR_OOM, "CUDA: out of device memory for KV blocks (%.1f MiB of blocks allocated)",
                           (double)c->kv_bytes / 1048576.0);
        }
        if (c->n_chunks == c->cap_chunks) {
            int cap = c->cap_chunks ? 2 * c->cap_chunks : 16;
            void **nc = realloc(c->chunks, (size_t)cap * sizeof *nc);
            if (!nc) { cudaFree(p); return gc_fail(GC_ERR_OOM, "out of memory"); }
            c->chunks = nc;
            c->cap_chunks = cap;
        }
        c->chunks[c->n_chunks++] = p;
        c->chunk_cur = p;
        c->chunk_left = nb * bytes;
        c->kv_bytes += nb * bytes;
        if (c->next_chunk_blocks < 512) c->next_chunk_blocks *= 2;
    }
    *data = c->chunk_cur;
    c->chunk_cur += bytes;
    c->chunk_left -= bytes;
    return GC_OK;
}

// Blocks live in the context's chunks until it is freed (the pool recycles
// them through its free list).
static void cu_kv_block_free(void *dev, void *data) { (void)dev; (void)data; }

// q8 elements move in whole rows of hd (kv_get / kv_set / kv_copy).
static gc_status cu_q8_rows_check(const gc_cuda_ctx *c, size_t off, size_t n) {
    if (off % (size_t)c->hd || n % (size_t)c->hd)
        return gc_fail(GC_ERR_INVALID_ARG, "q8 KV access [%zu, +%zu) is not whole rows of %lld elements", off, n,
                       (long long)c->hd);
    return GC_OK;
}

// A q8 block's scale of the row starting at element off, on the device.
static unsigned char *cu_q8_scale_at(const gc_cuda_ctx *c, const void *data, size_t off) {
    return (unsigned char *)data + gc_kv_q8_scale_byte(c->kv_block_elems, off, c->hd);
}

// Rows [off, off+n) of a q8 block: int8 values and their scales to the
// host, dequantized there.
static gc_status cu_q8_get(gc_cuda_ctx *c, const void *data, size_t off, size_t n, float *dst) {
    GC_TRY(cu_q8_rows_check(c, off, n));
    const size_t rows = n / (size_t)c->hd;
    unsigned char *tmp = malloc(n + rows * sizeof(float));
    if (!tmp) return gc_fail(GC_ERR_OOM, "out of memory");
    cudaError_t e = cudaMemcpyAsync(tmp, (const unsigned char *)data + off, n, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(tmp + n, cu_q8_scale_at(c, data, off), rows * sizeof(float), cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) { free(tmp); return gc_cu_fail(e, "KV read"); }
    float *sc = malloc(rows * sizeof(float));   // tmp + n may be unaligned
    if (!sc) { free(tmp); return gc_fail(GC_ERR_OOM, "out of memory"); }
    memcpy(sc, tmp + n, rows * sizeof(float));
    gc_kv_q8_dequantize((const int8_t *)tmp, sc, (int64_t)rows, c->hd, dst);
    free(sc);
    free(tmp);
    return GC_OK;
}

// Quantized on the host by the one rule (backend/kv_q8.h), then copied.
static gc_status cu_q8_set(gc_cuda_ctx *c, void *data, size_t off, size_t n, const float *src) {
    GC_TRY(cu_q8_rows_check(c, off, n));
    const size_t rows = n / (size_t)c->hd;
    int8_t *q = malloc(n);
    float *sc = malloc(rows * sizeof(float));
    if (!q || !sc) { free(q); free(sc); return gc_fail(GC_ERR_OOM, "out of memory"); }
    gc_kv_q8_quantize(src, (int64_t)rows, c->hd, q, sc);
    cudaError_t e = cudaMemcpyAsync((unsigned char *)data + off, q, n, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(cu_q8_scale_at(c, data, off), sc, rows * sizeof(float), cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    free(q);
    free(sc);
    if (e != cudaSuccess) return gc_cu_fail(e, "KV write");
    return GC_OK;
}

static gc_status cu_kv_get(void *dev, const void *data, size_t off, size_t n, float *dst) {
    gc_cuda_ctx *c = dev;
    if (!n) return GC_OK;
    if (c->kv_q8) return cu_q8_get(c, data, off, n, dst);
    bf16_t *tmp = malloc(n * 2);
    if (!tmp) return gc_fail(GC_ERR_OOM, "out of memory");
    cudaError_t e = cudaMemcpyAsync(tmp, (const bf16_t *)data + off, n * 2, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) { free(tmp); return gc_cu_fail(e, "KV read"); }
    for (size_t i = 0; i < n; i++) dst[i] = gc_bf16_to_f32(tmp[i]);
    free(tmp);
    return GC_OK;
}

static gc_status cu_kv_set(void *dev, void *data, size_t off, size_t n, const float *src) {
    gc_cuda_ctx *c = dev;
    if (!n) return GC_OK;
    if (c->kv_q8) return cu_q8_set(c, data, off, n, src);
    bf16_t *tmp = malloc(n * 2);
    if (!tmp) return gc_fail(GC_ERR_OOM, "out of memory");
    for (size_t i = 0; i < n; i++) tmp[i] = gc_f32_to_bf16(src[i]);
    cudaError_t e = cudaMemcpyAsync((bf16_t *)data + off, tmp, n * 2, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    free(tmp);
    if (e != cudaSuccess) return gc_cu_fail(e, "KV write");
    return GC_OK;
}

static gc_status cu_kv_copy(void *dev, void *dst, size_t dst_off, const void *src, size_t src_off, size_t n) {
    gc_cuda_ctx *c = dev;
    if (!n) return GC_OK;
    if (c->kv_q8) {   // the int8 values, then their scales
        GC_TRY(cu_q8_rows_check(c, dst_off, n));
        GC_TRY(cu_q8_rows_check(c, src_off, 0));
        CU_TRY(cudaMemcpyAsync((unsigned char *)dst + dst_off, (const unsigned char *)src + src_off, n,
                               cudaMemcpyDeviceToDevice, c->stream));
        CU_TRY(cudaMemcpyAsync(cu_q8_scale_at(c, dst, dst_off), cu_q8_scale_at(c, src, src_off),
                               n / (size_t)c->hd * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
        return GC_OK;
    }
    CU_TRY(cudaMemcpyAsync((bf16_t *)dst + dst_off, (const bf16_t *)src + src_off, n * 2, cudaMemcpyDeviceToDevice,
                           c->stream));
    return GC_OK;
}

// ---- row buffers: f32 device memory ----

static gc_status cu_rows_new(void *dev, size_t n, float **data) {
    (void)dev;
    return gc_cu_malloc((void **)data, n * sizeof(float), "rows");
}

static void cu_rows_free(void *dev, float *data) {
    gc_cuda_ctx *c = dev;
    cudaStreamSynchronize(c->stream);   // no queued step or realignment still uses them
    cudaFree(data);
}

static gc_status cu_rows_get(void *dev, const float *src, size_t n, float *dst) {
    gc_cuda_ctx *c = dev;
    CU_TRY(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    return GC_OK;
}

static gc_status cu_rows_set(void *dev, float *dst, const float *src, size_t n) {
    gc_cuda_ctx *c = dev;
    CU_TRY(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));   // src may go as soon as this returns
    return GC_OK;
}

static gc_status cu_kv_read_bytes(void *dev, const void *data, size_t off, size_t n, void *dst) {
    gc_cuda_ctx *c = dev;
    if (!n) return GC_OK;
    CU_TRY(cudaMemcpyAsync(dst, (const unsigned char *)data + off, n, cudaMemcpyDeviceToHost, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    return GC_OK;
}

static gc_status cu_kv_write_bytes(void *dev, void *data, size_t off, size_t n, const void *src) {
    gc_cuda_ctx *c = dev;
    if (!n) return GC_OK;
    CU_TRY(cudaMemcpyAsync((unsigned char *)data + off, src, n, cudaMemcpyHostToDevice, c->stream));
    CU_TRY(cudaStreamSynchronize(c->stream));
    return GC_OK;
}

// ---- realignment ----

// A realignment map on the device, made by realign_rows from W_a and kept
// for as long as its key stays the same.
struct cu_realign {
    gc_cuda_ctx *c;
    int64_t D;
    double target;
    float *w;         // (D, D) W_a in column-major order (= wa_t row-major), or NULL for identity
    float *e;         // (cap, D) scratch: the product of an in-place realignment
    int64_t cap;
};

static void realign_free(struct cu_realign *r) {
    if (!r) return;
    cudaFree(r->w); cudaFree(r->e);
    free(r);
}

static gc_status realign_make(gc_cuda_ctx *c, const double *wa_t, int64_t D, double target_norm,
                              struct cu_realign **out) {
    *out = NULL;
    struct cu_realign *r = calloc(1, sizeof *r);
    if (!r) return gc_fail(GC_ERR_OOM, "out of memory");
    r->c = c;
    r->D = D;
    r->target = target_norm;
    if (wa_t) {
        float *tmp = malloc((size_t)(D * D) * sizeof(float));
        if (!tmp) { free(r); return gc_fail(GC_ERR_OOM, "out of memory"); }
        for (int64_t i = 0; i < D * D; i++) tmp[i] = (float)wa_t[i];
        gc_status s = gc_cu_malloc((void **)&r->w, (size_t)(D * D) * sizeof(float), "realignment matrix");
        cudaError_t ce = cudaSuccess;
        if (s == GC_OK) ce = cudaMemcpy(r->w, tmp, (size_t)(D * D) * sizeof(float), cudaMemcpyHostToDevice);
        free(tmp);
        if (s == GC_OK && ce != cudaSuccess) s = gc_cu_fail(ce, "realignment upload");
        if (s != GC_OK) { realign_free(r); return s; }
    }
    *out = r;
    return GC_OK;
}

// Scratch for n rows (the old rows are dropped once the stream is done with them).
static gc_status realign_scratch(struct cu_realign *r, int64_t n) {
    if (n <= r->cap) return GC_OK;
    cudaStreamSynchronize(r->c->stream);
    cudaFree(r->e);
    r->e = NULL;
    r->cap = 0;
    GC_TRY(gc_cu_malloc((void **)&r->e, (size_t)(n * r->D) * sizeof(float), "realignment rows"));
    r->cap = n;
    return GC_OK;
}

// dst (n, D) = src (n, D) realigned, both device rows, queued on the stream:
// one f32 GEMM (into the scratch when in place: cuBLAS may not write what it
// reads), then the norm rescaling of every row.
static gc_status realign_device(struct cu_realign *r, const float *src, int64_t n, float *dst) {
    gc_cuda_ctx *c = r->c;
    const int64_t D = r->D;
    const size_t bytes = (size_t)(n * D) * sizeof(float);
    float *prod = dst;
    if (r->w) {
        if (src == dst) {
            GC_TRY(realign_scratch(r, n));
            prod = r->e;
        }
        // prodᵀ (D, n) = W_aᵀ · srcᵀ; r->w read as column-major (D, D) is W_a.
        // Batch-invariant mode: one row per call, so that cuBLAS picks the
        // same algorithm for a row whatever n is (it may choose by n).
        const float one = 1.0f, zero = 0.0f;
        const int64_t per = c->dbg.batch_invariant ? 1 : n;
        CUBLAS_TRY(cublasSetMathMode(c->blas, CUBLAS_PEDANTIC_MATH));
        cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
        for (int64_t r0 = 0; r0 < n && bs == CUBLAS_STATUS_SUCCESS; r0 += per)
            bs = cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)D, (int)per, (int)D, &one, r->w, (int)D,
                             src + r0 * D, (int)D, &zero, prod + r0 * D, (int)D);
        CUBLAS_TRY(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
        if (bs != CUBLAS_STATUS_SUCCESS) return gc_cublas_fail(bs, "cublasSgemm (realign)");
    } else if (src != dst) {
        CU_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    }
    CU_TRY(gck_rescale_rows(c->stream, prod, (int)n, (int)D, r->target));
    if (prod != dst) CU_TRY(cudaMemcpyAsync(dst, prod, bytes, cudaMemcpyDeviceToDevice, c->stream));
    return GC_OK;
}

// The table's realign_rows on device rows: through the map the context
// keeps, made from wa_t on the first call with a given key (and remade when
// the key changes). Queued on the stream; the next step runs after it.
static gc_status cu_realign_rows(void *state, uint64_t key, const double *wa_t, int64_t D, double target_norm,
                                 const float *src, int64_t n, float *dst) {
    gc_cuda_ctx *c = state;
    if (!c->ra || c->ra_key != key) {
        cudaStreamSynchronize(c->stream);   // the old map's scratch may still be in use
        realign_free(c->ra);
        c->ra = NULL;
        GC_TRY(realign_make(c, wa_t, D, target_norm, &c->ra));
        c->ra_key = key;
    }
    return realign_device(c->ra, src, n, dst);
}

const gc_backend gc_backend_cuda = {
    .name = "cuda",
    .device = GC_DEVICE_CUDA,
    .kv_native = GC_KV_BF16,
    .prompt_rows = GC_CUDA_PROMPT_ROWS,
    .init = cu_init,
    .free = cu_release,
    .kv_block_new = cu_kv_block_new,
    .kv_block_free = cu_kv_block_free,
    .kv_get = cu_kv_get,
    .kv_set = cu_kv_set,
    .kv_copy = cu_kv_copy,
    .kv_read_bytes = cu_kv_read_bytes,
    .kv_write_bytes = cu_kv_write_bytes,
    .kv_wsum = gc_cu_kv_wsum,
    .run_step = gc_cu_run_step,
    .rows_new = cu_rows_new,
    .rows_free = cu_rows_free,
    .rows_get = cu_rows_get,
    .rows_set = cu_rows_set,
    .realign_rows = cu_realign_rows,
};

#endif
