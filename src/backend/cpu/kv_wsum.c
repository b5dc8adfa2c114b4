// The CPU backend's kv_wsum: the rule of backend/backend.h (f32 fmaf in
// part order of kv_get's values times their scales, stored as kv_set
// stores) straight on the blocks, without a kv_get / kv_set copy per layer
// and part.
#include "backend/cpu/kv_wsum.h"
#include "backend/kv_q8.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// A q8 block's row scales: one f32 per hd elements after its block_elems int8 values.
static float *q8_scales(void *data, size_t block_elems) {
    return (float *)((unsigned char *)data + block_elems);
}

gc_status gc_cpu_kv_wsum(const gc_kv_wsum_plan *plan, gc_kv_dtype t, int64_t n_layers, int64_t kvd, int64_t hd,
                         size_t block_elems) {
    const bool q8 = t == GC_KV_Q8;
    const int64_t n_pos = plan->n_pos, kv_heads = kvd / hd;
    float *acc = malloc((size_t)kvd * sizeof(float)), *x = malloc((size_t)kvd * sizeof(float));
    if (!acc || !x) {
        free(acc); free(x);
        return gc_fail(GC_ERR_OOM, "out of memory");
    }
    for (int64_t p = 0; p < n_pos; p++)
        for (int64_t l = 0; l < n_layers; l++)
            for (int kind = 0; kind < 2; kind++) {
                // acc (kvd): one row of the sum, parts in order from +0.
                memset(acc, 0, (size_t)kvd * sizeof(float));
                for (int i = 0; i < plan->n_parts; i++) {
                    const gc_kv_pos *s = &plan->src[(size_t)i * (size_t)n_pos + (size_t)p];
                    const size_t e = gc_kv_block_elem(kvd, l, kind, s->idx);
                    const float sc = s->mod < 0 ? 1.0f : plan->scales[(s->mod * n_layers + l) * 2 + kind];
                    const float *v = (const float *)s->data + e;
                    if (q8) {
                        const float *rs = q8_scales(s->data, block_elems) + e / (size_t)hd;
                        gc_kv_q8_dequantize((const int8_t *)s->data + e, rs, kv_heads, hd, x);
                        v = x;
                    }
                    for (int64_t j = 0; j < kvd; j++) acc[j] = fmaf(plan->w[i], v[j] * sc, acc[j]);
                }
                const gc_kv_pos *d = &plan->dst[p];
                const size_t e = gc_kv_block_elem(kvd, l, kind, d->idx);
                if (q8)
                    gc_kv_q8_quantize(acc, kv_heads, hd, (int8_t *)d->data + e,
                                      q8_scales(d->data, block_elems) + e / (size_t)hd);
                else
                    memcpy((float *)d->data + e, acc, (size_t)kvd * sizeof(float));
            }
    free(acc);
    free(x);
    return GC_OK;
}
