// Token sampling: greedy, temperature, top-k, top-p, seeded.
// Order of the filters as in HF transformers: temperature → top-k → top-p.
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
// Draws one id from logits (vocab floats; not modified).
int32_t gc_sampler_sample(gc_sampler *s, const float *logits);
// The parameters the sampler was made with.
const gc_sampler_params *gc_sampler_get_params(const gc_sampler *s);
// Advances the sampler's stream by one uniform in [0, 1) and returns it (the
// u of a gc_token_draw, so a device draw is seeded like a host one).
double gc_sampler_next_unit(gc_sampler *s);

// One draw by a fixed rule that the CUDA backend computes on the device
// (gc_seq_step.draw), given the uniform u:
//   temperature <= 0: argmax (ties → lowest id). Else p_i = exp((l_i − max) / T);
//   top_k > 0 keeps the ids whose logit is >= the k-th largest (ties kept);
//   top_p < 1 then keeps the ids whose logit is >= the largest threshold at
//   which the kept mass is >= top_p of the top-k mass; the result is the
//   first id, in index order, at which the running kept mass exceeds u · total.
// Same distribution as gc_sampler_sample, which walks the ids in probability
// order instead, so the two pick differently draw by draw.
typedef struct gc_token_draw {
    float temperature, top_p;
    int32_t top_k;
    float u;
} gc_token_draw;
int32_t gc_token_draw_row(const float *logits, int64_t vocab, const gc_token_draw *d);
// The sampler's next draw for the device: its temperature / top-p / top-k
// and, when it samples (temperature > 0), the next uniform of its stream.
gc_token_draw gc_sampler_next_draw(gc_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
