#!/usr/bin/env python3
"""An independent LatentMAS pipeline on HF transformers, to compare with
`gcache run --method latentmas` token by token.

Nothing of gcache is used: transformers reads the GGUF file (dequantising
every tensor through gguf-py) and runs Qwen2 in torch; the tokenizer and
the chat template come from the GGUF through transformers; the prompts are
built from the prompt-set JSON (prompts/math.json) the way its README
describes (system + user message, {question} and {answer_instruction}
substituted, the chat template with the generation prompt).

The pipeline, as LatentMAS describes it (sequential, whole caches handed on):
  for each agent but the judger: its prompt is appended to the cache, then
  K latent steps: the last position's final-norm hidden state h becomes the
  next input embedding e = h·W_a, rescaled to the mean input-embedding norm,
  with W_a = solve(W_outᵀW_out + 1e-5·I, W_outᵀW_in) in float64;
  the judger's prompt is appended to the cache of the last agent and the
  answer decoded greedily (argmax) until <|im_end|> / <|endoftext|>.
--method single runs the single-agent prompt alone (the engine check).

For each question it records the judger's ids and text, each step's top-1
and top-2 logits (the margin tells whether a divergence is a near-tie), the
prompt token counts per agent and the latent inputs' norms. With --ours
RESULTS.jsonl (a gcache run folder's records) it compares the answers: the
first differing token, the margin there, and the whole texts.

Needs torch, transformers, gguf (CPU is enough; not the project venv):
    python -m venv /work/hfvenv && /work/hfvenv/bin/pip install torch transformers gguf
    /work/hfvenv/bin/python tools/latentmas_reference.py --gguf MODEL.gguf \\
        --ours runs/lm/results.jsonl --latent-steps 10 --out runs/lm/reference.json
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.cache_utils import DynamicCache


def load(gguf, dtype):
    d, f = os.path.split(os.path.abspath(gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=dtype)
    model.eval()
    return tok, model


def realignment(model):
    """W_a (D, D) and the target norm, both float64."""
    w_in = model.get_input_embeddings().weight.detach().double()
    w_out = model.get_output_embeddings().weight.detach().double()
    g = w_out.T @ w_out + 1e-5 * torch.eye(w_out.shape[1], dtype=torch.float64)
    r = w_out.T @ w_in
    return torch.linalg.solve(g, r), w_in.norm(dim=1).mean().item()


def prompt_text(tok, role, question, answer_instruction):
    user = role["user"].replace("{question}", question).replace("{answer_instruction}", answer_instruction)
    msgs = [{"role": "system", "content": role["system"]}, {"role": "user", "content": user}]
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


@torch.no_grad()
def step(model, cache, ids=None, embeds=None):
    out = model(input_ids=ids, inputs_embeds=embeds, past_key_values=cache, use_cache=True, output_hidden_states=True)
    return out.logits[0, -1], out.hidden_states[-1][0, -1]


@torch.no_grad()
def pipeline(tok, model, wa, target, roles, judger, question, instr, latent_steps, max_tokens, stop_ids):
    cache = DynamicCache()
    dtype = next(model.parameters()).dtype
    agents = []
    for role in roles:
        ids = tok(prompt_text(tok, role, question, instr), add_special_tokens=True, return_tensors="pt").input_ids
        _, h = step(model, cache, ids=ids)
        norms = []
        for _ in range(latent_steps):
            e = h.double() @ wa
            e = e * (target / max(e.norm().item(), 1e-6))
            norms.append(e.norm().item())
            _, h = step(model, cache, embeds=e.to(dtype)[None, None, :])
        agents.append({"role": role["role"], "prompt_tokens": ids.shape[1], "latent_steps": latent_steps,
                       "cache_after": cache.get_seq_length(), "latent_norms": norms})
    ids = tok(prompt_text(tok, judger, question, instr), add_special_tokens=True, return_tensors="pt").input_ids
    logits, _ = step(model, cache, ids=ids)
    agents.append({"role": judger["role"], "prompt_tokens": ids.shape[1], "cache_before": cache.get_seq_length() - ids.shape[1]})
    out, top = [], []
    for _ in range(max_tokens):
        v, i = torch.topk(logits.double(), 2)
        nxt = int(i[0])
        top.append([int(i[0]), float(v[0]), int(i[1]), float(v[1])])
        if nxt in stop_ids:
            break
        out.append(nxt)
        logits, _ = step(model, cache, ids=torch.tensor([[nxt]]))
    return out, top, agents


def first_divergence(ref_text, cum, text):
    """Index of the first reference token whose decoded prefix (ref_text[:cum[k]])
    stops matching `text` (len(cum) when all of them match)."""
    for k, c in enumerate(cum):
        if not text.startswith(ref_text[:c]):
            return k
    return len(cum)


def compare(q, ours):
    """Adds the comparison with our answer text to a question's report."""
    text, cum, top = q["ref_text"], q["cum_chars"], q["top2"]
    k = first_divergence(text, cum, ours)
    q["ours_text"] = ours
    q["equal"] = text == ours
    q["first_divergence"] = None if q["equal"] else k
    q.pop("at_divergence", None)
    if not q["equal"] and k < len(top):
        t = top[k]
        start = cum[k - 1] if k else 0
        q["at_divergence"] = {"ref_token": t[0], "ref_piece": q["pieces"][k], "margin": t[1] - t[3],
                              "second_token": t[2], "ref_context": text[max(0, start - 60):start],
                              "ours_next": ours[start:start + 40]}
    margins = [t[1] - t[3] for t in top]
    q["min_margin"] = min(margins) if margins else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--ours", required=True, help="results.jsonl of a gcache run (questions and our answers)")
    ap.add_argument("--prompts", default="prompts/math.json")
    ap.add_argument("--method", default="latentmas", choices=["latentmas", "single"])
    ap.add_argument("--latent-steps", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--n", type=int, default=0, help="only the first N records (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    ap.add_argument("--compare-only", action="store_true",
                    help="no model: compare the answers of an existing --out report with --ours")
    a = ap.parse_args()
    if a.compare_only:
        report = json.load(open(a.out, encoding="utf-8"))
        ours = {r["id"]: r for r in (json.loads(l) for l in open(a.ours, encoding="utf-8") if l.strip())}
        for q in report["questions"]:
            if q["id"] in ours:
                compare(q, ours[q["id"]].get("output", ""))
                q["ours_agents"] = ours[q["id"]].get("agents")
            print(f"[ref] {q['id']}: {q['tokens']} tokens, " + (
                "EQUAL" if q.get("equal") else f"differs at token {q.get('first_divergence')}"
                + (f" (margin there {q['at_divergence']['margin']:.4f})" if "at_divergence" in q else "")), file=sys.stderr)
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, ensure_ascii=False)
        return
    torch.set_num_threads(a.threads)
    ps = json.load(open(a.prompts, encoding="utf-8"))
    if a.method == "single":
        roles, judger = [], ps["single"]
    else:
        roles, judger = ps["sequential"]["agents"], ps["sequential"]["judger"]
    recs = [json.loads(l) for l in open(a.ours, encoding="utf-8") if l.strip()]
    if a.n:
        recs = recs[:a.n]
    t0 = time.time()
    tok, model = load(a.gguf, torch.float64 if a.dtype == "float64" else torch.float32)
    wa, target = realignment(model)
    stop_ids = {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    print(f"[ref] model loaded in {time.time() - t0:.0f} s; target norm {target:.6f}", file=sys.stderr)
    report = {"gguf": a.gguf, "method": a.method, "latent_steps": a.latent_steps, "dtype": a.dtype,
              "target_norm": target, "questions": []}
    for r in recs:
        t1 = time.time()
        ids, top, agents = pipeline(tok, model, wa, target, roles, judger, r["question"], ps["answer_instruction"],
                                    a.latent_steps if a.method == "latentmas" else 0, a.max_tokens, stop_ids)
        text = tok.decode(ids, skip_special_tokens=False)
        q = {"id": r["id"], "tokens": len(ids), "ref_text": text, "ids": ids,
             "cum_chars": [len(tok.decode(ids[:k + 1], skip_special_tokens=False)) for k in range(len(ids))],
             "pieces": [tok.decode([i]) for i in ids], "top2": top, "agents": agents,
             "seconds": time.time() - t1}
        compare(q, r.get("output", ""))
        q["ours_agents"] = r.get("agents")
        report["questions"].append(q)
        print(f"[ref] {r['id']}: {len(ids)} tokens, {'EQUAL' if q['equal'] else 'differs at token %s' % q['first_divergence']}"
              + (f" (margin there {q['at_divergence']['margin']:.4f})" if "at_divergence" in q else "")
              + f", {q['seconds']:.0f} s", file=sys.stderr)
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, ensure_ascii=False)
    n_eq = sum(bool(q.get("equal")) for q in report["questions"])
    print(f"[ref] {n_eq}/{len(report['questions'])} answers token-for-token equal; report in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
