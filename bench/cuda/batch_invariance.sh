#!/usr/bin/env bash
# The CUDA engine's batch-invariant mode (--cuda-batch-invariant) on the GPU machine:
# 1. what it buys: greedy LatentMAS and G-cache Chain on a random-weight Qwen3-0.6B (Qwen's
#    tokenizer, GSM8K prompts), 32 questions at batch 16 and at batch 1, default vs the mode:
#    how many of the 32 outputs are identical between the two batch sizes (random weights
#    never stop early, so every output is 128 tokens of arbitrary text: any drift shows);
# 2. what it costs: `gcache bench` decode at batch 1 and 16 and LatentMAS at batch 1 and 16
#    on the random-weight Qwen3-4B, default vs the mode, in one call.
# The real-model version is the -inv pairs of bench/configs/gpu/invariance.json (evidence.sh).
# Carried: .carry/bin/gcache + .carry/lib, .carry/data. Logs and the JSON lines in $OUT.
source "$(dirname "$0")/env.sh"
export GC_CACHE_DIR=$MODELS/cache
G=$BIN/gcache
D=.carry/data/gsm8k-160.jsonl
ensure_model_tok qwen3-0.6b
# run TAG MODEL [gcache run options]: one greedy pipeline run; prints its accuracy line and wall time
run() {
  local tag=$1 model=$2 t0=$SECONDS; shift 2
  timeout 200 $G run --task gsm8k --dataset $D --model "$MODELS/$model" --device cuda --temperature 0 --profile \
    --out $OUT/$tag "$@" > $OUT/$tag.log 2>&1 || echo "FAIL $tag (see $tag.log)"
  echo "$tag: $((SECONDS - t0)) s wall; $(grep -h "sched:" $OUT/$tag.log | tail -1)"
}
for meth in latentmas "gcache --topology Chain"; do
  for mode in default invariant; do
    x=; [ $mode = invariant ] && x=--cuda-batch-invariant
    for B in 16 1; do
      run "inv-${meth%% *}-$mode-b$B" qwen3-0.6b --method $meth --latent-steps 10 --max-tokens 128 --agent-max-tokens 128 \
        --batch $B --max-samples 32 $x
    done
  done
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def outputs(tag):
    return {r["id"]: r["output"] for r in map(json.loads, open(f"{out}/{tag}/results.jsonl")) if r}
for meth in ("latentmas", "gcache"):
    for mode in ("default", "invariant"):
        try:
            a, b = outputs(f"inv-{meth}-{mode}-b16"), outputs(f"inv-{meth}-{mode}-b1")
            print(f"batch 16 vs 1, {meth}, {mode}: {sum(a[k] == b.get(k) for k in a)}/{len(a)} outputs identical")
        except (OSError, ValueError, KeyError) as e:
            print(f"batch 16 vs 1, {meth}, {mode}: no comparison ({e})")
PY
# the cost, on the Qwen3-4B shape
ensure_model_tok qwen3-4b
for B in 1 16; do
  bench_decode qwen3-4b $B default
  bench_decode qwen3-4b $B invariant --cuda-batch-invariant
done
p4="--method latentmas --latent-steps 10 --max-tokens 256 --agent-max-tokens 256"
run lm4b-b1-default qwen3-4b $p4 --batch 1 --max-samples 4
run lm4b-b1-invariant qwen3-4b $p4 --batch 1 --max-samples 4 --cuda-batch-invariant
run lm4b-b16-default qwen3-4b $p4 --batch 16 --max-samples 32
run lm4b-b16-invariant qwen3-4b $p4 --batch 16 --max-samples 32 --cuda-batch-invariant
