"""HF transformers side of bench/RESULTS.md's CUDA section, run in the same
call as `gcache bench --device cuda`: the same random-weight shapes (built by
tools/make_bench_models.py, optionally saved for gcache), the same workloads:
prefill of B×P tokens (one forward) and greedy decode of G tokens at batch B.

  python3 bench/cuda/hf_bench.py --models qwen3-4b --batches 1,16 --prompt 512 --gen 128 [--save DIR]

Prints one JSON line per measurement (median of --reps)."""
import argparse, json, os, statistics, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from make_bench_models import build, save  # noqa: E402


def timed(f, reps):
    f()  # warm-up
    ts = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        f()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="qwen3-4b")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--save", default="")
    ap.add_argument("--no-hf", action="store_true")
    a = ap.parse_args()
    for name in a.models.split(","):
        m = build(name)
        if a.save:
            save(m, os.path.join(a.save, name))
        if a.no_hf:
            del m; torch.cuda.empty_cache(); continue
        nparam = sum(p.numel() for p in m.parameters())
        for B in [int(x) for x in a.batches.split(",")]:
            ids = torch.randint(0, m.config.vocab_size - 1000, (B, a.prompt), device="cuda")
            pf = timed(lambda: m(input_ids=ids, use_cache=True, logits_to_keep=1), a.reps)
            gen = timed(lambda: m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=a.gen,
                                           min_new_tokens=a.gen, do_sample=False), a.reps)
            rec = dict(side="hf", model=name, params=nparam, batch=B, prompt=a.prompt, gen=a.gen,
                       prefill_tok_s=B * a.prompt / pf, decode_tok_s=B * (a.gen - 1) / max(gen - pf, 1e-9),
                       prefill_s=pf, generate_s=gen, torch=torch.__version__)
            print(json.dumps(rec), flush=True)
        del m
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
