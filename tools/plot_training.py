#!/usr/bin/env python3
"""Training curves of a `gcache run --method gcache --topology Learned` run.

Reads OUT/train_log.jsonl (one JSON object per policy-gradient iteration:
utility, baseline, loss, edge_probs N x N, gate_probs L, roles) and draws, one
panel under the other on a shared iteration axis:

  1. utility (batch mean) and the REINFORCE baseline, on [0, 1];
  2. the loss, on its own scale (it sits near 0 while utility does not);
  3. the spatial edge probabilities: GDesigner's scores S = Z Z^T are
     symmetric, so i->j and j->i are one curve, drawn once as "i-j"; a pair
     whose two directions differ is drawn as two arrows;
  4. the layer gates (cache mode only): their mean, with the band from the
     lowest to the highest layer's probability.

    python3 tools/plot_training.py --log runs/gc/train_log.jsonl --out runs/gc/curves.svg --png runs/gc/curves.png

Needs matplotlib (`make plot-deps` installs it into .cache/venv).
"""
import argparse
import json
import math
import sys

# Two directions of an edge closer than this are the same curve.
SAME_EDGE = 1e-9


class LogError(Exception):
    pass


def read_log(path):
    """The records of a training log; a line that is not a JSON object with
    the fields the plot needs is an error naming the line and the field."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise LogError("%s: %s" % (path, e.strerror or e))
    records = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = "%s:%d" % (path, no)
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise LogError("%s: invalid JSON (%s)" % (where, e.msg))
        if not isinstance(r, dict):
            raise LogError("%s: expected a JSON object" % where)
        for key in ("utility", "baseline", "loss"):
            if not isinstance(r.get(key), (int, float)):
                raise LogError('%s: field "%s": expected a number' % (where, key))
        ep = r.get("edge_probs")
        if not isinstance(ep, list) or not all(isinstance(row, list) and len(row) == len(ep) for row in ep):
            raise LogError('%s: field "edge_probs": expected a square array' % where)
        if records and len(ep) != len(records[0]["edge_probs"]):
            raise LogError('%s: field "edge_probs": %d agents, earlier lines have %d' % (where, len(ep), len(records[0]["edge_probs"])))
        gp = r.get("gate_probs", [])
        if not isinstance(gp, list) or not all(isinstance(g, (int, float)) for g in gp):
            raise LogError('%s: field "gate_probs": expected an array of numbers' % where)
        records.append(r)
    if not records:
        raise LogError("%s: no training records" % path)
    return records


def edge_series(records):
    """[(label, values)] for the spatial edges: one series per unordered pair
    when both directions agree at every iteration, else one per direction."""
    n = len(records[0]["edge_probs"])
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            a = [r["edge_probs"][i][j] for r in records]
            b = [r["edge_probs"][j][i] for r in records]
            if all(abs(x - y) <= SAME_EDGE for x, y in zip(a, b)):
                out.append(("%d\u2013%d" % (i, j), a))
            else:
                out.append(("%d\u2192%d" % (i, j), a))
                out.append(("%d\u2192%d" % (j, i), b))
    return out


def gate_summary(records):
    """(mean, lowest, highest) layer-gate probability per iteration, or None
    when the log has no gates (text mode)."""
    if not any(r.get("gate_probs") for r in records):
        return None
    mean, lo, hi = [], [], []
    for r in records:
        g = r.get("gate_probs") or [math.nan]
        mean.append(sum(g) / len(g))
        lo.append(min(g))
        hi.append(max(g))
    return mean, lo, hi


def build_figure(records):
    """The figure; its axes in order are utility, loss, edges and (if any) gates."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    its = [r.get("iter", k) for k, r in enumerate(records)]
    gates = gate_summary(records)
    rows = 4 if gates else 3
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(9, 2.3 * rows + 0.6), layout="constrained",
                             height_ratios=[1, 0.7, 1.3] + ([1] if gates else []))
    marker = "o" if len(records) <= 30 else None
    roles = records[-1].get("roles") or []
    if roles:
        fig.suptitle("agents: " + ", ".join("%d %s" % (k, r) for k, r in enumerate(roles)), fontsize=9)

    ax = axes[0]
    # Hollow circles under a dashed line: both stay visible where they coincide.
    ax.plot(its, [r["utility"] for r in records], marker=marker, markersize=8, markerfacecolor="none",
            label="utility (batch mean)")
    ax.plot(its, [r["baseline"] for r in records], marker="." if marker else None, linestyle="--", label="baseline")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("utility")
    ax.set_title("utility and baseline", fontsize=10, loc="left")

    ax = axes[1]
    ax.plot(its, [r["loss"] for r in records], marker=marker, color="tab:red", label="loss")
    ax.axhline(0, color="0.8", linewidth=0.8, zorder=0)
    ax.set_ylabel("loss")
    ax.set_title("REINFORCE loss", fontsize=10, loc="left")

    ax = axes[2]
    # Line styles cycle too, so that two pairs with equal probabilities stay visible.
    for k, (label, ys) in enumerate(edge_series(records)):
        ax.plot(its, ys, marker=marker, markersize=3, linestyle=("-", "--", ":", "-.")[k % 4], label=label)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("p(edge)")
    ax.set_title("spatial edge probabilities (mean over the batch's questions)", fontsize=10, loc="left")

    if gates:
        mean, lo, hi = gates
        n_layers = max(len(r.get("gate_probs") or []) for r in records)
        ax = axes[3]
        ax.fill_between(its, lo, hi, alpha=0.25, color="tab:green", label="lowest to highest layer")
        ax.plot(its, mean, marker=marker, color="tab:green", label="mean of %d layers" % n_layers)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("p(gate open)")
        ax.set_title("layer gate probabilities", fontsize=10, loc="left")

    for ax in axes:
        # Every panel keeps its own tick labels on the shared iteration axis.
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelbottom=True)
        ax.grid(True, color="0.92")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes[-1].set_xlabel("iteration")
    if len(its) == 1:
        axes[-1].set_xlim(its[0] - 1, its[0] + 1)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", required=True, help="train_log.jsonl of a gcache run")
    ap.add_argument("--out", required=True, help="SVG file to write")
    ap.add_argument("--png", help="also write a PNG")
    a = ap.parse_args(argv)
    try:
        records = read_log(a.log)
    except LogError as e:
        print("plot_training: %s" % e, file=sys.stderr)
        return 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("plot_training: matplotlib is missing (make plot-deps installs it into .cache/venv; "
              "run this script with .cache/venv/bin/python)", file=sys.stderr)
        return 1
    fig = build_figure(records)
    try:
        fig.savefig(a.out, format="svg")
        if a.png:
            fig.savefig(a.png, format="png", dpi=110)
    except OSError as e:
        print("plot_training: cannot write: %s" % e, file=sys.stderr)
        return 1
    print("plot_training: wrote %s%s (%d iterations)" % (a.out, " and " + a.png if a.png else "", len(records)),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
