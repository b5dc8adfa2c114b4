#!/usr/bin/env bash
# Greedy results do not depend on the batch: LatentMAS and G-cache (cache
# mode) give every question the same output text, prediction and token counts
# at batch 1 as in a batch with other questions — 16 questions at batch 1 and
# 16 on the tiny test model, and (with $GC_SMOL_GGUF) 3 questions at batch 1
# and 3 on SmolLM2. G-cache's records carry a log-probability, compared exactly.
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache

compare() {   # compare NAME MODEL N MAX_TOKENS
    local name=$1 model=$2 n=$3 mt=$4
    local common=(--task gsm8k --dataset examples/gsm8k-mini.jsonl --model "$model" --max-samples "$n" --temperature 0
                  --max-tokens "$mt" --latent-steps 2 --device cpu)
    for b in 1 "$n"; do
        "$BIN" run --method latentmas "${common[@]}" --batch "$b" --out "$T/$name-lm$b" >/dev/null 2>"$T/err" \
            || bad "$name latentmas batch $b: $(cat "$T/err")"
        "$BIN" run --method gcache --topology FullConnected --agents 3 --score-answer "${common[@]}" --batch "$b" --out "$T/$name-gc$b" \
            >/dev/null 2>"$T/err" || bad "$name gcache batch $b: $(cat "$T/err")"
    done
    for m in lm gc; do
        python3 - "$T/$name-${m}1/results.jsonl" "$T/$name-$m$n/results.jsonl" "$n" <<'PY' && ok || bad "$name $m: batch 1 and batch $n differ"
import json, sys
a, b = ({r["id"]: r for r in map(json.loads, open(p))} for p in sys.argv[1:3])
n = int(sys.argv[3])
assert sorted(a) == sorted(b) and len(a) == n, (sorted(a), sorted(b))
# answer_logp (G-cache: the decision node's teacher-forced log-probability of
# the gold answer) is compared to the last bit: it shows any numeric change.
keys = ("output", "prediction", "correct", "output_tokens", "tokens_in", "answer_logp")
same = [i for i in a if all(a[i].get(k) == b[i].get(k) for k in keys)]
print(f"  {sys.argv[1].split('/')[-2][:-1]}: {len(same)}/{n} identical at batch 1 and batch {n}")
assert len(same) == n, [(i, a[i]["output"], b[i]["output"]) for i in a if i not in same][:3]
PY
    done
}
compare tiny tests/data/tiny/chat 16 12
if [ -n "${GC_SMOL_GGUF:-}" ] && [ -e "$GC_SMOL_GGUF" ]; then compare smol "$GC_SMOL_GGUF" 3 8; fi
finish
