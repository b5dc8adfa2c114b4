#!/usr/bin/env bash
# The L2 streamer (src/backend/cuda/l2_stream.cu, --cuda-l2-stream MB) on
# decode at batch 1 and 16 (random-weight Qwen3-4B, 512-token prompts, 128
# new tokens, median of 3): the default beside budgets of MB per weight
# matrix and streamer block counts, each point `gcache bench` in one call on
# one warm machine. The engine prints the streamer's segment counts (fetched,
# skipped, timeouts) to stderr when it is freed; they go to $OUT/bench.err.
#   bash bench/cuda/l2_stream.sh [BUDGETS] [BLOCKS] [BATCHES]
#   (defaults "8 16 32", "4 16", "1 16"; logs and JSON lines in $OUT)
# Carried: .carry/bin/gcache + .carry/lib.
source "$(dirname "$0")/env.sh"
budgets=${1:-8 16 32}
blocks=${2:-4 16}
batches=${3:-1 16}
ensure_model qwen3-4b
for B in $batches; do
  bench_decode qwen3-4b "$B" default
  for mb in $budgets; do
    for nb in $blocks; do
      echo "== B=$B l2 ${mb}MB x$nb" >> "$OUT/bench.err"
      bench_decode qwen3-4b "$B" "l2-${mb}mb-x$nb" --cuda-l2-stream "$mb" --cuda-l2-stream-blocks "$nb"
      grep "L2 streamer" "$OUT/bench.err" | tail -1
    done
  done
  bench_decode qwen3-4b "$B" default-again
done
