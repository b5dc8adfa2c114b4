// On-disk cache of the realignment matrix (see realign_cache.c for the format).
#ifndef GC_LATENT_REALIGN_CACHE_H
#define GC_LATENT_REALIGN_CACHE_H
#include "model/model.h"

// Loads W_aᵀ (malloc'd, D×D) and target_norm for m from dir, or fails.
gc_status gc_realign_cache_load(const gc_model *m, const char *dir, double **wa_t, double *target, int64_t D);
// Writes them (atomically; warns on stderr when it cannot).
void gc_realign_cache_store(const gc_model *m, const char *dir, const double *wa_t, double target, int64_t D);

#endif
