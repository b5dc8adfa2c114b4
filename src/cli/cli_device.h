// --device cuda|cpu, --threads N, --exact and --kv FORMAT for the commands
// that run a model (run, trace, generate, chat, serve, bench; trace takes no
// --kv). The default device is cuda when this build has CUDA and a GPU is
// present; the default thread count (0) is the cores this process may use;
// --exact selects the CPU's exact f32 path (gc_engine_params.exact) over the
// fast quantized one; --kv q8 stores the KV cache as int8 with per-row
// scales (gc_engine_params.kv_dtype; default: the device's own format).
#ifndef GC_CLI_DEVICE_H
#define GC_CLI_DEVICE_H
#include "gcache/engine.h"
#include "gcache/model.h"

// The default device (GC_DEVICE_CUDA or GC_DEVICE_CPU).
int cli_default_device(void);
// Matches --device at argv[*i] like the cli_opt_* helpers: 1 matched, 0 not
// this option, -1 bad value (message printed).
int cli_opt_device(int argc, char **argv, int *i, int *device);
// Matches --threads N (0..256, 0 = the usable cores) like cli_opt_device.
int cli_opt_threads(int argc, char **argv, int *i, int *threads);
// Matches --kv default|f32|bf16|q8 (gc_kv_dtype) like cli_opt_device.
int cli_opt_kv(int argc, char **argv, int *i, int *kv_dtype);
// cli_open on the given device with n_threads CPU threads (0: default), on
// the exact CPU path when exact, with the KV format kv_dtype (gc_kv_dtype).
int cli_open_on(const char *cmd, const char *path, int device, int n_threads, bool exact, int kv_dtype, gc_model **m,
                gc_engine **e);
// The model at path and an engine made with params p; 0, or 1 after printing why.
int cli_open_params(const char *cmd, const char *path, const gc_engine_params *p, gc_model **m, gc_engine **e);
// Matches one of the CUDA switches (gc_cuda_debug) like cli_opt_device:
// --cuda-graphs 0|1, --cuda-decode-attention 0|1, --cuda-pdl-max-t N,
// --cuda-attn-blocks-per-sm N, --cuda-skinny-max-t N (0..16), --cuda-profile,
// --cuda-batch-invariant. bench, run, generate and chat take them; the CPU
// device ignores them.
int cli_opt_cuda_debug(int argc, char **argv, int *i, gc_cuda_debug *d);
// Usage lines of those options, for --help.
extern const char *const cli_cuda_debug_help;
// Matches one of the CPU switches (gc_cpu_debug) like cli_opt_device:
// --cpu-avx2, --cpu-gguf-layout. bench, run, generate and chat take them;
// the CUDA device ignores them.
int cli_opt_cpu_debug(int argc, char **argv, int *i, gc_cpu_debug *d);
// Usage lines of those options, for --help.
extern const char *const cli_cpu_debug_help;

#endif
