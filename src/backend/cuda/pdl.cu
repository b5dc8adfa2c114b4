// The process-wide PDL switch (common.cuh says what PDL is and how kernels
// follow it). Default on; the CUDA context sets it from GC_CUDA_PDL.
#include "backend/cuda/kernels.h"

#include <atomic>

static std::atomic<int> g_pdl{1};

extern "C" int gck_pdl_enabled(void) { return g_pdl.load(std::memory_order_relaxed); }
extern "C" void gck_set_pdl(int on) { g_pdl.store(on ? 1 : 0, std::memory_order_relaxed); }
