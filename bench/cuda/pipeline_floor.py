"""The floor of a multi-agent pipeline run: the least time the card can take
for the steps the run made, from what those steps must read and compute.

Input: the per-question records of `gcache run` (results.jsonl: every agent's
cache_in, prompt_tokens, latent_steps, out_tokens) in the order they ran, the
batch size B, and the card's ceilings (copy bandwidth in bytes/s, bf16 GEMM
rate in FLOP/s). Questions i·B … i·B+B−1 form a batch that moves through the
agents together, as gcache's scheduler runs them (lockstep schedule). Per
agent of a batch:

  one prefill step   all the batch's prompt tokens as rows (gcache feeds them
                     in steps of at most prefill_rows; one step is the least)
  latent steps       one row per question each
  decode steps       step k has a row for each question with out_tokens > k

and every step takes at least

  max( (W + Σ_rows ctx · kv_bytes) / bandwidth,  2 · P · new_rows / gemm_rate )

W: bytes of weights read once per step (a tied embedding counted: the LM head
reads it), ctx: the positions a row's attention reads (its cache before the
agent + what the agent added so far), P: the parameters a token's GEMMs
multiply (without the embedding table). Attention FLOPs, norms, sampling and
launch costs are left out, so the floor is a lower bound on this schedule: no
implementation of it can run faster on that card. A schedule that overlaps
the agents of different questions could in principle beat it only by sharing
weight reads between phases, which gcache's step already does within a step.

From the command line, the floor of a `gcache run` folder on a card:

  python3 bench/cuda/pipeline_floor.py RUN_DIR --model HF_FOLDER --bw 4.25e12 --gemm 790e12

(the batch comes from RUN_DIR/run.json; the model's shapes from its
config.json, its weight bytes from its *.safetensors files; KV bytes per
position for the run's cache format: bf16, or q8 with one f32 scale per
head_dim values). Prints the floor and how close the run came to it."""
import argparse
import glob
import json
import os
import sys


def step_floor_s(new_rows, ctx_sum, m):
    """Floor of one forward step: m = dict(weight_bytes, kv_bytes, params,
    bw, gemm) (bytes, bytes per cached position, GEMM parameters, bytes/s,
    FLOP/s)."""
    mem = (m["weight_bytes"] + ctx_sum * m["kv_bytes"]) / m["bw"]
    flops = 2.0 * m["params"] * new_rows / m["gemm"]
    return max(mem, flops)


def batch_floor_s(recs, m):
    """Floor of one batch (records of the questions that ran together)."""
    total = 0.0
    for a in range(max(len(r["agents"]) for r in recs)):
        ags = [r["agents"][a] for r in recs if a < len(r["agents"])]
        ctx = [g["cache_in"] + g["prompt_tokens"] for g in ags]
        total += step_floor_s(sum(g["prompt_tokens"] for g in ags), sum(ctx), m)
        for k in range(max(g["latent_steps"] for g in ags)):
            live = [i for i, g in enumerate(ags) if g["latent_steps"] > k]
            total += step_floor_s(len(live), sum(ctx[i] + k + 1 for i in live), m)
        ctx = [c + g["latent_steps"] for c, g in zip(ctx, ags)]
        for k in range(max(g["out_tokens"] for g in ags)):
            live = [i for i, g in enumerate(ags) if g["out_tokens"] > k]
            total += step_floor_s(len(live), sum(ctx[i] + k + 1 for i in live), m)
    return total


def pipeline_floor_s_per_question(recs, batch, m):
    """Floor in seconds per question of a run of len(recs) questions in
    batches of `batch` (the last batch may be short)."""
    if not recs:
        raise ValueError("pipeline floor: no question records")
    for r in recs:
        for g in r.get("agents", []):
            for k in ("cache_in", "prompt_tokens", "latent_steps", "out_tokens"):
                if not isinstance(g.get(k), int) or g[k] < 0:
                    raise ValueError(f"pipeline floor: question {r.get('id')!r}, agent {g.get('role')!r}: "
                                     f"'{k}' is not a count")
        if not r.get("agents"):
            raise ValueError(f"pipeline floor: question {r.get('id')!r} has no agents")
    s = sum(batch_floor_s(recs[i:i + batch], m) for i in range(0, len(recs), batch))
    return s / len(recs)


def model_costs(folder, kv_format):
    """weight_bytes, kv_bytes (per cached position) and params (GEMM
    parameters per token) of an HF model folder."""
    cfg_path = os.path.join(folder, "config.json")
    try:
        cfg = json.load(open(cfg_path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{cfg_path}: {e}") from None
    need = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "intermediate_size",
            "vocab_size")
    for k in need:
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0:
            raise ValueError(f"{cfg_path}: '{k}' is missing or not a positive integer")
    L, D, H, KV, F = (cfg[k] for k in need[:5])
    hd = cfg.get("head_dim") or D // H
    params = L * (D * (H + 2 * KV) * hd + H * hd * D + 3 * D * F)
    files = glob.glob(os.path.join(folder, "*.safetensors"))
    if files:
        weight_bytes = sum(os.path.getsize(f) for f in files)
    else:   # bf16 weights: the layers, the embedding, and an untied LM head
        weight_bytes = 2 * (params + cfg["vocab_size"] * D * (1 if cfg.get("tie_word_embeddings") else 2))
    per_pos = L * 2 * KV * hd   # K and V values of one position, every layer
    kv_bytes = {"bf16": 2 * per_pos, "f32": 4 * per_pos, "q8": per_pos + 4 * per_pos // hd}.get(kv_format)
    if kv_bytes is None:
        raise ValueError(f"KV format '{kv_format}' is not one of bf16, f32, q8")
    return {"weight_bytes": weight_bytes, "kv_bytes": kv_bytes, "params": params}


def main(argv=None):
    ap = argparse.ArgumentParser(description="The floor of a gcache run folder on a card (see the module's text).")
    ap.add_argument("run", help="a `gcache run --out` folder (results.jsonl, run.json)")
    ap.add_argument("--model", required=True, help="the HF model folder the run used (config.json, *.safetensors)")
    ap.add_argument("--bw", type=float, required=True, help="the card's copy bandwidth, bytes/s (e.g. 4.25e12)")
    ap.add_argument("--gemm", type=float, required=True, help="the card's bf16 GEMM rate, FLOP/s (e.g. 790e12)")
    ap.add_argument("--batch", type=int, help="questions per batch (default: run.json's)")
    a = ap.parse_args(argv)
    try:
        info = json.load(open(os.path.join(a.run, "run.json"), encoding="utf-8")).get("info", {})
        recs = [json.loads(l) for l in open(os.path.join(a.run, "results.jsonl"), encoding="utf-8") if l.strip()]
        batch = a.batch or info.get("batch")
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"{a.run}/run.json: no batch size (give --batch)")
        m = model_costs(a.model, info.get("kv", "bf16"))
        m.update(bw=a.bw, gemm=a.gemm)
        floor = pipeline_floor_s_per_question(recs, batch, m)
    except (OSError, ValueError, KeyError) as e:
        print(f"pipeline_floor: {e}", file=sys.stderr)
        return 1
    took = sum(r.get("seconds", 0.0) for r in recs) / len(recs)
    print(json.dumps({"questions": len(recs), "batch": batch, "floor_s_per_question": floor,
                      "s_per_question": took, "percent_of_floor": 100 * floor / took if took > 0 else None, **m}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
