// Internal engine layout shared by engine/, kv/ and latent/ (backends see
// none of it: backend/backend.h hands them plain data).
#ifndef GC_ENGINE_ENGINE_H
#define GC_ENGINE_ENGINE_H
#include "gcache/engine.h"
#include "model/model.h"
#include "kv/kv_internal.h"
#include "backend/backend.h"
#include "core/threads.h"

struct gc_engine {
    const gc_model *m;
    gc_engine_params p;
    float *inv_freq;   // (hd/2) RoPE inverse frequencies, f32 exactly as HF computes them
    gc_kv_pool pool;   // every cache of this engine lives here
    gc_pool *threads;  // the CPU kernels' threads (p.n_threads; 0 = gc_threads_default())
    const gc_backend *be;   // the device's operations (gc_backend_cpu or gc_backend_cuda)
    void *be_state;         // ... and the state be->init made for this engine
    gc_rows *scratch;       // rows for host-pointer calls that run on the backend (gc_realign_apply_rows), or NULL
};

// The engine's scratch rows, at least n of them (grown on demand, freed with
// the engine). Their contents are the caller's only until the next call.
gc_status gc_engine_scratch_rows(gc_engine *e, int64_t n, gc_rows **out);

// Checks a batch of steps (caches, ids in range, context length, no cache
// twice) and sums their positions into *T (gc_engine_forward, before it
// builds the step plan).
gc_status gc_engine_validate_steps(const gc_engine *e, const gc_seq_step *st, int n_steps, int64_t *T);

#endif
