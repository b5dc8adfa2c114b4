// The CPU backend's weighted sum of KV positions (gc_backend.kv_wsum).
#ifndef GC_BACKEND_CPU_KV_WSUM_H
#define GC_BACKEND_CPU_KV_WSUM_H
#include "backend/backend.h"

// kv_wsum's rule (backend/backend.h) on host blocks in format t (GC_KV_F32
// or GC_KV_Q8) of block_elems elements: n_layers layers, rows of kvd =
// kv_heads · hd elements. Fails only with GC_ERR_OOM (one row of scratch).
gc_status gc_cpu_kv_wsum(const gc_kv_wsum_plan *plan, gc_kv_dtype t, int64_t n_layers, int64_t kvd, int64_t hd,
                         size_t block_elems);

#endif
