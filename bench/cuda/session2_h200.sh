#!/usr/bin/env bash
# Session-2 measurements on the H200 in one call: the device tests, the
# attention split knob at batch 1/16, gcache on the three Qwen3 shapes, and HF
# transformers on Qwen3-4B side by side. Logs in $OUT.
source "$(dirname "$0")/env.sh"
timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "device draws|^row|PASSED|FAILED|SKIPPED|skinny" "$OUT/test_cuda.log" | head -20
b() { timeout 200 "$BIN/gcache" bench --device cuda --model "$MODELS/$1" --prompt-tokens 512 --gen-tokens 128 --reps 3 \
        --batch $2 2>>"$OUT/bench.err" | sed "s/^{/{\"tag\":\"$3\",/" | tee -a "$OUT/gcache.jsonl"; }
for m in qwen3-4b qwen3-0.6b qwen3-8b; do
  ensure_model "$m"
done
for a in 4 8; do for B in 1 16; do GC_CUDA_ATTN_BLOCKS_PER_SM=$a b qwen3-4b $B attn$a; done; done
for m in qwen3-4b qwen3-0.6b qwen3-8b; do for B in 1 16; do b $m $B default; done; done
timeout 400 python3 bench/cuda/hf_bench.py --models qwen3-4b --batches 1,16 --prompt 512 --gen 128 --reps 3 2>&1 \
  | grep -v Warning | tee -a "$OUT/hf.jsonl" | tail -4
tail -3 "$OUT/bench.err"
