#!/usr/bin/env bash
# `gcache run` on bad input and on --resume, with the tiny chat model:
# failed validation leaves no --out folder; error texts name what is wrong
# (every method, the file, the field); --resume into a folder of another
# run is refused with what differs; run.json / summary.json record the run;
# the training progress counts iterations; `gcache graph` names a missing log.
source "$(dirname "$0")/lib.sh"
BIN=$1
M=(--model tests/data/tiny/chat --device cpu)
DATA=examples/gsm8k-mini.jsonl
small=(--max-tokens 4 --temperature 0)

# expect_fail PATTERN CMD...: non-zero exit, PATTERN (grep -E) in stderr.
expect_fail() {
  local pat=$1; shift
  if "$@" >"$T/out" 2>"$T/err"; then bad "should fail: $*"; return 1; fi
  grep -Eq -- "$pat" "$T/err" || { bad "message for '$*' lacks '$pat': $(cat "$T/err")"; return 1; }
  return 0
}
# no_dir DIR: the failed command left nothing behind.
no_dir() { [ ! -e "$1" ] && ok || bad "$1 was left behind: $(ls -la "$1" 2>&1 | head -5)"; }

# 1. Bad input: a clear error and no --out folder (nor its parents).
O=$T/new/a/b
expect_fail "unknown method 'latentmass' \(single, textmas, latentmas, gcache, api\)" \
  "$BIN" run --method latentmass --task gsm8k --dataset $DATA "${M[@]}" --out "$O" && no_dir "$T/new"
expect_fail 'unknown task "gsm8kk"' "$BIN" run --method single --task gsm8kk --dataset $DATA "${M[@]}" --out "$O" \
  && no_dir "$T/new"
expect_fail "no_such.jsonl: cannot open" "$BIN" run --method single --task gsm8k --dataset "$T/no_such.jsonl" "${M[@]}" \
  --out "$O" && no_dir "$T/new"
: >"$T/empty.jsonl"
expect_fail "empty.jsonl: empty file" "$BIN" run --method single --task gsm8k --dataset "$T/empty.jsonl" "${M[@]}" \
  --out "$O" && no_dir "$T/new"
expect_fail "gsm8k_bad.jsonl:2: invalid JSON" "$BIN" run --method single --task gsm8k --strict \
  --dataset tests/data/eval/gsm8k_bad.jsonl "${M[@]}" --out "$O" && no_dir "$T/new"
expect_fail "no-model-here" "$BIN" run --method single --task gsm8k --dataset $DATA --model "$T/no-model-here" \
  --device cpu --out "$O" && no_dir "$T/new"
expect_fail "max-samples.*\[1," "$BIN" run --method single --task gsm8k --dataset $DATA "${M[@]}" --max-samples 0 \
  --out "$O" && no_dir "$T/new"
expect_fail "unknown topology|Tree" "$BIN" run --method gcache --topology Tree --task gsm8k --dataset $DATA "${M[@]}" \
  --out "$O" && no_dir "$T/new"
# A named --env-file that does not exist: an error naming it, even with every setting in the environment.
expect_fail "$T/typo.env: cannot read the settings file: No such file" env API_BASE_URL=http://127.0.0.1:9/v1 \
  API_MODEL=m "$BIN" run --method api --task gsm8k --dataset $DATA --env-file "$T/typo.env" --out "$O" \
  && no_dir "$T/new"
# A folder that existed before a failed start stays.
mkdir -p "$T/kept"
expect_fail "empty file" "$BIN" run --method single --task gsm8k --dataset "$T/empty.jsonl" "${M[@]}" --out "$T/kept"
[ -d "$T/kept" ] && [ -z "$(ls -A "$T/kept")" ] && ok || bad "pre-existing --out folder removed or written"

# 2. A run records what produced it; a trace file inside a new --out works.
R=$T/runs/single
"$BIN" run --method single --task gsm8k --dataset $DATA "${M[@]}" "${small[@]}" --max-samples 2 --out "$R" \
  --trace "$R/trace.jsonl" >/dev/null 2>"$T/e1" || bad "first run: $(tail -3 "$T/e1")"
python3 - "$R" <<'PY' && ok || bad "run.json / summary.json contents"
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/run.json"))
s = json.load(open(d + "/summary.json"))
assert s["questions"] == 2 and s["run"] == m, s
assert m["method"] == "single" and m["task"] == "gsm8k", m
assert m["dataset"]["path"] == "examples/gsm8k-mini.jsonl" and m["dataset"]["bytes"] > 0 and len(m["dataset"]["fnv1a"]) == 16
assert m["model"]["path"] == "tests/data/tiny/chat" and m["model"]["bytes"] > 0
assert m["settings"]["temperature"] == 0 and m["settings"]["max_tokens"] == 4 and m["settings"]["seed"] == 0
assert sum(1 for _ in open(d + "/trace.jsonl")) > 0
PY
# The CUDA switches reach `gcache run` (gc_run_params.engine.cuda); the CPU ignores them: the same records.
"$BIN" run --method single --task gsm8k --dataset $DATA "${M[@]}" "${small[@]}" --max-samples 2 --out "$T/runs/bi" \
  --cuda-batch-invariant --cuda-graphs 0 >/dev/null 2>"$T/e1" || bad "run with --cuda-*: $(tail -3 "$T/e1")"
python3 - "$R/results.jsonl" "$T/runs/bi/results.jsonl" <<'PY' && ok || bad "run with --cuda-batch-invariant on the CPU"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
keys = ("id", "output", "prediction", "output_tokens")
assert len(a) == len(b) == 2 and [[r.get(k) for k in keys] for r in a] == [[r.get(k) for k in keys] for r in b], (a, b)
PY
"$BIN" run --help | grep -q -- "--cuda-batch-invariant" && ok || bad "run --help lacks the CUDA switches"

# 3. --resume into it with another method / dataset / setting: refused, naming the difference; nothing appended.
lines() { wc -l <"$R/results.jsonl"; }
n0=$(lines)
expect_fail 'method +"single" there, "latentmas" now' "$BIN" run --method latentmas --latent-steps 1 --task gsm8k \
  --dataset $DATA "${M[@]}" "${small[@]}" --max-samples 3 --out "$R" --resume && ok
expect_fail 'dataset +examples/gsm8k-mini.jsonl .* there, tests/data/eval/gsm8k.jsonl' "$BIN" run --method single \
  --task gsm8k --dataset tests/data/eval/gsm8k.jsonl "${M[@]}" "${small[@]}" --max-samples 3 --out "$R" --resume && ok
expect_fail 'temperature +0 there, 0.7 now' "$BIN" run --method single --task gsm8k --dataset $DATA "${M[@]}" \
  --max-tokens 4 --temperature 0.7 --max-samples 3 --out "$R" --resume && ok
# Another model: the tiny chat model with a changed config (same file names).
cp -r tests/data/tiny/chat "$T/chat2" && echo >>"$T/chat2/config.json"
expect_fail "model +tests/data/tiny/chat .* there, $T/chat2" "$BIN" run --method single --task gsm8k --dataset $DATA \
  --model "$T/chat2" --device cpu "${small[@]}" --max-samples 3 --out "$R" --resume && ok
[ "$(lines)" = "$n0" ] && ok || bad "a refused resume changed results.jsonl"
# The same run (the dataset copied elsewhere, more questions) resumes.
cp $DATA "$T/copy.jsonl"
"$BIN" run --method single --task gsm8k --dataset "$T/copy.jsonl" "${M[@]}" "${small[@]}" --max-samples 3 --out "$R" \
  --resume >/dev/null 2>"$T/e2" && [ "$(lines)" = 3 ] && ok || bad "same-run resume: $(tail -3 "$T/e2")"
# A run.json that is not what gcache writes: refused, naming the file (no crash).
cp "$R/run.json" "$T/run.json.good"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); m["settings"]=[1,2]; json.dump(m,open(sys.argv[1],"w"))' "$R/run.json"
expect_fail 'settings +\[1,2\] there' "$BIN" run --method single --task gsm8k --dataset $DATA "${M[@]}" "${small[@]}" \
  --max-samples 3 --out "$R" --resume && ok
echo '{"method": ' >"$R/run.json"
expect_fail "$R/run.json: not a JSON object" "$BIN" run --method single --task gsm8k --dataset $DATA "${M[@]}" \
  "${small[@]}" --max-samples 3 --out "$R" --resume && ok
cp "$T/run.json.good" "$R/run.json"
# Results without run.json: their records' method is checked.
rm "$R/run.json"
expect_fail 'holds results of --method single' "$BIN" run --method textmas --task gsm8k --dataset $DATA "${M[@]}" \
  "${small[@]}" --max-samples 3 --out "$R" --resume && ok

# 4. Training progress counts iterations; `graph` on a folder without a log names the file.
G=$T/runs/gc
"$BIN" run --method gcache --topology Learned --agents 2 --latent-steps 1 --train-iters 2 --batch-size 1 \
  --task gsm8k --dataset $DATA "${M[@]}" "${small[@]}" --max-samples 1 --out "$G" >/dev/null 2>"$T/e3" \
  || bad "gcache Learned run: $(tail -3 "$T/e3")"
grep "training the policy" "$T/e3" | grep -Eq "[0-9.]+ (s/it|it/s)" && ! grep "training the policy" "$T/e3" | grep -q "q/s\|s/q" \
  && ok || bad "training progress unit: $(grep 'training the policy' "$T/e3")"
"$BIN" graph --checkpoint "$G" --out "$T/topology.svg" >/dev/null 2>&1 || command -v dot >/dev/null || true
mkdir -p "$T/nolog"
expect_fail "file not found: $T/nolog/train_log.jsonl" "$BIN" graph --checkpoint "$T/nolog" --out "$T/x.svg" && ok

# --prefill-rows reaches the scheduler: 7 rows per step feed each agent's
# ~250-token prompt over many steps (the profile's count of steps with prompt
# rows), run.json records it, and the answers equal those of the default.
for r in 7 512; do
  "$BIN" run --method latentmas --task gsm8k --dataset $DATA "${M[@]}" "${small[@]}" --latent-steps 1 --max-samples 2 \
      --batch 2 --prefill-rows $r --profile --out "$T/pr$r" >/dev/null 2>"$T/pr$r.err" || bad "--prefill-rows $r: $(cat "$T/pr$r.err")"
done
python3 - "$T" <<'PY' && ok || bad "--prefill-rows 7 vs 512"
import json, re, sys
t = sys.argv[1]
def prompt_steps(r):   # "sched: ... (N steps; K of them with prompt rows: ...)"
    return sum(int(m) for m in re.findall(r"(\d+) of them with prompt rows", open(f"{t}/pr{r}.err").read()))
assert prompt_steps(7) > 4 * prompt_steps(512) > 0, (prompt_steps(7), prompt_steps(512))
assert json.load(open(f"{t}/pr7/run.json"))["info"]["prefill_rows"] == 7
out = lambda r: [(x["id"], x["output"]) for x in map(json.loads, open(f"{t}/pr{r}/results.jsonl"))]
assert out(7) == out(512), (out(7), out(512))
PY
expect_fail "prefill-rows" "$BIN" run --method latentmas --task gsm8k --dataset $DATA "${M[@]}" --prefill-rows 0 && ok

finish
