// The engine: batched forward passes over many sequences, each with its own
// KV cache. Token ids or input embeddings in; logits and/or final-norm hidden
// states out. The device (gc_device) picks the backend that runs it: the CPU
// f32 reference path (KV cache f32 too) or CUDA (bf16 weights and KV cache);
// gc_engine_params.kv_dtype may store the KV cache as int8 instead.
#ifndef GCACHE_ENGINE_H
#define GCACHE_ENGINE_H
#include "gcache/model.h"
#include "gcache/kv.h"

#ifdef __cplusplus
extern "C" {
#endif


// Where the engine runs. CUDA: bf16 weights and KV cache on GPU 0, f32
// accumulation (src/backend/cuda/); needs a build with nvcc and a GPU, else
// gc_engine_new fails with GC_ERR_UNSUPPORTED (any other value: GC_ERR_INVALID_ARG).
typedef enum gc_device { GC_DEVICE_CPU = 0, GC_DEVICE_CUDA = 1 } gc_device;

// Switches of the CPU backend for measurements (`gcache bench --cpu-avx2`);
// the CUDA backend ignores them. gc_engine_default_params() sets the values
// the engine runs with.
typedef struct gc_cpu_debug {
    bool qgemm_avx2;         // the fast matmul keeps to its AVX2 kernels on a CPU with AVX-512 VNNI
                             // (default false: the best this CPU has); the same bits either way
    bool gguf_layout;        // the fast matmul reads quantized weights in place, in the file's layout
                             // (default false: the engine keeps a copy repacked for it, as many bytes
                             // again as those weights, and decode runs up to 1.7x faster; same bits)
} gc_cpu_debug;

// Switches of the CUDA backend for measurements and tests (bench/cuda/*.sh,
// `gcache bench --cuda-*`); the CPU backend ignores them. Read once, when
// the engine is made. gc_engine_default_params() sets the values the engine
// is tuned for (bench/RESULTS.md has the measurements behind each).
typedef struct gc_cuda_debug {
    bool graphs;             // decode steps replay a captured CUDA graph (default true)
    bool decode_attention;   // one-query steps use the decode attention kernel (default true);
                             // false: the tile-16 kernel that steps of several rows use
    int pdl_max_t;           // steps of at most this many rows launch with programmatic
                             // dependent launch (default 1; 0 = never; +2 % decode at batch 1,
                             // -6 % at batch 16 on the H200)
    int attn_blocks_per_sm;  // attention context splits aim at this many blocks per SM
                             // (default 2; values below 1 count as 1)
    int skinny_max_t;        // GEMMs of at most this many rows (<= 16) run on the skinny GEMM,
                             // larger ones on cuBLAS (default 16; 0 = cuBLAS for every GEMM)
    bool profile;            // device time per kind of launch (CUDA events; graphs off), printed
                             // to stderr by gc_engine_free (default false)
    bool batch_invariant;    // every row's result depends only on its own inputs and its sequence's
                             // cache, never on the other rows of the step (default false): GEMMs on
                             // one fixed skinny configuration over chunks of <= 16 rows (skinny_max_t
                             // ignored), the tile attention kernel with a tile size fixed by the
                             // model and context splits at fixed multiples (decode_attention and
                             // attn_blocks_per_sm ignored), realignment row by row. Slower; for
                             // measurements where batch 1 and batch N must give the same bits
} gc_cuda_debug;

// How the KV cache stores its elements. DEFAULT: the device's own (f32 on
// the CPU, bf16 on CUDA). Q8: int8 with one f32 scale per (position, KV
// head) row of head_dim elements (symmetric: scale = max|x| / 127), on
// either device: about a quarter (CPU) or half (CUDA) of the bytes, every
// stored element off by at most half a scale step. A device accepts its own
// format and Q8; gc_engine_new refuses the other (GC_ERR_UNSUPPORTED).
typedef enum gc_kv_dtype { GC_KV_DEFAULT = 0, GC_KV_F32 = 1, GC_KV_BF16 = 2, GC_KV_Q8 = 3 } gc_kv_dtype;

typedef struct gc_engine_params {
    int n_threads;          // CPU threads, caller included; 0: the cores this process may use
                            // (affinity mask and cgroup CPU quota); at most 256
    size_t kv_pool_bytes;   // cap on KV block memory; 0 = limited only by malloc (cudaMalloc on CUDA)
    int device;             // gc_device; default GC_DEVICE_CPU
    bool exact;             // CPU: dequantise weights to f32 for every product (the reference path the
                            // conformance tests use); default false: quantized weights multiply int8-
                            // quantized activations on their blocks (faster, ~1e-3 relative error)
    gc_cpu_debug cpu;       // CPU backend switches (above)
    gc_cuda_debug cuda;     // CUDA backend switches (above)
    int kv_dtype;           // gc_kv_dtype; default GC_KV_DEFAULT (the device's own format)
} gc_engine_params;

gc_engine_params gc_engine_default_params(void);
// True when this build has CUDA support and a CUDA device is present.
bool gc_engine_cuda_available(void);

// The engine borrows the model (which must outlive it). Free with gc_engine_free.
gc_status gc_engine_new(const gc_model *m, const gc_engine_params *p, gc_engine **out);
void gc_engine_free(gc_engine *e);
const gc_model *gc_engine_model(const gc_engine *e);
// Threads of the CPU kernels (n_threads resolved).
int gc_engine_n_threads(const gc_engine *e);
// Where the engine runs.
gc_device gc_engine_device(const gc_engine *e);
// Prompt rows per engine step that a batch run feeds by default on this
// engine's device (gc_run_params.prefill_rows 0): 512 on the CPU (the
// scheduler's default, GC_SCHED_PREFILL_ROWS), GC_CUDA_PROMPT_ROWS on
// CUDA, where a 512-row step leaves most of the card idle (cuBLAS tiles a
// 512-row product into a few dozen blocks: 26k rows/s in such steps against
// 57-62k in steps of 8192 rows on an H100, Qwen3-4B shape) while 4096 rows of
// f32 activations stay a few hundred MB. bench/RESULTS.md, "What stands in the way".
int gc_engine_prompt_rows(const gc_engine *e);
#define GC_CUDA_PROMPT_ROWS 4096
// "cpu" or "cuda" (what the CLI's --device takes); "unknown" for any other value.
const char *gc_device_name(gc_device d);
// The KV format the engine stores (never GC_KV_DEFAULT: resolved at gc_engine_new).
gc_kv_dtype gc_engine_kv_dtype(const gc_engine *e);
// "default", "f32", "bf16" or "q8" (what the CLI's --kv takes); "unknown" for any other value.
const char *gc_kv_dtype_name(gc_kv_dtype t);
// The format a name gives (the names of gc_kv_dtype_name); false when none.
bool gc_kv_dtype_parse(const char *name, gc_kv_dtype *out);
// KV blocks currently held by caches of this engine (for memory accounting and tests).
int64_t gc_engine_kv_live_blocks(const gc_engine *e);

// KV caches (gc_kv_new etc.) are declared in gcache/kv.h.

// ---- rows held by the engine ----
// A buffer of n rows of hidden_size floats in the engine's own memory (host
// memory on the CPU, device memory on CUDA). A step can take its input
// embeddings from such rows and write its final-norm hidden states into them
// (gc_seq_step.in_rows / hidden_rows), and the LatentMAS realignment maps
// rows to rows (gc_realign_rows, gcache/latent.h): values that feed the next
// step never cross to the host. Free every buffer before its engine.
typedef struct gc_rows gc_rows;
gc_status gc_rows_new(gc_engine *e, int64_t n, gc_rows **out);
void gc_rows_free(gc_rows *r);
int64_t gc_rows_count(const gc_rows *r);
// Rows [first, first+n) to the host (dst (n, hidden_size)) / from the host.
gc_status gc_rows_get(const gc_rows *r, int64_t first, int64_t n, float *dst);
gc_status gc_rows_set(gc_rows *r, int64_t first, int64_t n, const float *src);

// ---- forward ----
// One sequence's share of a batched step. Exactly one of ids / embeds /
// in_rows is set. A step reads every input before it writes any output, so
// one step may read rows that it (or another sequence of it) overwrites.
typedef struct gc_seq_step {
    gc_kv *kv;             // cache to extend (positions kv_len .. kv_len+n-1)
    int64_t n;             // new positions (>= 1)
    const int32_t *ids;    // (n) token ids, or NULL
    const float *embeds;   // (n, D) input embeddings, or NULL
    float *logits;         // out, or NULL: (n, V) if logits_all else (1, V) for the last position
    bool logits_all;
    float *hidden;         // out, or NULL: final-norm hidden states, (n, D) if hidden_all else (1, D)
    bool hidden_all;
    int32_t *argmax;       // out, or NULL: the next token from the last position's logits, chosen on
                           // the device with GC_DEVICE_CUDA (logits may be NULL): greedy (ties →
                           // lowest id), or drawn by `draw` when set (gc_token_draw_row)
    const struct gc_token_draw *draw;   // with argmax: temperature/top-k/top-p and the uniform u
    const gc_rows *in_rows;   // or NULL: input embeddings (n, D) = rows [in_row, in_row+n) of in_rows
    int64_t in_row;
    gc_rows *hidden_rows;     // out, or NULL: the hidden states `hidden` gets (n or 1 rows, as hidden_all
    int64_t hidden_row;       // says) into rows [hidden_row, ...) of hidden_rows; with or without `hidden`
} gc_seq_step;

// Runs all sequences' new positions through the model in one pass (GEMMs see
// every token of every sequence). On failure no cache is modified.
gc_status gc_engine_forward(gc_engine *e, gc_seq_step *steps, int n_steps);

#ifdef __cplusplus
}
#endif
#endif
