"""Summarises `gcache run` result folders as the rows of bench/RESULTS.md's
agent-graph table: questions, accuracy, prompt / output tokens, latent steps
and seconds per question, the mean per-token log-probability of the gold
answer (answer_logp, when scored) and the most common evaluation topologies.

  python3 bench/graph_table.py runs/graph/full-cache runs/graph/chain-cache ...
  python3 bench/graph_table.py --first 40 --last 69 DIR ...   (only those question ids)
"""
import argparse, collections, json, os, sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--first", type=int, default=None)
    ap.add_argument("--last", type=int, default=None)
    a = ap.parse_args()
    print("| run | questions | accuracy | prompt tok / q | output tok / q | latent / q | s / q | answer log p / token | top topologies |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for d in a.dirs:
        path = os.path.join(d, "results.jsonl")
        try:
            rows = [json.loads(l) for l in open(path) if l.strip()]
        except OSError as e:
            print(f"{path}: {e}", file=sys.stderr)
            continue
        def keep(r):
            try:
                i = int(str(r["id"]).split("#")[0])
            except ValueError:
                return True
            return (a.first is None or i >= a.first) and (a.last is None or i <= a.last)
        rows = [r for r in rows if keep(r)]
        n = len(rows)
        if n == 0:
            print(f"| {os.path.basename(d)} | 0 | | | | | | | |")
            continue
        mean = lambda k: sum(float(r.get(k, 0)) for r in rows) / n
        lp = [r["answer_logp"] for r in rows if "answer_logp" in r]
        topo = collections.Counter(
            " ".join(f"{i}→{j}" for i, j in r["topology"]["spatial"]) or "(none)"
            for r in rows if isinstance(r.get("topology"), dict))
        tops = "; ".join(f"{{{t}}} ×{c}" for t, c in topo.most_common(2)) if topo else ""
        lps = f"{sum(lp) / len(lp):.3f}" if lp else "—"
        print(f"| {os.path.basename(d)} | {n} | {100 * mean('correct'):.1f} % | {mean('tokens_in'):.0f} | "
              f"{mean('output_tokens'):.0f} | {mean('latent_steps'):.0f} | {mean('seconds'):.1f} | {lps} | {tops} |")


if __name__ == "__main__":
    main()
