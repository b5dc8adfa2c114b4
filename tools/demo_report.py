#!/usr/bin/env python3
"""Prints what `make demo` should show from a `gcache run` output folder: the
accuracy, one question the agents answered correctly with the topology and
layer gates its decision used and how much cache each agent handed on, and
where the full evidence is.

    python3 tools/demo_report.py runs/demo

Standard library only (it runs before any venv exists). Exits 1 when the
folder has no results (the run failed), 0 otherwise, also when no answer was
correct (then it says so and shows the closest record instead).
"""
import json
import os
import sys


def load(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not a JSON record ({e})")
    return records


def edges(topo):
    """Spatial edges as 'role i → role j' pairs."""
    return [(int(a), int(b)) for a, b in (topo or {}).get("spatial", [])]


def show(rec):
    agents = rec.get("agents", [])
    roles = [a.get("role", f"agent {i}") for i, a in enumerate(agents)]
    print(f"  question  {rec.get('question', '').strip()}")
    print(f"  gold      {rec.get('gold')}   prediction {rec.get('prediction')}   "
          f"({'correct' if rec.get('correct') else 'wrong'})")
    kind = rec.get("topology_kind", "")
    mode = rec.get("mode", "")
    es = edges(rec.get("topology"))
    print(f"  topology  {kind} ({mode} mode), {len(es)} spatial edge(s):")
    for a, b in es:
        ra = roles[a] if a < len(roles) else f"agent {a}"
        rb = roles[b] if b < len(roles) else f"agent {b}"
        print(f"              {ra} → {rb}")
    gates = (rec.get("fuser") or {}).get("gates")
    if gates:
        print(f"  gates     {sum(1 for g in gates if g)} of {len(gates)} layers read the received caches")
    for i, a in enumerate(agents):
        print(f"  agent {i}   {a.get('role', ''):22s} prompt {a.get('prompt_tokens', 0):4d}  "
              f"latent {a.get('latent_steps', 0):3d}  cache in {a.get('cache_in', 0):4d}  "
              f"out {a.get('cache_out', 0):4d} positions  text out {a.get('out_tokens', 0)} tokens")
    out = (rec.get("output") or "").strip()
    if len(out) > 600:
        out = out[:600] + " …"
    print("  answer    " + out.replace("\n", "\n            "))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: demo_report.py RUN_FOLDER")
    folder = sys.argv[1]
    path = os.path.join(folder, "results.jsonl")
    if not os.path.exists(path):
        print(f"[demo] {path}: file not found (the run failed?)", file=sys.stderr)
        return 1
    recs = load(path)
    if not recs:
        print(f"[demo] {path}: no results", file=sys.stderr)
        return 1
    right = [r for r in recs if r.get("correct")]
    print(f"[demo] {len(right)} of {len(recs)} evaluated questions answered correctly")
    if right:
        # The richest exchange among the correct ones: most spatial edges.
        best = max(right, key=lambda r: len(edges(r.get("topology"))))
        print("[demo] a question the agents answered correctly:")
    else:
        best = recs[0]
        print("[demo] no evaluated answer was correct; the first question:")
    show(best)
    print("[demo] the full evidence (all methods, confidence intervals, ablations): bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
