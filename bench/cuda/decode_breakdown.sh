#!/usr/bin/env bash
# Where a decode step's time goes (random-weight Qwen3-4B, batch 1 and 16).
# Inside the replayed CUDA graph per-launch events cannot look, so decode
# tok/s is measured with programmatic dependent launch for every step / none
# (--cuda-pdl-max-t 16 / 0) and without the graphs (--cuda-graphs 0); then
# the per-launch profile with graphs off (--cuda-profile: CUDA events around
# every launch, which add a few µs to each small kernel).
# Carried: .carry/bin/gcache + .carry/lib. Logs and JSON lines in $OUT.
source "$(dirname "$0")/env.sh"
ensure_model qwen3-4b
for B in 1 16; do
  bench_decode qwen3-4b $B default
  for p in 16 0; do bench_decode qwen3-4b $B pdl$p --cuda-pdl-max-t $p; done
  bench_decode qwen3-4b $B no-graphs --cuda-graphs 0
done
for B in 1 16; do
  echo "== B=$B" >> "$OUT/profile.txt"
  timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" --prompt-tokens 512 --gen-tokens 64 \
    --reps 1 --batch $B --cuda-profile >/dev/null 2>>"$OUT/profile.txt"
done
grep -v "^rep" "$OUT/profile.txt" | tail -60
