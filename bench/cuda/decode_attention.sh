#!/usr/bin/env bash
# The decode attention kernel (attention.cu, one query row per KV head):
# device tests with it on and off, then 4B decode tok/s at batch 1 and 16
# with it (GC_CUDA_DECODE_ATTN=1, the default), with the tile-16
# kernel instead (=0), with the attention left out (GC_CUDA_SKIP=1, timing
# only), and with 4 / 8 context splits per SM (GC_CUDA_ATTN_BLOCKS_PER_SM,
# default 2); last, the per-launch attention time from GC_CUDA_PROFILE=1
# (graphs off).
# Carried: .carry/bin/{gcache,test_cuda} + .carry/lib. Logs in $OUT.
source "$(dirname "$0")/env.sh"
for D in 1 0; do
  GC_CUDA_DECODE_ATTN=$D timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda_d$D.log" 2>&1
  echo "test_cuda (GC_CUDA_DECODE_ATTN=$D) exit $?"
done
grep -E "attention n_q|PASSED|FAILED|ERROR" "$OUT/test_cuda_d1.log" | head -30
ensure_model qwen3-4b
for B in 1 16; do
  GC_CUDA_DECODE_ATTN=1 bench_decode qwen3-4b $B decode-kernel
  GC_CUDA_DECODE_ATTN=0 bench_decode qwen3-4b $B tile16
  GC_CUDA_DECODE_ATTN=1 GC_CUDA_SKIP=1 bench_decode qwen3-4b $B no-attn
  for a in 4 8; do GC_CUDA_ATTN_BLOCKS_PER_SM=$a bench_decode qwen3-4b $B splits$a; done
done
for B in 1 16; do for D in 1 0; do
  GC_CUDA_PROFILE=1 GC_CUDA_DECODE_ATTN=$D timeout 100 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" \
    --prompt-tokens 512 --gen-tokens 64 --reps 1 --batch $B > /dev/null 2> "$OUT/prof_b${B}_d$D.log"
  echo "profile batch $B decode_attn $D: $(grep -A14 "small" "$OUT/prof_b${B}_d$D.log" | grep -E "atten")"
done; done
tail -2 "$OUT/bench.err"
