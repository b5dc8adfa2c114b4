#!/usr/bin/env bash
# Decode attention kernel (attention.cu, tile_m 1): device tests, then 4B
# decode tok/s with GC_CUDA_DECODE_ATTN=1 vs 0 (tile-16 kernel) and with the
# attention left out (GC_CUDA_SKIP=1, timing only) at batch 1 and 16, and the
# per-launch attention time from GC_CUDA_PROFILE=1 (no graphs). Logs in $OUT.
# Usage: attn_h200.sh [full|final]
source "$(dirname "$0")/env.sh"
MODE=${1:-final}
timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1; echo "test_cuda exit $?"
grep -E "attention n_q|PASSED|FAILED|ERROR" "$OUT/test_cuda.log" | head -30
ensure_model qwen3-4b
b() { timeout 100 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" --prompt-tokens 512 --gen-tokens 128 --reps 3 \
        --batch $1 2>>"$OUT/bench.err" | sed "s/^{/{\"tag\":\"$2\",/" | tee -a "$OUT/gcache.jsonl" | grep -o '"tag[^,]*\|"batch":[0-9]*\|"decode_tok_s":[0-9.]*' | tr '\n' ' '; echo; }
for B in 1 16; do
  GC_CUDA_DECODE_ATTN=0 b $B tile16
  GC_CUDA_DECODE_ATTN=1 b $B dec
  GC_CUDA_DECODE_ATTN=1 GC_CUDA_SKIP=1 b $B noattn
done
if [ "$MODE" = full ]; then
  GC_CUDA_DECODE_ATTN=1 GC_ATTN_DEC_HINT=0 b 16 dec_nohint
  GC_CUDA_DECODE_ATTN=1 GC_ATTN_DEC_NS=3 b 16 dec_ns3
  GC_CUDA_DECODE_ATTN=1 GC_CUDA_ATTN_BLOCKS_PER_SM=1 b 16 dec_bpsm1
  GC_CUDA_DECODE_ATTN=1 GC_CUDA_ATTN_BLOCKS_PER_SM=1 GC_ATTN_DEC_NS=3 b 16 dec_bpsm1_ns3
fi
for B in 1 16; do for D in 0 1; do
  GC_CUDA_PROFILE=1 GC_CUDA_DECODE_ATTN=$D timeout 100 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" \
    --prompt-tokens 512 --gen-tokens 64 --reps 1 --batch $B > /dev/null 2> "$OUT/prof_b${B}_d$D.log"
  echo "profile batch $B decode_attn $D: $(grep -A14 "small" "$OUT/prof_b${B}_d$D.log" | grep -E "atten")"
done; done
tail -2 "$OUT/bench.err"
