#!/usr/bin/env bash
# Session-2 measurements on the H200 in one call: the device tests, the
# attention split knob at batch 1/16, gcache on the three Qwen3 shapes, and HF
# transformers on Qwen3-4B side by side. Logs in $OUT.
source "$(dirname "$0")/env.sh"
timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "device draws|^row|PASSED|FAILED|SKIPPED|skinny" "$OUT/test_cuda.log" | head -20
for m in qwen3-4b qwen3-0.6b qwen3-8b; do
  ensure_model "$m"
done
for a in 4 8; do for B in 1 16; do GC_CUDA_ATTN_BLOCKS_PER_SM=$a bench_decode qwen3-4b $B attn$a; done; done
for m in qwen3-4b qwen3-0.6b qwen3-8b; do for B in 1 16; do bench_decode $m $B default; done; done
timeout 400 python3 bench/cuda/hf_bench.py --models qwen3-4b --batches 1,16 --prompt 512 --gen 128 --reps 3 2>&1 \
  | grep -v Warning | tee -a "$OUT/hf.jsonl" | tail -4
tail -3 "$OUT/bench.err"
