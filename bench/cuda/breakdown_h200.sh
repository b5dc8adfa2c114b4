#!/usr/bin/env bash
# Where a decode step's time goes inside the replayed graph (4B, batch 1 and
# 16), where per-launch events cannot look: decode tok/s with programmatic
# dependent launch on / off (GC_CUDA_PDL) and with classes of decode-layer
# launches left out (GC_CUDA_SKIP, timing only, the tokens are wrong):
#   1 attention, 10 RMSNorms + SwiGLU, 16 GEMMs, 31 everything in the layers
#   (what is left: embedding, final norm, LM head, sampling, host work).
source "$(dirname "$0")/env.sh"
ensure_model qwen3-4b
for B in 1 16; do
  for p in 1 0; do
    for k in 0 1 10 16 31; do GC_CUDA_PDL=$p GC_CUDA_SKIP=$k bench_decode qwen3-4b $B pdl$p-skip$k; done
  done
done
