// The PDL switch (common.cuh says what PDL is and how kernels follow it):
// one per host thread, so an engine stepping on one thread decides for its
// own launches. Default on; the CUDA forward pass sets it per step from
// gc_engine_params.cuda.pdl_max_t.
#include "backend/cuda/kernels.h"

static thread_local int g_pdl = 1;

extern "C" int gck_pdl_enabled(void) { return g_pdl; }
extern "C" void gck_set_pdl(int on) { g_pdl = on ? 1 : 0; }
