#!/usr/bin/env bash
# The decode attention kernel (attention.cu, one query row per KV head):
# test_cuda's attention kernel checks and engine switches, then 4B decode
# tok/s at batch 1 and 16 with it (the default), with the tile-16 kernel
# instead (--cuda-decode-attention 0), and with 4 / 8 context splits per SM
# (--cuda-attn-blocks-per-sm, default 2); last, the per-launch attention time
# from --cuda-profile (graphs off).
# Carried: .carry/bin/{gcache,test_cuda} + .carry/lib. Logs in $OUT.
source "$(dirname "$0")/env.sh"
timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1
echo "test_cuda exit $?"
grep -E "attention n_q|engine switches|PASSED|FAILED|ERROR" "$OUT/test_cuda.log" | head -30
ensure_model qwen3-4b
for B in 1 16; do
  bench_decode qwen3-4b $B decode-kernel
  bench_decode qwen3-4b $B tile16 --cuda-decode-attention 0
  for a in 4 8; do bench_decode qwen3-4b $B splits$a --cuda-attn-blocks-per-sm $a; done
done
for B in 1 16; do for D in 1 0; do
  timeout 100 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" --prompt-tokens 512 --gen-tokens 64 \
    --reps 1 --batch $B --cuda-profile --cuda-decode-attention $D > /dev/null 2> "$OUT/prof_b${B}_d$D.log"
  echo "profile batch $B decode attention $D: $(grep -A14 "small" "$OUT/prof_b${B}_d$D.log" | grep -E "atten")"
done; done
tail -2 "$OUT/bench.err"
