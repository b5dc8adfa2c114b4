// Sampling over one logits row. RNG: xoshiro256** seeded through splitmix64,
// so a seed reproduces the same draws on every platform.
#include "gcache/sampler.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>

struct gc_sampler {
    gc_sampler_params p;
    int64_t vocab;
    uint64_t s[4];   // xoshiro256** state
};

gc_sampler_params gc_sampler_default_params(void) {
    gc_sampler_params p = {.temperature = 0.0f, .top_p = 1.0f, .top_k = 0, .seed = 0};
    return p;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}

// Uniform in [0, 1) with 53 random bits.
static double next_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

gc_status gc_sampler_new(const gc_sampler_params *p, int64_t vocab, gc_sampler **out) {
    *out = NULL;
    if (vocab < 1) return gc_fail(GC_ERR_INVALID_ARG, "sampler: vocabulary size must be >= 1");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return gc_fail(GC_ERR_INVALID_ARG, "sampler: top_p must be in (0, 1], got %g", (double)p->top_p);
    if (!isfinite(p->temperature))
        return gc_fail(GC_ERR_INVALID_ARG, "sampler: temperature must be finite");
    gc_sampler *s = calloc(1, sizeof *s);
    if (!s) return gc_fail(GC_ERR_OOM, "out of memory");
    s->p = *p;
    s->vocab = vocab;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->s[i] = splitmix64(&x);
    *out = s;
    return GC_OK;
}

void gc_sampler_free(gc_sampler *s) {
    free(s);
}

int32_t gc_sampler_sample(gc_sampler *s, const float *logits) {
    const gc_token_draw d = gc_sampler_next_draw(s);
    return gc_token_draw_row(logits, s->vocab, &d);
}

const gc_sampler_params *gc_sampler_get_params(const gc_sampler *s) { return &s->p; }

double gc_sampler_next_unit(gc_sampler *s) { return next_unit(s->s); }

gc_token_draw gc_sampler_next_draw(gc_sampler *s) {
    gc_token_draw d = {.temperature = s->p.temperature, .top_p = s->p.top_p, .top_k = s->p.top_k};
    // 24 random bits: u is a float in [0, 1 - 2^-24], exact, never 1.
    if (s->p.temperature > 0.0f) d.u = (float)(next_u64(s->s) >> 40) * 0x1.0p-24f;
    return d;
}

static int cmp_float_desc(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

// The rule of gcache/sampler.h on the host, in float64 (as the CUDA kernel,
// backend/cuda/sample.cu). Thresholds are on logit values (p is monotone in
// the logit), so ties are kept or dropped together.
int32_t gc_token_draw_row(const float *logits, int64_t V, const gc_token_draw *d) {
    int64_t best = 0;
    float bv = -INFINITY;
    for (int64_t i = 0; i < V; i++)   // NaN reads as -inf; ties → lowest index
        if (logits[i] > bv) { bv = logits[i]; best = i; }
    if (!(d->temperature > 0.0f) || !(bv > -INFINITY) || V < 2) return (int32_t)best;
    const double mx = bv, inv_t = 1.0 / (double)d->temperature;
    float *sorted = NULL;
    float thr = -INFINITY;
    if ((d->top_k > 0 && d->top_k < V) || d->top_p < 1.0f) {
        sorted = malloc((size_t)V * sizeof *sorted);
        if (!sorted) return (int32_t)best;   // out of memory: degrade to greedy
        int64_t n = 0;
        for (int64_t i = 0; i < V; i++)
            if (logits[i] == logits[i]) sorted[n++] = logits[i];
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_float_desc);
        int64_t kept = n;
        if (d->top_k > 0 && d->top_k < n) {
            thr = sorted[d->top_k - 1];
            while (kept > 0 && sorted[kept - 1] < thr) kept--;
        }
        if (d->top_p < 1.0f) {
            double z = 0;
            for (int64_t i = 0; i < kept; i++) z += exp(((double)sorted[i] - mx) * inv_t);
            double acc = 0;
            for (int64_t i = 0; i < kept; i++) {
                acc += exp(((double)sorted[i] - mx) * inv_t);
                if (acc >= (double)d->top_p * z) {
                    if (sorted[i] > thr) thr = sorted[i];
                    break;
                }
            }
        }
        free(sorted);
    }
    double total = 0;
    for (int64_t i = 0; i < V; i++)
        if (logits[i] >= thr) total += exp(((double)logits[i] - mx) * inv_t);
    const float u = d->u > 0.0f ? (d->u < 0x1.fffffep-1f ? d->u : 0x1.fffffep-1f) : 0.0f;
    const double target = (double)u * total;
    double acc = 0;
    int64_t last = best;
    for (int64_t i = 0; i < V; i++) {
        if (!(logits[i] >= thr)) continue;
        const double p = exp(((double)logits[i] - mx) * inv_t);
        if (!(p > 0.0)) continue;
        acc += p;
        last = i;
        if (target < acc) return (int32_t)i;
    }
    return (int32_t)last;   // rounding put the target past the end: the last id with mass
}
