#!/usr/bin/env bash
# Session 3's measurement call on the H200 (one call, logs in $OUT):
# device tests, gcache decode / prefill on the three Qwen3 shapes, the
# LatentMAS / TextMAS pipelines, 4B variants (PDL for every step or none,
# the tile-16 attention instead of the decode kernel, attention left out),
# and HF transformers on Qwen3-4B in the same call.
source "$(dirname "$0")/env.sh"
[ -d "$MODELS/smollm2-135m" ] || python3 tools/make_bench_models.py "$MODELS" smollm2-135m 2>&1 | tail -1
GC_CUDA_TEST_MODEL=$MODELS/smollm2-135m timeout 200 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "PASSED|FAILED|SKIPPED \]" "$OUT/test_cuda.log" | head -6
for m in qwen3-4b qwen3-0.6b qwen3-8b; do ensure_model "$m"; done
for m in qwen3-4b qwen3-0.6b qwen3-8b; do for B in 1 16; do bench_decode $m $B default; done; done
timeout 150 bash bench/cuda/latentmas_h200.sh > "$OUT/latentmas.txt" 2>&1
grep -h "wall\|seconds / q\|questions" "$OUT/latentmas.txt" | head -20
for B in 1 16; do
  GC_CUDA_PDL_MAX_T=16 bench_decode qwen3-4b $B pdl-all
  GC_CUDA_PDL_MAX_T=0 bench_decode qwen3-4b $B pdl-none
  GC_CUDA_DECODE_ATTN=0 bench_decode qwen3-4b $B tile16-attn
  GC_CUDA_SKIP=1 bench_decode qwen3-4b $B no-attn
done
timeout 140 python3 bench/cuda/hf_bench.py --models qwen3-4b --batches 1,16 --prompt 512 --gen 128 --reps 3 2>&1 \
  | grep -v Warning | tee -a "$OUT/hf.jsonl" | tail -3
tail -2 "$OUT/bench.err"
