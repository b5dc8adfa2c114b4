#!/usr/bin/env bash
# Session 3, second H200 call: device tests (greedy engine tests on the
# random SmolLM2-shape model too), then 4B decode with PDL on / off, the
# GEMM weight prefetch budget (GC_CUDA_PREFETCH_MB) swept, and everything
# in the layers left out (GC_CUDA_SKIP=31: embed, final norm, LM head,
# sampling and host work only). Logs in $OUT.
source "$(dirname "$0")/env.sh"
[ -d "$MODELS/smollm2-135m" ] || python3 tools/make_bench_models.py "$MODELS" smollm2-135m 2>&1 | tail -1
GC_CUDA_TEST_MODEL=$MODELS/smollm2-135m timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "PASSED|FAILED|SKIPPED|greedy" "$OUT/test_cuda.log" | head -12
ensure_model qwen3-4b
for B in 1 16; do
  bench_decode qwen3-4b $B pf16
  GC_CUDA_PDL=0 bench_decode qwen3-4b $B nopdl
  for mb in 0 4 32 64; do GC_CUDA_PREFETCH_MB=$mb bench_decode qwen3-4b $B pf$mb; done
  GC_CUDA_SKIP=31 bench_decode qwen3-4b $B skip31
done
tail -3 "$OUT/bench.err"
