#!/usr/bin/env bash
# KV precision on the GPU (one call): bf16 against q8 KV (--kv q8).
# 1. gcache bench on the random-weight Qwen3-4B: batch 1, 16 and 128, 512-token
#    prompts + 128 greedy tokens, median of 3 — decode tok/s and KV bytes per
#    token of each format (JSON lines in $OUT/kv_bench.jsonl).
# 2. With the Qwen2.5-Coder-0.5B GGUF on the machine ($QWEN_GGUF, default
#    .carry/data/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf, e.g. reassembled from
#    carried parts): kv_precision on 20 GSM8K questions × 128 greedy tokens, bf16
#    vs q8 on the device (greedy agreement, logit error; $OUT/kv_precision_cuda.txt).
# Carried: .carry/bin/{gcache,kv_precision} + .carry/lib, .carry/data.
source "$(dirname "$0")/env.sh"
ensure_model qwen3-4b
for B in 1 16 128; do
  for kv in default q8; do
    timeout 400 "$BIN/gcache" bench --device cuda --model "$MODELS/qwen3-4b" --prompt-tokens 512 --gen-tokens 128 \
      --reps 3 --batch "$B" --kv "$kv" 2>>"$OUT/bench.err" | tee -a "$OUT/kv_bench.jsonl" \
      | grep -o '"kv":"[^"]*"\|"kv_bytes_per_token":[0-9]*\|"batch":[0-9]*\|"prefill_tok_s":[0-9.]*\|"decode_tok_s":[0-9.]*' \
      | tr '\n' ' '
    echo
  done
done
Q=${QWEN_GGUF:-.carry/data/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf}
if [ -e "$Q" ]; then
  timeout 600 "$BIN/kv_precision" "$Q" .carry/data/gsm8k-160.jsonl 20 128 cuda | tee "$OUT/kv_precision_cuda.txt" | tail -6
else
  echo "kv_precision: no $Q (set QWEN_GGUF), skipped"
fi
