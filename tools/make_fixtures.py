#!/usr/bin/env python3
"""Tiny random-weight models of each supported family and their HF transformers
reference outputs (float64) for `gcache trace` programs.

Run on a machine with torch + transformers (the GPU machine has both):
    python3 tools/make_fixtures.py --out tests/data/tiny
For each family it writes <out>/<family>/{config.json, generation_config.json,
model.safetensors (bf16)} and, per trace program k, ref_<k>.json (program,
options, segment layout) + ref_<k>.f32 (little-endian float32 arrays in
segment order). The reference loads the saved bf16 weights back and computes
in float64, so both sides start from identical weights.

Trace program semantics (must match src/engine/trace.c):
  ids:a,b,c   feed tokens; out: logits of every position, hidden_last
  latent:K    K latent steps: h = final-norm hidden at the last position,
              e = h @ W_a; e *= target_norm / max(|e|, 1e-6); feed e as the next
              input embedding. out: hidden of each step, logits of the last step
  greedy:N    N times: t = argmax(last logits); feed t. out: ids
  save:NAME   remember a copy of the current cache's tensors under NAME
  reset       empty cache
  concat:A,B  cache := DynamicCache of torch.cat([A, B], dim=seq) per layer
  keep:N      cache := the last N positions per layer
  wsum:A@w,B@v  cache := w*A[-L:] + v*B[-L:], L = min length
New tokens after a cache of length L get positions L, L+1, ... (HF derives
cache_position from the cache length), and keys keep the rotary positions
they were computed at — exactly what gcache's zero-copy cache values do.
"""
import argparse, json, os, random
import numpy as np
import torch
import transformers as tf
from transformers import DynamicCache

FAMILIES = {
    # Qwen3: tied embeddings, explicit head_dim != hidden/heads, q/k norm.
    "qwen3": dict(cls=("Qwen3Config", "Qwen3ForCausalLM"), kw=dict(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)),
    # Qwen2: q/k/v biases, untied.
    "qwen2": dict(cls=("Qwen2Config", "Qwen2ForCausalLM"), kw=dict(
        vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False)),
    # Llama (SmolLM2 family): a single KV head, 3 layers, untied.
    "llama": dict(cls=("LlamaConfig", "LlamaForCausalLM"), kw=dict(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=1024,
        rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2)),
}


def randomize(model, gen):
    """Weights large enough that logits are well separated (HF's 0.02 init gives
    near-uniform logits and argmax ties that no float format could settle)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / np.sqrt(p.shape[1]) * 1.5)


def realign(model, enabled):
    w_in = model.get_input_embeddings().weight.double()
    w_out = model.get_output_embeddings().weight.double()
    target = w_in.norm(dim=1).mean()
    if not enabled:
        return torch.eye(w_in.shape[1], dtype=torch.float64), target
    gram = w_out.T @ w_out + 1e-5 * torch.eye(w_out.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, w_out.T @ w_in), target


class Runner:
    def __init__(self, model, realign_on):
        self.model, self.cache = model, None
        self.wa, self.target = realign(model, realign_on)
        self.last_logits = self.last_hidden = None
        self.saved = {}

    def tensors(self):
        """Per-layer (K, V) of the current cache, (1, kv_heads, len, hd) each."""
        if self.cache is None:
            return []
        return [(l.keys.clone(), l.values.clone()) for l in self.cache.layers]

    def set_tensors(self, kvs):
        if not kvs or kvs[0][0].shape[2] == 0:
            self.cache = None
            return
        c = DynamicCache()
        for i, (k, v) in enumerate(kvs):
            c.update(k.clone(), v.clone(), i)
        self.cache = c

    def feed(self, ids=None, embeds=None):
        out = self.model.model(input_ids=ids, inputs_embeds=embeds, past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        h = out.last_hidden_state[0]            # (n, D), after the final norm
        logits = self.model.lm_head(h)          # (n, V)
        self.last_hidden, self.last_logits = h[-1], logits[-1]
        return logits, h

    def run(self, program):
        segs, arrays = [], []
        for seg in program.split(";"):
            kind, _, arg = seg.partition(":")
            if kind == "ids":
                ids = [int(x) for x in arg.split(",")]
                logits, h = self.feed(ids=torch.tensor([ids]))
                segs.append(dict(type="ids", n=len(ids), logits=list(logits.shape), hidden_last=[h.shape[1]]))
                arrays += [logits, h[-1]]
            elif kind == "latent":
                hs = []
                for _ in range(int(arg)):
                    e = self.last_hidden @ self.wa
                    e = e * (self.target / e.norm().clamp_min(1e-6))
                    _, h = self.feed(embeds=e.view(1, 1, -1))
                    hs.append(h[-1])
                hs = torch.stack(hs)
                segs.append(dict(type="latent", n=int(arg), hidden=list(hs.shape), logits_last=[self.last_logits.shape[0]]))
                arrays += [hs, self.last_logits]
            elif kind == "greedy":
                toks, margins = [], []
                for _ in range(int(arg)):
                    top = torch.topk(self.last_logits, 2)
                    margins.append(float(top.values[0] - top.values[1]))
                    t = int(top.indices[0])
                    toks.append(t)
                    self.feed(ids=torch.tensor([[t]]))
                segs.append(dict(type="greedy", ids=toks, min_margin=min(margins)))
            elif kind == "save":
                self.saved[arg] = self.tensors()
                segs.append(dict(type="save"))
            elif kind == "reset":
                self.cache = None
                segs.append(dict(type="reset"))
            elif kind == "concat":
                parts = [self.saved[n] for n in arg.split(",")]
                self.set_tensors([(torch.cat([p[l][0] for p in parts], 2), torch.cat([p[l][1] for p in parts], 2))
                                  for l in range(len(parts[0]))])
                segs.append(dict(type="concat"))
            elif kind == "keep":
                n = int(arg)
                self.set_tensors([(k[:, :, k.shape[2] - min(n, k.shape[2]):], v[:, :, v.shape[2] - min(n, v.shape[2]):])
                                  for k, v in self.tensors()])
                segs.append(dict(type="keep"))
            elif kind == "wsum":
                named = [(self.saved[x.split("@")[0]], float(x.split("@")[1])) for x in arg.split(",")]
                L = min(p[0][0].shape[2] for p, _ in named)
                self.set_tensors([(sum(w * p[l][0][:, :, -L:] for p, w in named), sum(w * p[l][1][:, :, -L:] for p, w in named))
                                  for l in range(len(named[0][0]))])
                segs.append(dict(type="wsum"))
            else:
                raise ValueError(seg)
        return segs, arrays


def programs(rng, vocab):
    r = lambda n: ",".join(str(rng.randrange(vocab)) for _ in range(n))
    return [
        dict(program=f"ids:{r(300)};latent:4;ids:{r(17)};greedy:12", realign=True),
        dict(program=f"ids:{r(40)};latent:6;greedy:6", realign=False),
        dict(program=f"ids:{r(5)};greedy:3;ids:{r(1)};latent:1;greedy:2", realign=True),
        # KV cache values: fork, reset, concat, keep-last, weighted sum.
        dict(program=f"ids:{r(40)};save:A;ids:{r(12)};save:B;reset;ids:{r(20)};save:C;concat:A,C;ids:{r(8)};"
                     f"greedy:4;concat:B,A;keep:30;ids:{r(5)};latent:3;wsum:A@0.7,C@0.3;ids:{r(6)};greedy:3",
             realign=True),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/tiny")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    for fam, spec in FAMILIES.items():
        d = os.path.join(a.out, fam)
        os.makedirs(d, exist_ok=True)
        cfg_cls, model_cls = (getattr(tf, n) for n in spec["cls"])
        cfg = cfg_cls(**spec["kw"])
        torch.manual_seed(a.seed)
        model = model_cls(cfg)
        randomize(model, torch.Generator().manual_seed(a.seed))
        model.generation_config.eos_token_id = [2, 3]
        model.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
        if fam == "qwen2":  # exercise the older top-level "rope_theta" form too
            cp = os.path.join(d, "config.json")
            c = json.load(open(cp))
            c["rope_theta"] = c.pop("rope_parameters")["rope_theta"]
            json.dump(c, open(cp, "w"), indent=2)
        ref = model_cls.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
        rng = random.Random(a.seed)
        for k, p in enumerate(programs(rng, cfg.vocab_size)):
            runner = Runner(ref, p["realign"])
            segs, arrays = runner.run(p["program"])
            flat = np.concatenate([x.detach().cpu().numpy().astype("<f4").ravel() for x in arrays])
            flat.tofile(os.path.join(d, f"ref_{k}.f32"))
            meta = dict(program=p["program"], realign=p["realign"], segments=segs,
                        transformers=tf.__version__, torch=torch.__version__, n_floats=int(flat.size))
            with open(os.path.join(d, f"ref_{k}.json"), "w") as f:
                json.dump(meta, f, indent=1)
            print(fam, k, [s["type"] for s in segs],
                  "min greedy margin", min([s["min_margin"] for s in segs if s["type"] == "greedy"] or [0]))


if __name__ == "__main__":
    main()
