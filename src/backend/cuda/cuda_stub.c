// The CUDA backend's entry points when the library is built without nvcc:
// every call says so with GC_ERR_UNSUPPORTED.
#ifndef GC_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "core/error.h"

#define NO_CUDA gc_fail(GC_ERR_UNSUPPORTED, "this gcache was built without CUDA (nvcc was not found at configure " \
                        "time, or GC_CUDA=OFF); use device = cpu")

int gc_cuda_device_count(void) { return 0; }
bool gc_engine_cuda_available(void) { return false; }
static gc_status stub_init(const gc_backend_env *env, void **state) {
    (void)env;
    *state = NULL;
    return NO_CUDA;
}
static void stub_free(void *state) { (void)state; }
static gc_status stub_kv_block_new(void *state, size_t elems, void **data) {
    (void)state; (void)elems;
    *data = NULL;
    return NO_CUDA;
}
static void stub_kv_block_free(void *state, void *data) { (void)state; (void)data; }
static gc_status stub_kv_get(void *state, const void *data, size_t off, size_t n, float *dst) {
    (void)state; (void)data; (void)off; (void)n; (void)dst;
    return NO_CUDA;
}
static gc_status stub_kv_set(void *state, void *data, size_t off, size_t n, const float *src) {
    (void)state; (void)data; (void)off; (void)n; (void)src;
    return NO_CUDA;
}
static gc_status stub_kv_copy(void *state, void *dst, size_t dst_off, const void *src, size_t src_off, size_t n) {
    (void)state; (void)dst; (void)dst_off; (void)src; (void)src_off; (void)n;
    return NO_CUDA;
}
static gc_status stub_kv_read_bytes(void *state, const void *data, size_t off, size_t n, void *dst) {
    (void)state; (void)data; (void)off; (void)n; (void)dst;
    return NO_CUDA;
}
static gc_status stub_kv_write_bytes(void *state, void *data, size_t off, size_t n, const void *src) {
    (void)state; (void)data; (void)off; (void)n; (void)src;
    return NO_CUDA;
}
static gc_status stub_run_step(void *state, const gc_step_plan *plan) {
    (void)state; (void)plan;
    return NO_CUDA;
}

static gc_status stub_rows_new(void *state, size_t n, float **data) {
    (void)state; (void)n;
    *data = NULL;
    return NO_CUDA;
}
static void stub_rows_free(void *state, float *data) { (void)state; (void)data; }
static gc_status stub_rows_get(void *state, const float *src, size_t n, float *dst) {
    (void)state; (void)src; (void)n; (void)dst;
    return NO_CUDA;
}
static gc_status stub_rows_set(void *state, float *dst, const float *src, size_t n) {
    (void)state; (void)dst; (void)src; (void)n;
    return NO_CUDA;
}
static gc_status stub_realign_rows(void *state, uint64_t key, const double *wa_t, int64_t D, double target_norm,
                                   const float *src, int64_t n, float *dst) {
    (void)state; (void)key; (void)wa_t; (void)D; (void)target_norm; (void)src; (void)n; (void)dst;
    return NO_CUDA;
}

// Never past init (which fails); the other entries answer the same.
const gc_backend gc_backend_cuda = {
    .name = "cuda",
    .device = GC_DEVICE_CUDA,
    .kv_native = GC_KV_BF16,
    .prompt_rows = GC_CUDA_PROMPT_ROWS,
    .init = stub_init,
    .free = stub_free,
    .kv_block_new = stub_kv_block_new,
    .kv_block_free = stub_kv_block_free,
    .kv_get = stub_kv_get,
    .kv_set = stub_kv_set,
    .kv_copy = stub_kv_copy,
    .kv_read_bytes = stub_kv_read_bytes,
    .kv_write_bytes = stub_kv_write_bytes,
    .run_step = stub_run_step,
    .rows_new = stub_rows_new,
    .rows_free = stub_rows_free,
    .rows_get = stub_rows_get,
    .rows_set = stub_rows_set,
    .realign_rows = stub_realign_rows,
};

#endif
