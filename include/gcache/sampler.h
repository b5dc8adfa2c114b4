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

#ifdef __cplusplus
}
#endif
#endif
