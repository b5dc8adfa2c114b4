#!/usr/bin/env python3
"""Reference outputs for the real model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M
GGUF, fetched by tools/fetch_model.py) from an implementation of our own that
shares nothing with gcache:

  * weights: gguf-py reads the file and dequantises every tensor (its
    dequantisation is the format's reference); the values are kept as float32
    (that is what the blocks decode to exactly) and cast to float64 per matmul;
  * forward: Qwen2 in numpy float64 (RMSNorm with the file's epsilon, neox
    RoPE with the file's theta, grouped-query attention with q/k/v biases,
    SwiGLU MLP, output.weight or the tied embedding), with a KV cache;
  * tokens: HF `tokenizers` built from the GGUF's own vocabulary and merges
    (byte-level BPE, Qwen2's pre-tokenizer regex, NFC, control tokens as
    special tokens); chat text: the GGUF's jinja chat template rendered by
    jinja2 the way transformers does (trim_blocks, lstrip_blocks).

For each prompt it records the ids, a greedy continuation (N_GREEDY tokens,
with each step's top-1 − top-2 margin) and, at a few positions, statistics of
the next-token logits small enough to commit: the top-K ids and logits, the
logits at fixed sampled ids, the L2 norm, the mean and N_PROJ projections on
pseudo-random ±1/sqrt(V) vectors (sign_proj below; the C test computes the
same). Each is a norm or a unit-norm linear functional of the logits, so a
full-vector relative error ε moves it by at most ε·‖logits‖.

Needs numpy, gguf, tokenizers, jinja2 (CPU only; a few minutes, ~3 GB RAM).
    python tools/make_qwen_refs.py --gguf .cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
        --out tests/data/qwen
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import gguf
from gguf import GGUFReader
from gguf.quants import dequantize
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
import tokenizers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, AddedToken

K_TOP = 20
N_SAMPLED = 64
N_PROJ = 8
N_GREEDY = 16

GSM8K_Q = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
           "How many clips did Natalia sell altogether in April and May?")
PROMPTS = [
    dict(name="gsm8k_chat", messages=[{"role": "user", "content": GSM8K_Q}]),
    dict(name="code", text="def is_palindrome(s: str) -> bool:\n    \"\"\"Return True if s reads the same "
                           "forwards and backwards, ignoring case.\"\"\"\n"),
    dict(name="chinese", text="人工智能是计算机科学的一个分支，它试图理解智能的实质，并生产出一种新的能以"
                              "与人类智能相似的方式做出反应的智能机器。"),
]
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def sign_proj(V, k):
    """±1 signs of projection k over ids 0..V-1: a 32-bit integer hash of (v, k),
    sign = + when its low bit is 0. The C test implements the same formula."""
    v = np.arange(V, dtype=np.uint64)
    h = (v * np.uint64(2654435761) + np.uint64((k + 1) * 40503)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x45D9F3B)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return np.where((h & np.uint64(1)) == 0, 1.0, -1.0)


class GGUFModel:
    def __init__(self, path):
        self.r = GGUFReader(path)
        self.f = {k: v for k, v in self.r.fields.items()}
        self.t = {t.name: t for t in self.r.tensors}
        arch = self.meta("general.architecture")
        if arch != "qwen2":
            sys.exit("%s: architecture %r, this reference implements qwen2" % (path, arch))
        self.L = int(self.meta("qwen2.block_count"))
        self.D = int(self.meta("qwen2.embedding_length"))
        self.F = int(self.meta("qwen2.feed_forward_length"))
        self.H = int(self.meta("qwen2.attention.head_count"))
        self.Hkv = int(self.meta("qwen2.attention.head_count_kv"))
        self.hd = self.D // self.H
        self.eps = float(self.meta("qwen2.attention.layer_norm_rms_epsilon"))
        self.theta = float(self.meta("qwen2.rope.freq_base"))
        self.V = int(self.t["token_embd.weight"].shape[1])
        self.cache = {}

    def meta(self, key):
        return self.f[key].contents()

    def w(self, name):
        """A tensor dequantised to float32, in (rows, cols) = (out, in) layout."""
        if name not in self.cache:
            t = self.t[name]
            a = dequantize(t.data, t.tensor_type)
            self.cache[name] = np.ascontiguousarray(a.reshape(tuple(int(x) for x in reversed(t.shape))),
                                                    dtype=np.float32)
        return self.cache[name]

    def has(self, name):
        return name in self.t


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w.astype(np.float64)


def linear(x, W, b=None):
    y = x @ W.astype(np.float64).T
    return y + b.astype(np.float64) if b is not None else y


def rope(x, pos, theta):
    # x: (T, heads, hd); neox layout: dimension i rotates with i + hd/2.
    hd = x.shape[-1]
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.asarray(pos, dtype=np.float64)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


class Reference:
    def __init__(self, m):
        self.m = m
        self.k = [np.zeros((0, m.Hkv, m.hd)) for _ in range(m.L)]
        self.v = [np.zeros((0, m.Hkv, m.hd)) for _ in range(m.L)]

    def forward(self, ids):
        """Appends ids to the cache; returns (T, V) float64 logits of the new positions."""
        m = self.m
        T = len(ids)
        p0 = self.k[0].shape[0]
        pos = np.arange(p0, p0 + T)
        emb = m.w("token_embd.weight")
        x = emb[np.asarray(ids)].astype(np.float64)
        rep = m.H // m.Hkv
        for l in range(m.L):
            b = "blk.%d." % l
            h = rmsnorm(x, m.w(b + "attn_norm.weight"), m.eps)
            q = linear(h, m.w(b + "attn_q.weight"), m.w(b + "attn_q.bias")).reshape(T, m.H, m.hd)
            k = linear(h, m.w(b + "attn_k.weight"), m.w(b + "attn_k.bias")).reshape(T, m.Hkv, m.hd)
            v = linear(h, m.w(b + "attn_v.weight"), m.w(b + "attn_v.bias")).reshape(T, m.Hkv, m.hd)
            q, k = rope(q, pos, m.theta), rope(k, pos, m.theta)
            self.k[l] = np.concatenate([self.k[l], k])
            self.v[l] = np.concatenate([self.v[l], v])
            K, Vv = self.k[l], self.v[l]
            S = K.shape[0]
            att = np.empty((T, m.H, m.hd))
            mask = np.arange(S)[None, :] > pos[:, None]          # (T, S): future positions
            for hh in range(m.H):
                g = hh // rep
                sc = q[:, hh, :] @ K[:, g, :].T / np.sqrt(m.hd)
                sc[mask] = -np.inf
                sc -= sc.max(axis=1, keepdims=True)
                p = np.exp(sc)
                p /= p.sum(axis=1, keepdims=True)
                att[:, hh, :] = p @ Vv[:, g, :]
            x = x + linear(att.reshape(T, m.D), m.w(b + "attn_output.weight"))
            h = rmsnorm(x, m.w(b + "ffn_norm.weight"), m.eps)
            gate = linear(h, m.w(b + "ffn_gate.weight"))
            up = linear(h, m.w(b + "ffn_up.weight"))
            x = x + linear(gate / (1.0 + np.exp(-gate)) * up, m.w(b + "ffn_down.weight"))
        x = rmsnorm(x, m.w("output_norm.weight"), m.eps)
        out = m.w("output.weight") if m.has("output.weight") else emb
        logits = np.empty((T, m.V))
        for r0 in range(0, m.V, 16384):  # float64 copies of the (V, D) matrix in slices
            logits[:, r0:r0 + 16384] = x @ out[r0:r0 + 16384].astype(np.float64).T
        return logits


def make_tokenizer(m):
    tokens = [bytes(m.f["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in m.f["tokenizer.ggml.tokens"].data]
    types = [int(m.f["tokenizer.ggml.token_type"].parts[i][0]) for i in m.f["tokenizer.ggml.token_type"].data]
    merges = [bytes(m.f["tokenizer.ggml.merges"].parts[i]).decode("utf-8")
              for i in m.f["tokenizer.ggml.merges"].data]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(x.split(" ", 1)) for x in merges],
                               byte_fallback=False, ignore_merges=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(tokenizers.Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    # GGUF token types: 3 control, 4 user-defined; both are matched whole.
    special = [AddedToken(tokens[i], special=True, normalized=False) for i, ty in enumerate(types) if ty in (3, 4)]
    tok.add_special_tokens(special)
    return tok


def chat_text(m, messages):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)
    env.globals["raise_exception"] = raise_exception
    tpl = env.from_string(m.meta("tokenizer.chat_template"))
    return tpl.render(messages=messages, add_generation_prompt=True, tools=None)


def stats(row, sampled, signs):
    row = np.asarray(row, dtype=np.float64)
    top = np.argsort(-row, kind="stable")[:K_TOP]
    return dict(top_ids=[int(i) for i in top], top_logits=[float(row[i]) for i in top],
                sampled=[float(row[i]) for i in sampled], norm=float(np.linalg.norm(row)),
                mean=float(row.mean()), proj=[float(row @ s / np.sqrt(len(row))) for s in signs])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", default="tests/data/qwen")
    ap.add_argument("--check-tokenizer", help="a tokenizer.json of the same vocabulary to cross-check ids with")
    a = ap.parse_args()
    t0 = time.time()
    m = GGUFModel(a.gguf)
    tok = make_tokenizer(m)
    other = Tokenizer.from_file(a.check_tokenizer) if a.check_tokenizer else None
    h = hashlib.sha256()
    with open(a.gguf, "rb") as fh:
        for blk in iter(lambda: fh.read(1 << 20), b""):
            h.update(blk)
    sampled = sorted(set(int(x) for x in np.linspace(0, m.V - 1, N_SAMPLED).round()))
    signs = [sign_proj(m.V, k) for k in range(N_PROJ)]
    out = dict(gguf=os.path.basename(a.gguf), sha256=h.hexdigest(), vocab=m.V,
               versions=dict(gguf=getattr(gguf, "__version__", None) or _dist_version("gguf"),
                             numpy=np.__version__, tokenizers=tokenizers.__version__, jinja2=jinja2.__version__),
               eps=m.eps, rope_theta=m.theta, k_top=K_TOP, n_proj=N_PROJ, sampled_ids=sampled, prompts=[])
    for p in PROMPTS:
        text = chat_text(m, p["messages"]) if "messages" in p else p["text"]
        ids = tok.encode(text, add_special_tokens=False).ids
        if other is not None:
            oids = other.encode(text, add_special_tokens=False).ids
            if oids != ids:
                sys.exit("%s: tokenizers disagree:\n%s\n%s" % (p["name"], ids, oids))
        n = len(ids)
        ref = Reference(m)
        logits = ref.forward(ids)
        want = {n // 2: logits[n // 2], n - 1: logits[n - 1]}
        greedy, margins, cur = [], [], logits[-1]
        for i in range(N_GREEDY):
            order = np.argsort(-cur, kind="stable")[:2]
            greedy.append(int(order[0]))
            margins.append(float(cur[order[0]] - cur[order[1]]))
            if i == N_GREEDY - 1:
                break
            cur = ref.forward([greedy[-1]])[0]
            if n + i in (n + 2, n + N_GREEDY - 2):
                want[n + i] = cur
        entry = dict(name=p["name"], text=text, ids=ids, greedy=greedy, greedy_text=tok.decode(greedy),
                     greedy_margin=margins, positions=[])
        if "messages" in p:
            entry["messages"] = p["messages"]
        for pos in sorted(want):
            entry["positions"].append(dict(pos=pos, **stats(want[pos], sampled, signs)))
        out["prompts"].append(entry)
        print("%s: %d tokens, greedy %r, smallest top-1 margin %.3f (%.0f s)"
              % (p["name"], n, entry["greedy_text"], min(margins), time.time() - t0), file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "refs.json"), "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    main()
