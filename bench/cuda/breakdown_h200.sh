#!/usr/bin/env bash
# Where a decode step's time goes inside the replayed graph (4B, batch 1 and
# 16), where per-launch events cannot look: decode tok/s with programmatic
# dependent launch for every step / none (GC_CUDA_PDL_MAX_T 16 / 0) and with classes of decode-layer
# launches left out (GC_CUDA_SKIP, timing only, the tokens are wrong):
#   1 attention, 10 RMSNorms + SwiGLU, 16 GEMMs, 31 everything in the layers
#   (what is left: embedding, final norm, LM head, sampling, host work).
source "$(dirname "$0")/env.sh"
ensure_model qwen3-4b
for B in 1 16; do
  for p in 16 0; do
    for k in 0 1 10 16 31; do GC_CUDA_PDL_MAX_T=$p GC_CUDA_SKIP=$k bench_decode qwen3-4b $B pdl$p-skip$k; done
  done
done
