#include "cli/cli_device.h"
#include "cli/cli.h"
#include <string.h>

int cli_default_device(void) { return gc_engine_cuda_available() ? GC_DEVICE_CUDA : GC_DEVICE_CPU; }

int cli_opt_device(int argc, char **argv, int *i, int *device) {
    const char *v;
    int r = cli_opt_str(argc, argv, i, "--device", &v);
    if (r <= 0) return r;
    if (strcmp(v, "cuda") == 0) *device = GC_DEVICE_CUDA;
    else if (strcmp(v, "cpu") == 0) *device = GC_DEVICE_CPU;
    else {
        fprintf(stderr, "gcache: option --device expects cuda or cpu, got '%s'\n", v);
        return -1;
    }
    return 1;
}

int cli_opt_threads(int argc, char **argv, int *i, int *threads) {
    long long v;
    int r = cli_opt_int(argc, argv, i, "--threads", 0, 256, &v);
    if (r > 0) *threads = (int)v;
    return r;
}

int cli_opt_kv(int argc, char **argv, int *i, int *kv_dtype) {
    const char *v;
    int r = cli_opt_str(argc, argv, i, "--kv", &v);
    if (r <= 0) return r;
    gc_kv_dtype t;
    if (!gc_kv_dtype_parse(v, &t)) {
        fprintf(stderr, "gcache: option --kv expects default, f32, bf16 or q8, got '%s'\n", v);
        return -1;
    }
    *kv_dtype = (int)t;
    return 1;
}

int cli_open_params(const char *cmd, const char *path, const gc_engine_params *p, gc_model **m, gc_engine **e) {
    gc_status s = gc_model_load(path, m);
    if (s != GC_OK) return cli_error(cmd, s);
    s = gc_engine_new(*m, p, e);
    if (s != GC_OK) { gc_model_free(*m); return cli_error(cmd, s); }
    return 0;
}

int cli_open_on(const char *cmd, const char *path, int device, int n_threads, bool exact, int kv_dtype, gc_model **m,
                gc_engine **e) {
    gc_engine_params p = gc_engine_default_params();
    p.device = device;
    p.n_threads = n_threads;
    p.exact = exact;
    p.kv_dtype = kv_dtype;
    return cli_open_params(cmd, path, &p, m, e);
}

const char *const cli_cpu_debug_help =
    "CPU switches (gc_engine_params.cpu; the same results either way):\n"
    "  --cpu-avx2                   the fast path on its AVX2 kernels where the CPU has AVX-512 VNNI\n"
    "  --cpu-gguf-layout            the fast path reads quantized weights in place, in the file's layout,\n"
    "                               instead of a copy repacked at load (less memory, slower decode)\n";

int cli_opt_cpu_debug(int argc, char **argv, int *i, gc_cpu_debug *d) {
    (void)argc;
    int r;
    if ((r = cli_opt_flag(argv, i, "--cpu-avx2", &d->qgemm_avx2)) != 0) return r;
    return cli_opt_flag(argv, i, "--cpu-gguf-layout", &d->gguf_layout);
}

const char *const cli_cuda_debug_help =
    "CUDA switches, for measurements (gc_engine_params.cuda; defaults are what the engine is tuned for):\n"
    "  --cuda-graphs 0|1            replay decode steps as a captured CUDA graph (default 1)\n"
    "  --cuda-decode-attention 0|1  the decode attention kernel for one-query steps (default 1; 0: tile-16)\n"
    "  --cuda-pdl-max-t N           programmatic dependent launch for steps of <= N rows (default 1; 0: never)\n"
    "  --cuda-attn-blocks-per-sm N  attention context splits aim at N blocks per SM (default 2)\n"
    "  --cuda-skinny-max-t N        the skinny GEMM for GEMMs of <= N rows, else cuBLAS (default 16; 0: cuBLAS)\n"
    "  --cuda-profile               device time per kind of launch (graphs off), printed to stderr at exit\n"
    "  --cuda-batch-invariant       every row's result independent of the rest of the step: batch 1 and\n"
    "                               batch N give the same bits (slower; fixed GEMM and attention splits)\n";

int cli_opt_cuda_debug(int argc, char **argv, int *i, gc_cuda_debug *d) {
    long long v;
    int r;
    if ((r = cli_opt_int(argc, argv, i, "--cuda-graphs", 0, 1, &v)) != 0) {
        if (r > 0) d->graphs = v != 0;
        return r;
    }
    if ((r = cli_opt_int(argc, argv, i, "--cuda-decode-attention", 0, 1, &v)) != 0) {
        if (r > 0) d->decode_attention = v != 0;
        return r;
    }
    if ((r = cli_opt_int(argc, argv, i, "--cuda-pdl-max-t", 0, 1 << 20, &v)) != 0) {
        if (r > 0) d->pdl_max_t = (int)v;
        return r;
    }
    if ((r = cli_opt_int(argc, argv, i, "--cuda-attn-blocks-per-sm", 1, 64, &v)) != 0) {
        if (r > 0) d->attn_blocks_per_sm = (int)v;
        return r;
    }
    if ((r = cli_opt_int(argc, argv, i, "--cuda-skinny-max-t", 0, 16, &v)) != 0) {
        if (r > 0) d->skinny_max_t = (int)v;
        return r;
    }
    if ((r = cli_opt_flag(argv, i, "--cuda-profile", &d->profile)) != 0) return r;
    return cli_opt_flag(argv, i, "--cuda-batch-invariant", &d->batch_invariant);
}
