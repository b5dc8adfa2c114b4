// Token sampling: greedy, temperature, top-k, top-p, seeded.
//
// One drawing rule for every device (gc_token_draw_row on the host, the same
// rule on the GPU in backend/cuda/sample.cu), so the same seed and the same
// logits give the same token on the CPU and on CUDA:
//   the uniform  a sampler seeded with s owns the stream xoshiro256** with its
//                state filled by four splitmix64 outputs from s. Each draw
//                (step t = 0, 1, ... of the sequence, temperature > 0 only)
//                takes the next 64-bit output x and u = (x >> 40) · 2^-24, a
//                float in [0, 1 − 2^-24]. Every sequence has its own sampler
//                (the scheduler seeds node i of a question with seed
//                seed_q · 1000003 + i), so u depends on (seed, sequence, step)
//                only, never on what else runs in the batch.
//   greedy       temperature <= 0: argmax, ties → lowest id, NaN read as −inf.
//   mass         p_i = exp((l_i − max) / temperature), in float64.
//   top-k        k > 0 keeps the ids whose logit is >= the k-th largest
//                (ties at the boundary all kept).
//   top-p        p < 1 then keeps the ids whose logit is >= the largest logit
//                threshold at which the kept mass is >= top_p · (top-k mass).
//   the pick     target = u · (kept mass); the first id in index order at which
//                the running kept mass exceeds target.
// Filters in HF's order (temperature → top-k → top-p). Both devices sum in
// float64 (in different orders), so they can differ only when target falls
// within ~1e-15 of a boundary between two ids.
#ifndef GCACHE_SAMPLER_H
#define GCACHE_SAMPLER_H
#include "gcache/gcache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_sampler_params {
    float temperature;   // <= 0: greedy (argmax, ties → lowest id)
    float top_p;         // (0, 1]; 1 disables
    int top_k;           // <= 0 disables
    uint64_t seed;
} gc_sampler_params;

// Greedy by default (temperature 0, top_p 1, top_k 0, seed 0).
gc_sampler_params gc_sampler_default_params(void);

typedef struct gc_sampler gc_sampler;
// Caller owns *out (gc_sampler_free). Invalid parameters → GC_ERR_INVALID_ARG.
gc_status gc_sampler_new(const gc_sampler_params *p, int64_t vocab, gc_sampler **out);
void gc_sampler_free(gc_sampler *s);
// Draws one id from logits (vocab floats; not modified): gc_token_draw_row
// with gc_sampler_next_draw.
int32_t gc_sampler_sample(gc_sampler *s, const float *logits);
// The parameters the sampler was made with.
const gc_sampler_params *gc_sampler_get_params(const gc_sampler *s);
// Advances the sampler's stream by one output and returns it as a uniform in
// [0, 1) with 53 bits (for callers that want their own randomness from the
// sampler's seed; draws use gc_sampler_next_draw).
double gc_sampler_next_unit(gc_sampler *s);

// One draw by the rule above, given the uniform u (what the engine computes
// for gc_seq_step.draw on every backend).
typedef struct gc_token_draw {
    float temperature, top_p;
    int32_t top_k;
    float u;
} gc_token_draw;
int32_t gc_token_draw_row(const float *logits, int64_t vocab, const gc_token_draw *d);
// The sampler's next draw: its temperature / top-p / top-k and, when it
// samples (temperature > 0), the next uniform u of its stream.
gc_token_draw gc_sampler_next_draw(gc_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
