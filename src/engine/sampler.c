// Sampling over one logits row. RNG: xoshiro256** seeded through splitmix64,
// so a seed reproduces the same draws on every platform.
#include "gcache/sampler.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>

struct gc_sampler {
    gc_sampler_params p;
    int64_t vocab;
    uint64_t s[4];
    struct cand { float logit; int32_t id; } *cand;   // (vocab) candidates
    float *prob;    // (vocab)
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
    s->cand = malloc((size_t)vocab * sizeof *s->cand);
    s->prob = malloc((size_t)vocab * sizeof *s->prob);
    if (!s->cand || !s->prob) { gc_sampler_free(s); return gc_fail(GC_ERR_OOM, "out of memory"); }
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->s[i] = splitmix64(&x);
    *out = s;
    return GC_OK;
}

void gc_sampler_free(gc_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->prob);
    free(s);
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return (int32_t)b;
}

// Candidates by logit, descending (ties by id for determinism).
static int cmp_desc(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

int32_t gc_sampler_sample(gc_sampler *s, const float *logits) {
    const int64_t V = s->vocab;
    if (s->p.temperature <= 0.0f) return argmax(logits, V);
    int64_t n = 0;
    float mx = -INFINITY;
    for (int64_t i = 0; i < V; i++)
        if (logits[i] > mx) mx = logits[i];
    // Ids whose probability underflows relative to the max cannot be drawn;
    // dropping them first keeps the sort short (exp(-100/T·T) ≈ 0 in f32).
    const float floor_logit = mx - 100.0f * s->p.temperature;
    for (int64_t i = 0; i < V; i++)
        if (logits[i] >= floor_logit) s->cand[n++] = (struct cand){logits[i], (int32_t)i};
    qsort(s->cand, (size_t)n, sizeof *s->cand, cmp_desc);
    if (s->p.top_k > 0 && n > s->p.top_k) n = s->p.top_k;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = exp(((double)s->cand[i].logit - mx) / s->p.temperature);
        s->prob[i] = (float)e;
        sum += e;
    }
    // top-p: keep the smallest prefix whose mass reaches top_p (at least one).
    if (s->p.top_p < 1.0f) {
        double acc = 0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; i++) {
            acc += s->prob[i] / sum;
            if (acc >= s->p.top_p) { keep = i + 1; break; }
        }
        n = keep;
        sum = 0;
        for (int64_t i = 0; i < n; i++) sum += s->prob[i];
    }
    double u = next_unit(s->s) * sum, acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += s->prob[i];
        if (u < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}

const gc_sampler_params *gc_sampler_get_params(const gc_sampler *s) { return &s->p; }

double gc_sampler_next_unit(gc_sampler *s) { return next_unit(s->s); }

gc_token_draw gc_sampler_next_draw(gc_sampler *s) {
    gc_token_draw d = {.temperature = s->p.temperature, .top_p = s->p.top_p, .top_k = s->p.top_k};
    if (s->p.temperature > 0.0f) d.u = (float)next_unit(s->s);
    return d;
}

static int cmp_float_desc(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

// The host side of the device draw (see gcache/sampler.h). Thresholds are on
// logit values (p is monotone in the logit); masses in double.
int32_t gc_token_draw_row(const float *logits, int64_t V, const gc_token_draw *d) {
    int64_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (logits[i] > logits[best] || logits[best] != logits[best]) best = i;
    if (!(d->temperature > 0.0f) || V < 2) return (int32_t)best;
    const double mx = logits[best], inv_t = 1.0 / d->temperature;
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
                if (acc >= d->top_p * z) {
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
    const double target = (double)d->u * total;
    double acc = 0;
    int64_t last = best;
    for (int64_t i = 0; i < V; i++) {
        if (!(logits[i] >= thr)) continue;
        acc += exp(((double)logits[i] - mx) * inv_t);
        last = i;
        if (target < acc) return (int32_t)i;
    }
    return (int32_t)last;
}
