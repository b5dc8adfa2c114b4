#!/usr/bin/env bash
# LatentMAS / TextMAS / single-agent pipelines on the GPU with a random-weight Qwen3-4B
# shape (Qwen's real tokenizer, so prompts have their real lengths), through
# `gcache run --device cuda`: batch 1, 16 and 128 questions per engine batch.
# Random weights never emit EOS, so every answer runs to --max-tokens (256):
# the worst case. Carried: .carry/bin/gcache + .carry/lib, .carry/data.
source "$(dirname "$0")/env.sh"
export GC_CACHE_DIR=$MODELS/cache
M=$MODELS/qwen3-4b
ensure_model_tok qwen3-4b
G=$BIN/gcache
D=.carry/data/gsm8k-160.jsonl
# --profile: each batch prints its seconds in the engine and in the scheduler.
common="--task gsm8k --dataset $D --model $M --device cuda --latent-steps 10 --max-tokens 256 --agent-max-tokens 256 --temperature 0 --profile"
# warm-up (realignment matrix computed once and cached on disk)
$G run --method latentmas $common --max-samples 1 --batch 1 --out $OUT/warm > $OUT/warm.log 2>&1
# gcache-concat / gcache-wsum: G-cache FullConnected with concatenated vs weighted-sum cache fusion
for spec in "latentmas 1 4" "latentmas 16 32" "latentmas 128 128" "textmas 16 32" "single 16 32" "gcache-concat 16 32" \
            "gcache-wsum 16 32"; do
  set -- $spec
  case $1 in gcache-*) m="--method gcache --topology FullConnected --fuse ${1#gcache-}";; *) m="--method $1";; esac
  t0=$SECONDS
  $G run $m $common --batch $2 --max-samples $3 --out $OUT/$1-b$2 > $OUT/$1-b$2.log 2>&1
  echo "$1 batch $2: $((SECONDS - t0)) s wall"
  tail -n 8 $OUT/$1-b$2.log
done
