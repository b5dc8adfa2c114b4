#!/usr/bin/env bash
# gcache run --topology Learned, evaluation side (tiny test model): an
# untrained policy evaluates with every gate on; --eval-policy sample is
# seeded per question (the same draws at any batch size, other draws for
# another seed); --train-offset evaluates the --offset range and refuses an
# overlap with the training questions.
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache
M=tests/data/tiny/chat
RUN=("$BIN" run --method gcache --topology Learned --agents 3 --latent-steps 1 --max-tokens 3 --task gsm8k
     --dataset examples/gsm8k-mini.jsonl --model $M --temperature 0 --device cpu)

"${RUN[@]}" --train-iters 0 --max-samples 4 --out "$T/greedy" >/dev/null 2>"$T/err" || bad "greedy run: $(cat "$T/err")"
python3 - "$T/greedy/results.jsonl" <<'PY' && ok || bad "untrained greedy evaluation"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 4
for r in recs:
    assert r["fuser"]["eval_policy"] == "greedy"
    assert r["fuser"]["gates"] == [1, 1], r["fuser"]          # tiny model: 2 layers, all received caches kept
    assert r["mode"] == "cache" and r["topology_kind"] == "Learned"
PY

# Sampled evaluation: batch 1 and batch 4 draw the same per question; seed 2 draws differently somewhere.
for b in 1 4; do
    "${RUN[@]}" --train-iters 1 --batch-size 2 --train-offset 8 --max-samples 8 --eval-policy sample --seed 1 \
        --batch $b --out "$T/s1b$b" >/dev/null 2>"$T/err" || bad "sampled run batch $b: $(cat "$T/err")"
done
"${RUN[@]}" --train-iters 1 --batch-size 2 --train-offset 8 --max-samples 8 --eval-policy sample --seed 2 \
    --out "$T/s2" >/dev/null 2>"$T/err" || bad "sampled run seed 2: $(cat "$T/err")"
python3 - "$T" <<'PY' && ok || bad "seeded sampled evaluation"
import json, sys
def load(d): return {r["id"]: r for r in map(json.loads, open(f"{sys.argv[1]}/{d}/results.jsonl"))}
a, b, c = load("s1b1"), load("s1b4"), load("s2")
assert sorted(a) == sorted(b) == sorted(c) == [str(i) for i in range(8)], sorted(a)   # the --offset range
key = lambda r: (r["topology"], r["fuser"]["gates"])
assert all(key(a[i]) == key(b[i]) for i in a)
assert any(key(a[i]) != key(c[i]) for i in a)
assert all(r["fuser"]["eval_policy"] == "sample" for r in a.values())
PY

# Overlapping training and evaluation ranges are refused before anything runs.
if "${RUN[@]}" --train-iters 2 --batch-size 2 --train-offset 2 --max-samples 3 --out "$T/ov" >/dev/null 2>"$T/err"; then
    bad "overlap accepted"
elif grep -q "training questions \[2, 6) overlap the evaluated ones \[0, 3)" "$T/err" && [ ! -e "$T/ov/train_log.jsonl" ]; then ok
else bad "overlap message: $(cat "$T/err")"; fi
if "${RUN[@]}" --eval-policy mean --out "$T/bad" >/dev/null 2>"$T/err"; then bad "--eval-policy mean accepted"
elif grep -q "expected greedy or sample" "$T/err"; then ok; else bad "eval-policy message: $(cat "$T/err")"; fi

finish
