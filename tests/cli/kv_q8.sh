#!/usr/bin/env bash
# --kv q8 on the commands that run a model: generate, bench and run take it,
# the KV bytes per token drop to (head_dim + 4) / (4·head_dim) of f32's, run.json
# records the format, the multi-agent methods run on q8 caches with results
# independent of the batch; a format the device does not store and an
# unknown name fail with a message naming the problem.
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache
M=tests/data/tiny/chat   # 2 layers, 2 KV heads × 12

"$BIN" generate --model $M --prompt "Hi" --max-tokens 6 --kv q8 --device cpu --quiet >"$T/g" 2>"$T/err" \
    && ok || bad "generate --kv q8: $(cat "$T/err")"

for kv in default q8; do
    "$BIN" bench --model $M --prompt-tokens 8 --gen-tokens 4 --reps 1 --device cpu --kv $kv >"$T/b-$kv" 2>"$T/err" \
        || bad "bench --kv $kv: $(cat "$T/err")"
done
python3 - "$T/b-default" "$T/b-q8" <<'PY' && ok || bad "bench JSON: kv format and bytes per token"
import json, sys
f, q = (json.load(open(p)) for p in sys.argv[1:3])
assert f["kv"] == "f32" and q["kv"] == "q8", (f["kv"], q["kv"])
assert f["kv_bytes_per_token"] == 2 * 2 * 2 * 12 * 4, f
assert q["kv_bytes_per_token"] == 2 * 2 * 2 * (12 + 4), q
PY

"$BIN" run --method single --task gsm8k --dataset examples/gsm8k-mini.jsonl --model $M --max-samples 2 \
    --max-tokens 4 --device cpu --kv q8 --out "$T/run" >/dev/null 2>"$T/err" || bad "run --kv q8: $(cat "$T/err")"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["info"]["kv"] == "q8"' "$T/run/run.json" \
    && ok || bad "run.json info.kv is not q8"

# The multi-agent methods on q8 caches (latent steps, cache exchange with
# weighted-sum fusion): batch 1 and batch 4 give the same records, as on f32.
for b in 1 4; do
    "$BIN" run --method latentmas --task gsm8k --dataset examples/gsm8k-mini.jsonl --model $M --max-samples 4 \
        --max-tokens 6 --latent-steps 2 --temperature 0 --device cpu --kv q8 --batch $b --out "$T/lm$b" >/dev/null \
        2>"$T/err" || bad "latentmas --kv q8 batch $b: $(cat "$T/err")"
    "$BIN" run --method gcache --topology FullConnected --agents 3 --fuse wsum --task gsm8k \
        --dataset examples/gsm8k-mini.jsonl --model $M --max-samples 4 --max-tokens 6 --latent-steps 2 \
        --temperature 0 --device cpu --kv q8 --batch $b --out "$T/gc$b" >/dev/null 2>"$T/err" \
        || bad "gcache --kv q8 batch $b: $(cat "$T/err")"
done
for m in lm gc; do
    python3 - "$T/${m}1/results.jsonl" "$T/${m}4/results.jsonl" <<'PY' && ok || bad "$m --kv q8: batch 1 and batch 4 differ"
import json, sys
a, b = ({r["id"]: r for r in map(json.loads, open(p))} for p in sys.argv[1:3])
assert sorted(a) == sorted(b) and len(a) == 4
for i in a:
    assert all(a[i].get(k) == b[i].get(k) for k in ("output", "prediction", "output_tokens", "tokens_in")), i
PY
done

if "$BIN" generate --model $M --prompt "Hi" --max-tokens 2 --kv bf16 --device cpu >"$T/o" 2>"$T/err"; then
    bad "generate --kv bf16 on the CPU succeeded"
else
    grep -q "f32 or q8, not bf16" "$T/err" && ok || bad "--kv bf16 on the CPU: $(cat "$T/err")"
fi
if "$BIN" bench --model $M --kv int4 >"$T/o" 2>"$T/err"; then
    bad "--kv int4 was accepted"
else
    grep -q "expects default, f32, bf16 or q8, got 'int4'" "$T/err" && ok || bad "--kv int4: $(cat "$T/err")"
fi
finish
