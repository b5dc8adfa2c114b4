// Internal engine + KV layout shared by engine/ and kv/.
#ifndef GC_ENGINE_ENGINE_H
#define GC_ENGINE_ENGINE_H
#include "gcache/engine.h"
#include "model/model.h"

struct gc_engine {
    const gc_model *m;
    gc_engine_params p;
    float *inv_freq;   // (hd/2) RoPE inverse frequencies, f32 exactly as HF computes them
};

// Contiguous per-sequence cache: for layer l, k[l] and v[l] are (cap, KV*hd)
// row-major; row p holds position p's keys (after RoPE) / values.
struct gc_kv {
    gc_engine *e;
    int64_t len, cap;
    int64_t row;       // KV*hd floats per position per layer
    int64_t n_layers;
    float **k, **v;
};

// Ensures room for `need` positions (amortised doubling). No data change.
gc_status gc_kv_reserve(gc_kv *kv, int64_t need);

#endif
