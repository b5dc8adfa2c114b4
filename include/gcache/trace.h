// Trace programs: a conformance probe that runs `;`-separated segments on one
// sequence and records logits / hidden states / tokens.
//   ids:3,17,42  feed tokens      → logits of every position, hidden_last
//   latent:K     K latent steps   → hidden of each step, logits_last
//   greedy:N     N argmax tokens  → ids (each fed back)
// Cache operations (they print {"type":"save"} etc.):
//   save:NAME             fork the current cache under NAME (zero-copy)
//   reset                 start an empty cache
//   concat:A,B,…          current := A ‖ B ‖ … (saved caches)
//   keep:N                keep the last N positions of the current cache
//   wsum:A@0.7,B@0.3      current := Σ wᵢ·cacheᵢ over their last min-length positions
// After reset/concat/keep/wsum the next token-producing segment must be ids:
// (latent and greedy need the last position's hidden state / logits).
#ifndef GCACHE_TRACE_H
#define GCACHE_TRACE_H
#include <stdio.h>
#include "gcache/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gc_trace_seg_type {
    GC_SEG_IDS, GC_SEG_LATENT, GC_SEG_GREEDY,
    GC_SEG_SAVE, GC_SEG_RESET, GC_SEG_CONCAT, GC_SEG_KEEP, GC_SEG_WSUM,
} gc_trace_seg_type;

typedef struct gc_trace_seg {
    gc_trace_seg_type type;
    int64_t n;            // tokens fed / latent steps / greedy tokens
    float *logits;        // ids: (n, V)
    float *hidden;        // ids: (1, D) at the last position; latent: (n, D)
    float *logits_last;   // latent: (V) at the last step
    int32_t *ids;         // greedy: (n)
    int64_t cache_len;    // length of the current cache after the segment
} gc_trace_seg;

typedef struct gc_trace {
    int n_segs;
    gc_trace_seg *segs;
    int64_t vocab, dim;
} gc_trace;

typedef struct gc_trace_opts {
    bool realign;   // latent steps use W_a (true) or identity (false)
} gc_trace_opts;

// Parses and runs `program` on a fresh cache. Caller owns *out (gc_trace_free).
// A malformed program fails before anything runs, naming the segment.
gc_status gc_trace_run(gc_engine *e, const char *program, const gc_trace_opts *o, gc_trace **out);
void gc_trace_free(gc_trace *t);
// {"segments":[...]} on one line, floats with 9 significant digits.
void gc_trace_write_json(const gc_trace *t, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
