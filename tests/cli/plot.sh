#!/usr/bin/env bash
# Training curves (tools/plot_training.py, `gcache plot`): one legend entry per
# agent pair when i->j and j->i coincide (two when they differ), the layer
# gates as a mean line with a band, integer iteration ticks on every panel,
# panels of one width, SVG + PNG written, bad logs named by line and field;
# then the curves of a real (tiny-model) training run through `gcache plot`.
# Needs matplotlib in .cache/venv (make plot-deps); exits 77 (skipped) without.
source "$(dirname "$0")/lib.sh"
BIN=$1
PY=.cache/venv/bin/python
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import matplotlib' 2>/dev/null; then
  echo "SKIP: matplotlib is not installed in .cache/venv (make plot-deps)"; exit 77
fi

"$PY" - "$T" <<'PY' && ok || bad "figure structure"
import json, math, sys
sys.path.insert(0, "tools")
import plot_training as pt
T = sys.argv[1]

def log(n_iter=5, n=4, layers=30, asym=False):
    rows = []
    for it in range(n_iter):
        ep = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                ep[i][j] = ep[j][i] = 1 / (1 + math.exp(-0.1 * (i + 2 * j + it)))
        if asym:
            ep[1][0] += 0.05
        rows.append({"iter": it, "utility": 0.0, "baseline": 0.0, "loss": 0.0, "edge_probs": ep,
                     "gate_probs": [0.5 + 0.01 * l * it / layers for l in range(layers)],
                     "roles": ["r%d" % k for k in range(n)]})
    return rows

def legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]

fig = pt.build_figure(log())
ax = fig.axes
assert len(ax) == 4, len(ax)
assert legend(ax[2]) == ["0\u20131", "0\u20132", "0\u20133", "1\u20132", "1\u20133", "2\u20133"], legend(ax[2])
assert len(ax[2].get_lines()) == 6
# Gates: one mean line and one band, not 30 lines.
assert len(ax[3].get_lines()) == 1 and len(ax[3].collections) == 1, (ax[3].get_lines(), ax[3].collections)
assert legend(ax[3]) == ["lowest to highest layer", "mean of 30 layers"], legend(ax[3])
# Utility and loss in separate panels.
assert legend(ax[0]) == ["utility (batch mean)", "baseline"] and legend(ax[1]) == ["loss"]
fig.canvas.draw()
for a in ax:
    ticks = [t for t in a.get_xticks() if 0 <= t <= 4]
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks), a.get_xticks()
    assert all(l.get_visible() for l in a.get_xticklabels()), "hidden tick labels"
x = {(round(a.get_position().x0, 6), round(a.get_position().x1, 6)) for a in ax}
assert len(x) == 1, x   # every panel as wide as the others

# Directions that differ are drawn as two arrows.
fig = pt.build_figure(log(asym=True))
assert legend(fig.axes[2])[:2] == ["0\u21921", "1\u21920"] and len(legend(fig.axes[2])) == 7, legend(fig.axes[2])
# Text mode (no gates): three panels; one iteration still draws.
rows = log(n_iter=1)
for r in rows: r["gate_probs"] = []
assert len(pt.build_figure(rows).axes) == 3
with open(T + "/log.jsonl", "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in log(n_iter=3)))
PY

# The script: SVG and PNG; bad logs named by line and field.
"$PY" tools/plot_training.py --log "$T/log.jsonl" --out "$T/c.svg" --png "$T/c.png" 2>"$T/e" || bad "plot: $(cat "$T/e")"
head -c 8 "$T/c.png" | od -An -c | grep -q "P   N   G" && [ "$(stat -c %s "$T/c.png")" -gt 10000 ] && ok || bad "PNG"
"$PY" -c 'import sys, xml.etree.ElementTree as E; assert E.parse(sys.argv[1]).getroot().tag.endswith("svg")' "$T/c.svg" \
  && ok || bad "SVG does not parse"
{ head -1 "$T/log.jsonl"; echo '{"utility": 1,'; } >"$T/bad1.jsonl"
{ head -1 "$T/log.jsonl"; echo '{"utility": 1, "baseline": 0, "loss": 0}'; } >"$T/bad2.jsonl"
: >"$T/empty.jsonl"
for c in "bad1.jsonl:2: invalid JSON" 'bad2.jsonl:2: field "edge_probs"' "empty.jsonl: no training records" \
         "nope.jsonl: No such file"; do
  f=${c%%:*}
  if "$PY" tools/plot_training.py --log "$T/$f" --out "$T/x.svg" 2>"$T/e"; then bad "$f accepted"
  else grep -qF "$c" "$T/e" && ok || bad "$f: $(cat "$T/e")"; fi
done

# A real training log through `gcache plot` (tiny model, two iterations).
"$BIN" run --method gcache --topology Learned --agents 3 --latent-steps 1 --train-iters 2 --batch-size 1 \
  --task gsm8k --dataset examples/gsm8k-mini.jsonl --model tests/data/tiny/chat --device cpu --max-tokens 4 \
  --max-samples 1 --out "$T/run" >/dev/null 2>"$T/e" || bad "training run: $(tail -3 "$T/e")"
"$BIN" plot --log "$T/run/train_log.jsonl" --out "$T/run/curves.svg" --png "$T/run/curves.png" 2>"$T/e" \
  && [ -s "$T/run/curves.svg" ] && [ -s "$T/run/curves.png" ] && grep -q "2 iterations" "$T/e" && ok \
  || bad "gcache plot: $(cat "$T/e")"

finish
