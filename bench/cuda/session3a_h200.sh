#!/usr/bin/env bash
# Session 3, first H200 call: device tests with programmatic dependent launch
# (PDL) on, then 4B decode with PDL on / off and with each class of
# decode-layer launch left out (GC_CUDA_SKIP: timing only) to see what each
# costs inside the replayed graph. Logs in $OUT.
source "$(dirname "$0")/env.sh"
timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "PASSED|FAILED|SKIPPED" "$OUT/test_cuda.log" | head -8
ensure_model qwen3-4b
for B in 1 16; do
  bench_decode qwen3-4b $B pdl
  GC_CUDA_PDL=0 bench_decode qwen3-4b $B nopdl
  for k in 1 2 4 8 16 15; do GC_CUDA_SKIP=$k bench_decode qwen3-4b $B skip$k; done
done
tail -3 "$OUT/bench.err"
