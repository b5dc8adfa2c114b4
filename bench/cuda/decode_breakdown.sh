#!/usr/bin/env bash
# Where a decode step's time goes (random-weight Qwen3-4B, batch 1 and 16).
# Inside the replayed CUDA graph per-launch events cannot look, so decode
# tok/s is measured with programmatic dependent launch for every step / none
# (GC_CUDA_PDL_MAX_T 16 / 0) and with classes of decode-layer launches left
# out (GC_CUDA_SKIP, timing only, the tokens are wrong):
#   1 attention, 10 RMSNorms + SwiGLU, 16 GEMMs, 31 everything in the layers
#   (what is left: embedding, final norm, LM head, sampling, host work).
# Then what the graphs are worth (GC_CUDA_GRAPHS=0) and the per-launch
# profile with graphs off (GC_CUDA_PROFILE=1: CUDA events around every
# launch, which add a few µs to each small kernel).
# Carried: .carry/bin/gcache + .carry/lib. Logs and JSON lines in $OUT.
source "$(dirname "$0")/env.sh"
ensure_model qwen3-4b
for B in 1 16; do
  for p in 16 0; do
    for k in 0 1 10 16 31; do GC_CUDA_PDL_MAX_T=$p GC_CUDA_SKIP=$k bench_decode qwen3-4b $B pdl$p-skip$k; done
  done
  GC_CUDA_GRAPHS=0 bench_decode qwen3-4b $B no-graphs
done
for B in 1 16; do
  echo "== B=$B" >> "$OUT/profile.txt"
  GC_CUDA_PROFILE=1 timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" --prompt-tokens 512 \
    --gen-tokens 64 --reps 1 --batch $B >/dev/null 2>>"$OUT/profile.txt"
done
grep -v "^rep" "$OUT/profile.txt" | tail -60
