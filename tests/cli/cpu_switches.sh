#!/usr/bin/env bash
# The CPU switches (--cpu-gguf-layout: the fast path on the weights in the
# file's layout instead of their repacked copy; --cpu-avx2) change no result:
# run, generate and chat take them, and a greedy LatentMAS run on SmolLM2
# ($GC_SMOL_GGUF: Q4_1 layers, a Q8_0 LM head, so both layouts are used)
# gives the same records with each as without. An unknown --cpu-* option fails.
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache
M=tests/data/tiny/chat

for sw in --cpu-gguf-layout --cpu-avx2; do
    "$BIN" generate --model $M --prompt "Hi" --max-tokens 4 --device cpu --quiet $sw >/dev/null 2>"$T/err" \
        && ok || bad "generate $sw: $(cat "$T/err")"
    "$BIN" chat --help | grep -q -- "$sw" && ok || bad "chat --help does not list $sw"
done
"$BIN" generate --model $M --prompt "Hi" --max-tokens 4 --device cpu --cpu-layout 2>"$T/err" >/dev/null \
    && bad "generate --cpu-layout (unknown) succeeded" || ok

if [ -n "${GC_SMOL_GGUF:-}" ] && [ -e "$GC_SMOL_GGUF" ]; then
    common=(--method latentmas --task gsm8k --dataset examples/gsm8k-mini.jsonl --model "$GC_SMOL_GGUF" --max-samples 2
            --temperature 0 --max-tokens 8 --latent-steps 2 --batch 2 --device cpu)
    for v in default gguf avx2; do
        sw=(); [ $v = gguf ] && sw=(--cpu-gguf-layout); [ $v = avx2 ] && sw=(--cpu-avx2)
        "$BIN" run "${common[@]}" "${sw[@]}" --out "$T/$v" >/dev/null 2>"$T/err" || bad "run $v: $(cat "$T/err")"
    done
    for v in gguf avx2; do
        python3 - "$T/default/results.jsonl" "$T/$v/results.jsonl" <<'PY' && ok || bad "run: --cpu-$v changed the records"
import json, sys
a, b = ({r["id"]: r for r in map(json.loads, open(p))} for p in sys.argv[1:3])
keys = ("output", "prediction", "output_tokens", "tokens_in")
assert sorted(a) == sorted(b) and len(a) == 2, (sorted(a), sorted(b))
assert all(a[i].get(k) == b[i].get(k) for i in a for k in keys), [(a[i]["output"], b[i]["output"]) for i in a]
PY
    done
fi
finish
