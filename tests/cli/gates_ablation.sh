#!/usr/bin/env bash
# gcache run --gates learned|on|off (tiny chat model): "off" hides every
# received cache (the decision node's answer and its log-probability of the
# gold answer do not depend on what the other agents computed: realignment on
# or off gives the same bits), "on" shows it (they differ), on and off differ;
# the setting is in run.json and the records, a resume with another setting is
# refused, `serve --graph-checkpoint` refuses such a run, and bad values or
# combinations are refused with a clear error.
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache
RUN=("$BIN" run --method gcache --agents 3 --latent-steps 3 --max-tokens 8 --temperature 0 --task gsm8k
     --dataset examples/gsm8k-mini.jsonl --model tests/data/tiny/chat --device cpu --max-samples 4)

# 1. A Chain with scored answers, each gate setting with and without realignment.
for g in on off; do
    for ra in realign no-realign; do
        extra=(); [ $ra = no-realign ] && extra=(--no-realign)
        "${RUN[@]}" --topology Chain --score-answer --gates $g "${extra[@]}" --out "$T/$g-$ra" >/dev/null 2>"$T/err" \
            || bad "chain --gates $g $ra: $(cat "$T/err")"
    done
done
python3 - "$T" <<'PY' && ok || bad "off hides the received caches, on shows them"
import json, sys
def load(d): return [json.loads(l) for l in open(f"{sys.argv[1]}/{d}/results.jsonl")]
on, on_nr, off, off_nr = load("on-realign"), load("on-no-realign"), load("off-realign"), load("off-no-realign")
key = lambda r: (r["output"], r["answer_logp"])
# Off: what the upstream agents computed (with or without realignment) cannot reach the answer.
assert [key(r) for r in off] == [key(r) for r in off_nr], "gates off: the answer depends on the received caches"
# On: it does (the scored log-probability moves), and on / off answer differently.
assert any(a["answer_logp"] != b["answer_logp"] for a, b in zip(on, on_nr)), "gates on: received caches unused"
assert any(a["output"] != b["output"] for a, b in zip(on, off)), "on and off gave the same answers"
# The decision node still receives the caches' positions (hidden, not dropped).
assert all(r["agents"][-1]["cache_in"] > 0 for r in off)
assert all(r["gates_forced"] == "off" for r in off) and all(r["gates_forced"] == "on" for r in on)
m = json.load(open(f"{sys.argv[1]}/off-realign/run.json"))
assert m["settings"]["gates"] == "off", m["settings"]
PY

# 2. Learned topology, untrained greedy policy (every gate p > 1/2): "on" answers as the default, "off" not;
#    the records keep the policy's own gates beside the forced ones.
for g in learned on off; do
    "${RUN[@]}" --topology Learned --train-iters 0 --gates $g --out "$T/L-$g" >/dev/null 2>"$T/err" \
        || bad "Learned --gates $g: $(cat "$T/err")"
done
python3 - "$T" <<'PY' && ok || bad "Learned topology with forced gates"
import json, sys
def load(d): return [json.loads(l) for l in open(f"{sys.argv[1]}/{d}/results.jsonl")]
learned, on, off = load("L-learned"), load("L-on"), load("L-off")
assert all("gates_forced" not in r and "policy_gates" not in r["fuser"] for r in learned)
assert [r["output"] for r in on] == [r["output"] for r in learned]
assert [r["topology"] for r in on] == [r["topology"] for r in off] == [r["topology"] for r in learned]
for r in off:
    assert r["fuser"]["gates"] == [0, 0] and r["fuser"]["policy_gates"] == [1, 1], r["fuser"]
assert any(a["output"] != b["output"] for a, b in zip(on, off))
m = json.load(open(f"{sys.argv[1]}/L-learned/run.json"))
assert "gates" not in m["settings"], m["settings"]   # the default is recorded by its absence
PY

# 3. A resume with another gate setting is refused, naming it.
if "${RUN[@]}" --topology Chain --score-answer --out "$T/off-realign" --resume >/dev/null 2>"$T/err"; then
    bad "resume with other gates accepted"
elif grep -Eq 'gates +"off" there, \(not set\) now' "$T/err"; then ok; else bad "resume message: $(cat "$T/err")"; fi

# `gcache serve --graph-checkpoint` does not serve the ablation (its answers would silently differ).
timeout 60 "$BIN" serve --model tests/data/tiny/chat --device cpu --port 0 --graph-checkpoint "$T/off-realign" \
    >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "forced its layer gates (--gates off)" "$T/err" && ok || bad "serve a gates-off run: exit $rc: $(cat "$T/err")"

# 4. Bad values and combinations: a clear error, nothing written.
expect_fail() {
    local pat=$1; shift
    if "$@" >/dev/null 2>"$T/err"; then bad "accepted: $*"; return; fi
    grep -q -- "$pat" "$T/err" && ok || bad "message for '$*' lacks '$pat': $(cat "$T/err")"
}
expect_fail "expected learned, on or off, got 'maybe'" "${RUN[@]}" --topology Chain --gates maybe --out "$T/x1"
expect_fail "need cache mode" "${RUN[@]}" --topology Chain --text-mode --gates off --out "$T/x2"
expect_fail "are for the agent graph" "$BIN" run --method latentmas --gates on --task gsm8k \
    --dataset examples/gsm8k-mini.jsonl --model tests/data/tiny/chat --device cpu --out "$T/x3"
[ ! -e "$T/x1" ] && [ ! -e "$T/x2" ] && [ ! -e "$T/x3" ] && ok || bad "a refused run left its --out folder"

finish
