#!/usr/bin/env bash
# Device tests (greedy engine tests on the random SmolLM2-shape model), then
# 4B decode at batch 1 and 16 with the L2 weight warm-ups on (default: the
# decode attention fetches W_o, norms / SwiGLU the first
# GC_CUDA_PREFETCH_MB of the next GEMM), off, at 16 MB, and without PDL.
source "$(dirname "$0")/env.sh"
[ -d "$MODELS/smollm2-135m" ] || python3 tools/make_bench_models.py "$MODELS" smollm2-135m 2>&1 | tail -1
GC_CUDA_TEST_MODEL=$MODELS/smollm2-135m timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "PASSED|FAILED|SKIPPED|attention n_q=1" "$OUT/test_cuda.log" | head -14
ensure_model qwen3-4b
for B in 1 16; do
  bench_decode qwen3-4b $B default
  GC_CUDA_PREFETCH_MB=0 GC_CUDA_ATTN_PREFETCH=0 bench_decode qwen3-4b $B nowarm
  GC_CUDA_PREFETCH_MB=16 bench_decode qwen3-4b $B warm16
  GC_CUDA_PDL=0 bench_decode qwen3-4b $B nopdl
done
tail -2 "$OUT/bench.err"
