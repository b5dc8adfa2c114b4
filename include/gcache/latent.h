// Latent reasoning (LatentMAS): the realignment map from output hidden states
// back to input-embedding space, and latent steps.
#ifndef GCACHE_LATENT_H
#define GCACHE_LATENT_H
#include "gcache/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_realign gc_realign;

// W_a = solve(W_outᵀW_out + 1e-5·I, W_outᵀW_in) (D×D, computed in float64)
// and target_norm = mean L2 norm of W_in's rows. With enabled = false W_a = I
// (the norm rescaling still applies). Caller owns *out (gc_realign_free).
// W_a is cached on disk, keyed by a hash of the embedding weights, in
// gc_realign_cache_dir(); a missing, corrupt or stale cache file is
// recomputed and rewritten. The computation runs on n_threads CPU threads
// (0: the cores this process may use; see gc_engine_params.n_threads).
gc_status gc_realign_new(const gc_model *m, bool enabled, int n_threads, gc_realign **out);
// Same with an explicit cache folder (NULL: no disk cache).
gc_status gc_realign_new_cached(const gc_model *m, bool enabled, const char *cache_dir, int n_threads,
                                gc_realign **out);
// $GC_CACHE_DIR, else $XDG_CACHE_HOME/gcache, else $HOME/.cache/gcache, else
// NULL. GC_CACHE_DIR=off disables the cache. Malloc'd; caller frees.
char *gc_realign_cache_dir(void);
// True if the last gc_realign_new* on this handle came from the disk cache.
bool gc_realign_from_cache(const gc_realign *r);
void gc_realign_free(gc_realign *r);
double gc_realign_target_norm(const gc_realign *r);

// Text embedding from the local model: the mean over positions of the
// final-norm hidden states of `text` (run on a fresh cache), L2-normalised.
// out: hidden_size doubles. Used as node features of the learned topology.
struct gc_tokenizer;
gc_status gc_text_embed_model(gc_engine *e, const struct gc_tokenizer *tok, const char *text, double *out);

// e (D) = h·W_a rescaled to target_norm / max(‖h·W_a‖, 1e-6).
void gc_realign_apply(const gc_realign *r, const float *h, float *e);
// The same for n host rows h (n, D) → out (n, D): on the engine's backend
// through its scratch rows (gc_realign_rows), or on the host when e is NULL.
gc_status gc_realign_apply_rows(const gc_realign *r, gc_engine *e, const float *h, int64_t n, float *out);
// Rows [dst_first, dst_first+n) of dst = realigned rows [src_first, ...) of
// src, on the buffers' engine (gcache/engine.h: gc_rows): the CPU runs
// gc_realign_apply's float64 formula (the same bits), CUDA one f32 GEMM for
// all rows through a device copy of W_a the engine keeps. In place when src
// == dst and src_first == dst_first; other overlaps are refused.
gc_status gc_realign_rows(const gc_realign *r, const gc_rows *src, int64_t src_first, int64_t n, gc_rows *dst,
                          int64_t dst_first);

#ifdef __cplusplus
}
#endif
#endif
