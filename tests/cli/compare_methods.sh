#!/usr/bin/env bash
# bench/compare_methods.py: its statistics against hand-computed values (and
# scipy when installed), its table from hand-made result folders, its config
# checks, and a real run of two configurations × 3 questions (SmolLM2 from
# $GC_SMOL_GGUF, else the tiny test model) that is resumed and not rerun.
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache
PY=python3; [ -x .cache/venv/bin/python ] && PY=.cache/venv/bin/python
RUNNER=bench/compare_methods.py

# ---- statistics ----
$PY - <<'PY' && ok || bad "statistics"
import importlib.util, math
spec = importlib.util.spec_from_file_location("cm", "bench/compare_methods.py")
cm = importlib.util.module_from_spec(spec); spec.loader.exec_module(cm)
def close(a, b, tol): assert abs(a - b) <= tol, (a, b)
# Wilson: 6/20 by hand: centre (0.3 + z²/40)/(1 + z²/20), half z/(1 + z²/20)·sqrt(0.0105 + z²/1600).
z = 1.959963984540054
c = (0.3 + z * z / 40) / (1 + z * z / 20); h = z / (1 + z * z / 20) * math.sqrt(0.3 * 0.7 / 20 + z * z / 1600)
lo, hi = cm.wilson(6, 20); close(lo, c - h, 1e-12); close(hi, c + h, 1e-12)
close(lo, 0.14547, 5e-5); close(hi, 0.51897, 5e-5)            # published values for 6/20
lo, hi = cm.wilson(0, 10); assert lo == 0; close(hi, z * z / (10 + z * z), 1e-12)   # k = 0: upper z²/(n + z²)
lo, hi = cm.wilson(10, 10); close(lo, 10 / (10 + z * z), 1e-12); assert hi == 1
for k in range(0, 31):                                          # symmetric in k ↔ n − k
    a, b = cm.wilson(k, 30); c2, d2 = cm.wilson(30 - k, 30); close(a, 1 - d2, 1e-12); close(b, 1 - c2, 1e-12)
# Exact McNemar = two-sided binomial test on the discordant pairs.
assert cm.mcnemar_exact(1, 6) == 2 * (1 + 7) / 2 ** 7           # 0.125
assert cm.mcnemar_exact(0, 5) == 2 / 2 ** 5
assert cm.mcnemar_exact(10, 3) == 2 * (1 + 13 + 78 + 286) / 2 ** 13
assert cm.mcnemar_exact(4, 4) == 1.0 and cm.mcnemar_exact(0, 0) == 1.0
try:
    from scipy.stats import binomtest
    for b in range(0, 15):
        for c3 in range(0, 15):
            if b + c3: close(cm.mcnemar_exact(b, c3), binomtest(b, b + c3, 0.5).pvalue, 1e-12)
    print("  McNemar checked against scipy")
except ImportError:
    pass
# Paired bootstrap: degenerate cases are exact, a mixed one brackets the observed difference.
assert cm.paired_bootstrap([1, 0, 1, 0], [1, 0, 1, 0], 500) == (0.0, 0.0)
assert cm.paired_bootstrap([1] * 8, [0] * 8, 500) == (1.0, 1.0)
a = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1] * 5; b = [0, 1, 0, 0, 1, 1, 0, 1, 0, 0] * 5
lo, hi = cm.paired_bootstrap(a, b, 4000)
d = (sum(a) - sum(b)) / len(a)
assert -1 <= lo < d < hi <= 1 and cm.paired_bootstrap(a, b, 4000) == (lo, hi)
# sd of the paired differences is 0.6 (d = 0.3): the interval is about d ± 1.96·0.6/√50.
close(lo, d - 1.96 * math.sqrt(0.7 - 0.09) / math.sqrt(50), 0.04); close(hi, d + 1.96 * math.sqrt(0.61) / math.sqrt(50), 0.04)
m, s = cm.mean_sd([0.2, 0.3, 0.4]); close(m, 0.3, 1e-15); close(s, 0.1, 1e-15)
PY

# ---- the table from hand-made result folders ----
mkdir -p "$T/syn/single" "$T/syn/better" "$T/syn/sampled/seed-1" "$T/syn/sampled/seed-2" "$T/syn/sampled/seed-3"
$PY - "$T/syn" <<'PY' || bad "writing the hand-made folders"
import json, sys, os
d = sys.argv[1]
def write(sub, correct, extra=""):
    with open(os.path.join(d, sub, "results.jsonl"), "w") as f:
        for i, c in enumerate(correct):
            f.write(json.dumps({"id": f"q{i}", "correct": bool(c), "output_tokens": 10 + i, "tokens_in": 100,
                                "seconds": 0.5}) + "\n")
        f.write(extra)
base = [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0]
write("single", base)
# better: right where single is right except q0 (c = 1), and right on q1, q2, q4, q5, q7 (b = 5);
# a duplicated q1 line (last one counts) and a torn last line.
better = [0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0]
write("better", [0, 0] + better[2:], json.dumps({"id": "q1", "correct": True, "output_tokens": 11, "tokens_in": 100,
                                                  "seconds": 0.5}) + "\n" + '{"id": "q99", "corr')
for s, k in ((1, 3), (2, 5), (3, 7)):
    write(f"sampled/seed-{s}", [1] * k + [0] * (12 - k))
PY
cat >"$T/syn.json" <<'JSON'
{"common": ["--task", "gsm8k", "--max-tokens", "8"], "baseline": "single",
 "methods": [{"name": "single", "args": ["--method", "single"]},
             {"name": "better", "args": "--method latentmas"},
             {"name": "sampled", "args": "--method gcache --topology Learned --eval-policy sample", "seeds": [1, 2, 3]}]}
JSON
$PY $RUNNER --config "$T/syn.json" --out "$T/syn" --report-only --bootstrap 2000 2>"$T/err" || bad "report-only: $(cat "$T/err")"
$PY - "$T/syn" <<'PY' && ok || bad "hand-made table"
import csv, sys, os
rows = {(r["method"], r["seed"]): r for r in csv.DictReader(open(os.path.join(sys.argv[1], "comparison.csv")))}
s, b = rows[("single", "0")], rows[("better", "0")]
assert s["n"] == "12" and s["correct"] == "4" and s["diff_vs_baseline"] == ""
assert b["n"] == "12" and b["correct"] == "8", b            # duplicate counted once (last), torn line dropped
assert (b["mcnemar_b"], b["mcnemar_c"], b["paired_n"]) == ("5", "1", "12"), b
assert abs(float(b["mcnemar_p"]) - 2 * (1 + 6) / 64) < 1e-12
assert abs(float(b["diff_vs_baseline"]) - 4 / 12) < 1e-12
assert abs(float(b["out_tokens_per_q"]) - sum(10 + i for i in range(12)) / 12) < 1e-12
m = rows[("sampled", "mean")]
assert abs(float(m["accuracy"]) - 5 / 12) < 1e-12 and abs(float(m["acc_sd_over_seeds"]) - 2 / 12) < 1e-12, m
assert m["n_seeds"] == "3" and abs(float(m["diff_vs_baseline"]) - 1 / 12) < 1e-12
for s_ in ("1", "2", "3"):
    assert rows[("sampled", s_)]["paired_n"] == "12"
md = open(os.path.join(sys.argv[1], "comparison.md")).read()
assert "| better | 12 | 66.7 % (8/12) |" in md and "5/1, p = 0.219" in md, md
assert "sampled (3 seeds)" in md and "41.7 ± 16.7 %" in md, md
pq = list(csv.DictReader(open(os.path.join(sys.argv[1], "per_question.csv"))))
assert list(pq[0]) == ["id", "single", "better", "sampled/seed-1", "sampled/seed-2", "sampled/seed-3"], list(pq[0])
assert len(pq) == 12 and len({r["id"] for r in pq}) == 12
for col, n in (("single", 4), ("better", 8), ("sampled/seed-1", 3), ("sampled/seed-2", 5), ("sampled/seed-3", 7)):
    assert sum(int(r[col]) for r in pq) == n, (col, [r[col] for r in pq])
# the paired counts of the table follow from the per-question columns
assert sum(1 for r in pq if r["better"] == "1" and r["single"] == "0") == 5
assert sum(1 for r in pq if r["better"] == "0" and r["single"] == "1") == 1
PY

# ---- config checks ----
expect_cfg_fail() {   # expect_cfg_fail MESSAGE JSON
    echo "$2" >"$T/badcfg.json"
    if $PY $RUNNER --config "$T/badcfg.json" --out "$T/badexp" --dry-run >/dev/null 2>"$T/err"; then bad "accepted: $2"
    elif grep -q -- "$1" "$T/err"; then ok; else bad "message lacks '$1': $(cat "$T/err")"; fi
}
expect_cfg_fail "temperature belongs in 'common'" '{"methods": [{"name": "single", "args": "--method single --temperature 0.7"}]}'
expect_cfg_fail "set by the runner" '{"methods": [{"name": "single", "args": "--method single --seed 3"}]}'
expect_cfg_fail "baseline 'single' is not one" '{"methods": [{"name": "a", "args": "--method textmas"}]}'
expect_cfg_fail "used twice" '{"methods": [{"name": "single", "args": "--method single"}, {"name": "single"}]}'
expect_cfg_fail "distinct integers" '{"methods": [{"name": "single", "args": "--method single", "seeds": [1, 1]}]}'
expect_cfg_fail "names a folder" '{"methods": [{"name": "../x", "args": "--method single"}], "baseline": null}'
expect_cfg_fail "badcfg.json" '{"methods": [}'
expect_cfg_fail "'b' is not one of the methods" '{"methods": [{"name": "single"}], "identical": [["single", "b"]]}'
expect_cfg_fail "two different configuration names" '{"methods": [{"name": "single"}], "identical": [["single", "single"]]}'
expect_cfg_fail "several seeds" '{"methods": [{"name": "single"}, {"name": "s", "seeds": [1, 2]}], "identical": [["single", "s"]]}'
# --only runs the named configurations alone and refuses a name the config lacks
echo '{"methods": [{"name": "single", "args": "--method single"}, {"name": "lat", "args": "--method latentmas"}]}' >"$T/two.json"
if $PY $RUNNER --config "$T/two.json" --out "$T/twoexp" --dry-run --only lat 2>"$T/err" >/dev/null \
    && grep -q "^\[compare\] lat seed" "$T/err" && ! grep -q "^\[compare\] single seed" "$T/err"; then ok
else bad "--only lat: $(cat "$T/err")"; fi
if $PY $RUNNER --config "$T/two.json" --out "$T/twoexp" --dry-run --only nope 2>"$T/err" >/dev/null; then bad "--only nope accepted"
elif grep -q "no configuration named nope" "$T/err"; then ok; else bad "--only nope: $(cat "$T/err")"; fi

# ---- a real run: 2 configurations × 3 questions ----
# GC_COMPARE_TEST_MODEL: another model (the sanitizer build sets the tiny one).
MODEL=${GC_COMPARE_TEST_MODEL:-${GC_SMOL_GGUF:-tests/data/tiny/chat}}
[ -e "$MODEL" ] || MODEL=tests/data/tiny/chat
cat >"$T/real.json" <<JSON
{"common": ["--task", "gsm8k", "--dataset", "examples/gsm8k-mini.jsonl", "--model", "$MODEL", "--max-samples", "3",
            "--temperature", "0", "--max-tokens", "8", "--batch", "3", "--device", "cpu"],
 "baseline": "single",
 "methods": [{"name": "single", "args": ["--method", "single"]},
             {"name": "latentmas", "args": "--method latentmas --latent-steps 1"},
             {"name": "latentmas-b1", "args": "--method latentmas --latent-steps 1 --batch 1"}],
 "identical": [["latentmas", "latentmas-b1"], ["single", "latentmas"]]}
JSON
E=$T/real
$PY $RUNNER --config "$T/real.json" --out "$E" --gcache "$BIN" --bootstrap 1000 >"$T/out" 2>"$T/err" \
    || bad "real run: $(tail -5 "$T/err")"
$PY - "$E" <<'PY' && ok || bad "real run table"
import csv, json, os, sys, xml.etree.ElementTree as ET
e = sys.argv[1]
rows = {r["method"]: r for r in csv.DictReader(open(os.path.join(e, "comparison.csv")))}
for name in ("single", "latentmas"):
    r, summ = rows[name], json.load(open(os.path.join(e, name, "summary.json")))
    recs = [json.loads(l) for l in open(os.path.join(e, name, "results.jsonl"))]
    assert r["n"] == "3" and len(recs) == 3, r
    # the runner's numbers agree with gcache's own summary and with the records
    assert int(r["correct"]) == sum(x["correct"] for x in recs)
    assert abs(float(r["out_tokens_per_q"]) - sum(x["output_tokens"] for x in recs) / 3) < 1e-9
    assert abs(float(r["in_tokens_per_q"]) - sum(x["tokens_in"] for x in recs) / 3) < 1e-9
    flat = json.dumps(summ)
    assert str(sum(x["correct"] for x in recs)) in flat, summ
    assert all(x["method"] == name for x in recs)
assert rows["latentmas"]["paired_n"] == "3" and float(rows["latentmas"]["in_tokens_per_q"]) > float(rows["single"]["in_tokens_per_q"])
root = ET.parse(os.path.join(e, "accuracy_vs_tokens.svg")).getroot()
assert root.tag.endswith("svg") and len([c for c in root.iter() if c.tag.endswith("circle")]) >= 4
# batch invariance: LatentMAS at batch 3 and 1 agree output for output; single and
# LatentMAS are different methods (their outputs differ on at least one question)
md = open(os.path.join(e, "comparison.md")).read()
assert "| latentmas = latentmas-b1 | 3 | 3/3 | 3/3 | – |" in md, md
line = [l for l in md.splitlines() if l.startswith("| single = latentmas |")][0]
assert not line.endswith("| – |") and "| 3 |" in line, line
png = os.path.join(e, "accuracy_vs_tokens.png")
assert not os.path.exists(png) or open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
PY
[ -s "$E/accuracy_vs_tokens.png" ] || ! command -v rsvg-convert >/dev/null && ok || bad "no PNG although rsvg-convert exists"

# Finished configurations are not run again ...
sum_before=$(cat "$E"/*/results.jsonl | md5sum)
$PY $RUNNER --config "$T/real.json" --out "$E" --gcache "$BIN" --bootstrap 1000 >"$T/out" 2>"$T/err" || bad "rerun failed"
[ "$(grep -c 'finished, not run again' "$T/err")" = 3 ] && [ "$(cat "$E"/*/results.jsonl | md5sum)" = "$sum_before" ] \
    && ok || bad "finished configurations ran again: $(cat "$T/err")"
# ... an interrupted one resumes (only its missing questions run) ...
rm "$E/single/runner.json"; head -n 1 "$E/single/results.jsonl" >"$T/first"; cp "$T/first" "$E/single/results.jsonl"
$PY $RUNNER --config "$T/real.json" --out "$E" --gcache "$BIN" --bootstrap 1000 >"$T/out" 2>"$T/err" || bad "resume failed"
[ "$(wc -l <"$E/single/results.jsonl")" = 3 ] && [ "$(head -n 1 "$E/single/results.jsonl")" = "$(cat "$T/first")" ] \
    && [ -s "$E/single/runner.json" ] && grep -q "resuming: 1 questions already done" "$T/err" && ok \
    || bad "resume: $(wc -l <"$E/single/results.jsonl") lines; $(tail -3 "$T/err")"
# ... a moved experiment folder still counts as finished ...
cp -r "$E" "$T/moved"
$PY $RUNNER --config "$T/real.json" --out "$T/moved" --gcache "$BIN" --bootstrap 1000 >"$T/out" 2>"$T/err" || bad "moved folder: $(cat "$T/err")"
[ "$(grep -c 'finished, not run again' "$T/err")" = 3 ] && ok || bad "moved folder ran again: $(cat "$T/err")"
# ... and a finished folder is not mixed with a changed configuration of the same name.
sed 's/--latent-steps 1/--latent-steps 2/' "$T/real.json" >"$T/changed.json"
if $PY $RUNNER --config "$T/changed.json" --out "$E" --gcache "$BIN" >/dev/null 2>"$T/err"; then bad "changed config accepted"
elif grep -q "finished with another command" "$T/err"; then ok; else bad "changed config: $(cat "$T/err")"; fi

finish
