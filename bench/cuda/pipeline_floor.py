"""The floor of a multi-agent pipeline run: the least time the card can take
for the steps the run made, from what those steps must read and compute.

Input: the per-question records of `gcache run` (results.jsonl: every agent's
cache_in, prompt_tokens, latent_steps, out_tokens) in the order they ran, the
batch size B, and the card's ceilings (copy bandwidth in bytes/s, bf16 GEMM
rate in FLOP/s). Questions i·B … i·B+B−1 form a batch that moves through the
agents together, as gcache's scheduler runs them (lockstep schedule). Per
agent of a batch:

  one prefill step   all the batch's prompt tokens as rows
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
weight reads between phases, which gcache's step already does within a step."""


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
