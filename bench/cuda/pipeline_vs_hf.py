"""Issue 14's table in one device call: HF transformers and gcache side by side,
with the floor, on the random-weight Qwen3-4B shape.

  | workload | HF transformers | gcache | floor / target |
  decode b1 and b16 (256-token prompts of pseudo-random ids + 256 greedy tokens),
  LatentMAS sequential at 1 / 16 / 128 questions per batch (s per question and
  questions/s), TextMAS sequential at 16 (s per question).

Device command (GPU machine; carried: .carry/bin/gcache, .carry/lib,
.carry/data/tokenizer.json, .carry/data/gsm8k-160.jsonl):

  python3 bench/cuda/pipeline_vs_hf.py --budget 540

writes $OUT/pipeline_vs_hf.md (the table, rewritten after every row, so a cut
call still leaves the rows it finished), $OUT/pipeline_vs_hf.jsonl (one JSON
line per measurement), $OUT/gpu.txt and the gcache run folders / logs.

Order (most important first; each part has a timeout, and nothing starts
whose timeout would pass the --budget deadline): ceilings (card name, device
copy bandwidth with torch), model (built by tools/make_bench_models.py and
saved once for gcache), then per row gcache, then HF: decode b1, decode b16,
LatentMAS b1 (gcache 4 questions after a 1-question warm-up that caches W_a;
HF 2 questions, one at a time), LatentMAS b16 (gcache 32, HF one batch of
16), LatentMAS b128 (gcache 128), TextMAS b16 (gcache 32, HF 16), and last,
with what budget is left, HF LatentMAS at b128.

Expected time on an H100 (from issue 14's numbers): setup ~40 s (imports,
model build, save, W_a); HF decode b1 ~10 s (29.8 tok/s x 256) and b16
~10 s (474 tok/s); HF LatentMAS b1 ~10 s per question (30 latent + 256
answer steps at ~34 ms; the issue's 26 s/q had text agents) so ~25 s with
the warm-up, b16 ~15-20 s for the batch, b128 ~25 s; HF TextMAS b16 ~60 s
(3.82 s/q x 16); each gcache part ~10 s with its model load. About 300 s
in all, under the default --budget of 540 s; a part's timeout is ~3x its
estimate.

Workloads, both sides: GSM8K questions in file order; prompts from
prompts/math.json as gcache renders them (ChatML turns, generation prompt, no
think block), tokenized with Qwen's tokenizer.json. LatentMAS: planner,
critic and refiner each append their prompt to the one cache and take 10
latent steps (final-norm hidden h of the last position -> e = h W_a, rescaled
to the mean input-embedding norm, fed as the next input embedding; W_a
computed once in float64 as tools/latentmas_reference.py does); the judger's
prompt is appended and 256 answer tokens decoded greedily. TextMAS: each agent
writes 256 tokens of text that goes into every later agent's prompt
(prompts/math.json's text_context, "[role]:\\n<text>\\n\\n" per agent, as
gcache's scheduler fills it), the judger reads all three and writes 256.
HF decodes a fixed number of tokens (random weights never emit EOS, and
gcache's answers run to the limit too but for a rare early EOS: the JSON
lines and the table give gcache's mean answer tokens per question).

HF batching: the questions of a batch share one DynamicCache; every prompt
is left-padded to the longest of the batch, so after the first agent the pads
sit between one agent's part and the next. The 2-D attention mask covers the
whole cache (0 on every pad) and the position ids count real tokens only, so
each sequence sees exactly the positions and keys it would see alone. (The
only fully masked attention rows are the first prompt's left pads, as in
any left-padded HF generate; their outputs are never read.)
--check-cpu checks this: on a tiny float32 model, the batched LatentMAS gives
the same greedy tokens for each question as tools/latentmas_reference.py's
unbatched pipeline, and batched TextMAS the same as batch 1 (qwen3-tiny's
weights have std 0.3, so attention and positions move its tokens: with the
pads unmasked, or positions counting pads, the check fails):

  python3 bench/cuda/pipeline_vs_hf.py --check-cpu --tokenizer TOKENIZER.json --dataset gsm8k.jsonl

A CPU smoke run of the whole table (tiny model, tiny sizes, gcache on the
CPU) is `--device cpu --model qwen3-tiny` with small --decode-* / --*-tokens.

Timing: torch.cuda.synchronize around every HF measurement; gcache's pipeline
seconds are the per-question "seconds" of its results.jsonl (the batches'
wall time shared out; model load and the warm-up excluded), gcache's decode
rate is `gcache bench`'s decode_tok_s (median of --gcache-reps). HF decode
uses generate() as bench/cuda/hf_bench.py does (decode rate = B (G-1) /
(generate - prefill)); HF pipelines run a plain greedy loop over
model.model + lm_head (no logits during latent steps or prompt prefill but
the last position's).

Floor: decode at batch B moves the bf16 weights once per step (a tied
embedding read as the LM head), so floor = B x copy bandwidth / weight bytes;
the JSON also has the floor with the KV cache read added (average context
prompt + gen/2)."""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from make_bench_models import build, save  # noqa: E402
from pipeline_floor import pipeline_floor_s_per_question  # noqa: E402

# The targets per row.
TARGETS = {
    "decode-b1": "≥ 85 % of floor",
    "decode-b16": "≥ 6,000 tok/s",
    "latentmas-b1": "≤ 0.6 s/question",
    "latentmas-b16": "≤ 0.04 s/question",
    "latentmas-b128": "≥ 80 questions/s",
    "textmas-b16": "≤ 0.15 s/question",
}
ROW_NAMES = {
    "decode-b1": "decode b1, {p}+{g} tokens",
    "decode-b16": "decode b16, {p}+{g} tokens",
    "latentmas-b1": "LatentMAS pipeline b1",
    "latentmas-b16": "LatentMAS b16",
    "latentmas-b128": "LatentMAS b128",
    "textmas-b16": "TextMAS b16",
}


class Cut(Exception):
    """An HF part ran past its deadline (checked between forward passes)."""


def sync(dev):
    if dev == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------- prompts


def chatml(system, user):
    """gcache's GC_CHAT_CHATML rendering of [system, user] with the generation
    prompt (what a model folder without a chat template gets)."""
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def role_prompt(ps, role, question, context=None):
    """A role's prompt as gcache's gc_role_prompt + gc_node_prompt build it;
    context: [(role name, text)] of the earlier agents (TextMAS) or None."""
    user = role["user"].replace("{question}", question).replace("{answer_instruction}", ps["answer_instruction"])
    if context is not None:
        ctx = "".join(f"[{r}]:\n{t}\n\n" for r, t in context)
        user += ps["text_context"].replace("{context}", ctx)
    return chatml(role["system"], user)


# ---------------------------------------------------------------- HF pipelines


class Batch:
    """B sequences in one DynamicCache. mask (B, cache length): 1 on real
    positions, 0 on pads; next_pos (B,): the position the next real token of
    each sequence takes (real tokens counted only)."""

    def __init__(self, model, B, deadline):
        from transformers.cache_utils import DynamicCache
        self.m, self.dev = model, model.device
        self.cache = DynamicCache()
        self.mask = torch.zeros(B, 0, dtype=torch.long, device=self.dev)
        self.next_pos = torch.zeros(B, dtype=torch.long, device=self.dev)
        self.deadline = deadline

    def _forward(self, m_new, pos, ids=None, embeds=None):
        """Appends one block (B, L) to the cache; returns the final-norm hidden
        state of the block's last position (B, D)."""
        if time.perf_counter() > self.deadline:
            raise Cut()
        self.mask = torch.cat([self.mask, m_new], dim=1)
        out = self.m.model(input_ids=ids, inputs_embeds=embeds, attention_mask=self.mask, position_ids=pos,
                           past_key_values=self.cache, use_cache=True)
        return out.last_hidden_state[:, -1]

    def feed_prompts(self, seqs, pad_id):
        """seqs: B token lists, left-padded to the longest (pads masked)."""
        B, L = len(seqs), max(len(s) for s in seqs)
        ids = torch.full((B, L), pad_id, dtype=torch.long)
        m = torch.zeros(B, L, dtype=torch.long)
        for b, s in enumerate(seqs):
            ids[b, L - len(s):] = torch.tensor(s)
            m[b, L - len(s):] = 1
        ids, m = ids.to(self.dev), m.to(self.dev)
        pos = (self.next_pos[:, None] + m.cumsum(1) - 1).clamp_min(0)   # pads: any position, they are masked
        h = self._forward(m, pos, ids=ids)
        self.next_pos += m.sum(1)
        return h

    def feed_tokens(self, ids):
        """ids (B,): one token per sequence."""
        h = self._forward(torch.ones_like(ids)[:, None], self.next_pos[:, None], ids=ids[:, None])
        self.next_pos += 1
        return h

    def feed_embeds(self, e):
        """e (B, D): one input embedding per sequence."""
        ones = torch.ones(e.shape[0], 1, dtype=torch.long, device=self.dev)
        h = self._forward(ones, self.next_pos[:, None], embeds=e[:, None, :])
        self.next_pos += 1
        return h


def realignment(model):
    """W_a (D, D) and the mean input-embedding norm, float64, as
    tools/latentmas_reference.py computes them."""
    w_in = model.get_input_embeddings().weight.detach().double()
    w_out = model.get_output_embeddings().weight.detach().double()
    g = w_out.T @ w_out + 1e-5 * torch.eye(w_out.shape[1], dtype=torch.float64, device=w_out.device)
    wa = torch.linalg.solve(g, w_out.T @ w_in)
    return wa, w_in.norm(dim=1).mean().item()


def greedy(batch, h, n):
    """n greedy tokens after the hidden state h (B, D): (B, n)."""
    out = []
    for i in range(n):
        nxt = batch.m.lm_head(h).argmax(-1)
        out.append(nxt)
        if i + 1 < n:
            h = batch.feed_tokens(nxt)
    return torch.stack(out, 1)


@torch.no_grad()
def hf_latentmas(model, tok, ps, wa, target, questions, latent_steps, max_tokens, deadline):
    """Greedy answers (B, max_tokens) of the batched LatentMAS pipeline."""
    dtype = next(model.parameters()).dtype
    b = Batch(model, len(questions), deadline)
    enc = lambda role: [tok(role_prompt(ps, role, q)).input_ids for q in questions]  # noqa: E731
    for role in ps["sequential"]["agents"]:
        h = b.feed_prompts(enc(role), tok.pad_token_id)
        for _ in range(latent_steps):
            e = h.double() @ wa
            e = e * (target / e.norm(dim=-1, keepdim=True).clamp_min(1e-6))
            h = b.feed_embeds(e.to(dtype))
    h = b.feed_prompts(enc(ps["sequential"]["judger"]), tok.pad_token_id)
    return greedy(b, h, max_tokens)


@torch.no_grad()
def hf_textmas(model, tok, ps, questions, agent_tokens, max_tokens, deadline):
    """Greedy answers (B, max_tokens) of batched sequential TextMAS: each
    agent a fresh batch whose prompts carry the earlier agents' texts."""
    ctx = [[] for _ in questions]
    agents = ps["sequential"]["agents"] + [ps["sequential"]["judger"]]
    for i, role in enumerate(agents):
        judger = i == len(agents) - 1
        b = Batch(model, len(questions), deadline)
        seqs = [tok(role_prompt(ps, role, q, ctx[k] if i else None)).input_ids for k, q in enumerate(questions)]
        out = greedy(b, b.feed_prompts(seqs, tok.pad_token_id), max_tokens if judger else agent_tokens)
        if judger:
            return out
        for k, row in enumerate(out.tolist()):
            ctx[k].append((role["role"], tok.decode(row, skip_special_tokens=True)))


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, a):
        self.a = a
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + a.budget
        self.out = os.environ.get("OUT", "/tmp/gc_out")
        os.makedirs(self.out, exist_ok=True)
        self.models = os.environ.get("GC_MODELS_DIR", "/tmp/gc_models")
        os.makedirs(self.models, exist_ok=True)
        self.gcache = os.path.join(os.environ.get("GC_BIN", os.path.join(ROOT, ".carry/bin")), "gcache")
        self.rows = {}      # row key -> {"hf": text, "gcache": text, "floor": text}
        self.head = []      # lines above the table
        self.warmed = False  # gcache's W_a computed and cached on disk (pipeline_row)
        self.env = self.gcache_env()

    def left(self):
        return self.deadline - time.perf_counter()

    def log(self, rec):
        rec["t"] = round(time.perf_counter() - self.t0, 1)
        with open(os.path.join(self.out, "pipeline_vs_hf.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)

    def cell(self, row, side, text):
        self.rows.setdefault(row, {})[side] = text
        self.write_table()

    def write_table(self):
        a = self.a
        lines = self.head + ["", "| workload | HF transformers | gcache | floor / target |", "|---|---|---|---|"]
        for k in ROW_NAMES:
            if k in self.rows:
                r = self.rows[k]
                name = ROW_NAMES[k].format(p=a.decode_prompt, g=a.decode_gen)
                floor = r.get("floor", "")
                lines.append(f"| {name} | {r.get('hf', '—')} | {r.get('gcache', '—')} | "
                             f"{floor + '; ' if floor else ''}target {TARGETS[k]} |")
        with open(os.path.join(self.out, "pipeline_vs_hf.md"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def gcache_env(self):
        """env.sh's library path: the carried libraries, then the cuBLAS 13 of
        the machine (or of torch's wheels)."""
        env = dict(os.environ)
        libs = [os.path.join(ROOT, ".carry/lib")]
        try:
            found = subprocess.run("find /usr/local/cuda*/ /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1",
                                   shell=True, capture_output=True, text=True, timeout=60).stdout.strip()
        except subprocess.TimeoutExpired:
            found = ""
        if not found:
            site = os.path.dirname(os.path.dirname(torch.__file__))
            found = next(iter(glob.glob(os.path.join(site, "nvidia", "**", "libcublas.so.13*"), recursive=True)), "")
        if found:
            libs.append(os.path.dirname(found))
        env["LD_LIBRARY_PATH"] = ":".join(libs + [env.get("LD_LIBRARY_PATH", "")])
        env["GC_CACHE_DIR"] = os.path.join(self.models, "cache")
        return env

    def sub(self, cmd, timeout, log):
        """Runs a gcache command with min(timeout, budget left); stdout, or
        None (the reason logged) on a timeout or an error."""
        t = min(timeout, self.left() - 5)
        if t < 10:
            self.log({"skipped": " ".join(cmd[:3]), "why": "budget"})
            return None
        with open(os.path.join(self.out, log), "w") as errf:
            try:
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errf, text=True, timeout=t, env=self.env)
            except subprocess.TimeoutExpired:
                self.log({"timeout": " ".join(cmd[:3]), "after_s": round(t), "log": log})
                return None
        if r.returncode:
            self.log({"failed": " ".join(cmd), "rc": r.returncode, "log": log})
            return None
        return r.stdout

    def hf_deadline(self, timeout):
        return time.perf_counter() + max(0.0, min(timeout, self.left() - 5))

    # -- setup

    def ceilings(self):
        a = self.a
        if a.device == "cuda":
            try:
                smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm",
                                      "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                smi = f"nvidia-smi: {e}"
            card = torch.cuda.get_device_name()
        else:
            smi, card = "cpu", "cpu"
        with open(os.path.join(self.out, "gpu.txt"), "w") as f:
            f.write(smi + "\n")
        n = 1 << (30 if a.device == "cuda" else 24)
        x = torch.randn(n, dtype=torch.bfloat16, device=a.device)
        y = torch.empty_like(x)
        for _ in range(3):
            y.copy_(x)
        sync(a.device)
        t = time.perf_counter()
        for _ in range(20):
            y.copy_(x)
        sync(a.device)
        self.bw = 2 * x.numel() * 2 / ((time.perf_counter() - t) / 20)   # bytes/s, read + write
        del x, y
        # bf16 GEMM rate (cuBLAS through torch, a large square product): the
        # prefill side of the pipeline floors (pipeline_floor.py)
        n = 8192 if a.device == "cuda" else 512
        p, q = (torch.randn(n, n, dtype=torch.bfloat16, device=a.device) for _ in range(2))
        for _ in range(3):
            r = p @ q
        sync(a.device)
        t = time.perf_counter()
        for _ in range(10):
            r = p @ q
        sync(a.device)
        self.gemm = 2 * n ** 3 / ((time.perf_counter() - t) / 10)   # FLOP/s
        del p, q, r
        self.card = card
        self.log({"part": "ceilings", "card": card, "nvidia_smi": smi, "copy_TB_s": self.bw / 1e12,
                  "gemm_bf16_TFLOP_s": self.gemm / 1e12, "torch": torch.__version__})

    def setup_model(self):
        a = self.a
        import transformers
        from transformers import PreTrainedTokenizerFast
        t = time.perf_counter()
        self.model = build(a.model, a.device)
        self.mdir = os.path.join(self.models, a.model)
        if not os.path.exists(os.path.join(self.mdir, "config.json")):
            save(self.model, self.mdir)
        shutil.copy(a.tokenizer, os.path.join(self.mdir, "tokenizer.json"))
        self.tok = PreTrainedTokenizerFast(tokenizer_file=a.tokenizer)
        self.tok.pad_token = "<|endoftext|>"
        self.ps = json.load(open(os.path.join(ROOT, "prompts", "math.json"), encoding="utf-8"))
        self.questions = [json.loads(l)["question"] for l in open(a.dataset, encoding="utf-8") if l.strip()]
        cfg = self.model.config
        self.weight_bytes = sum(p.numel() * p.element_size() for p in self.model.parameters())
        # parameters a token's GEMMs multiply: all but the embedding table and the
        # LM head (it multiplies only the rows that want logits, one per prefill;
        # its bytes are in weight_bytes)
        skip = {id(self.model.get_input_embeddings().weight), id(self.model.get_output_embeddings().weight)}
        self.gemm_params = sum(p.numel() for p in self.model.parameters() if id(p) not in skip)
        # bf16 K and V of every layer per position
        self.kv_bytes = cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * cfg.head_dim * 2
        self.wa, self.target = realignment(self.model)
        sync(a.device)
        self.log({"part": "model", "model": a.model, "weight_bytes": self.weight_bytes, "kv_bytes_per_pos": self.kv_bytes,
                  "seconds": time.perf_counter() - t, "transformers": transformers.__version__})
        self.head = [f"Issue 14's table — card: {self.card}; device copy {self.bw / 1e12:.3g} TB/s (read + write, torch); "
                     f"random-weight {a.model} bf16, {self.weight_bytes / 1e9:.2f} GB of weights; "
                     f"torch {torch.__version__}, transformers {transformers.__version__}.",
                     f"`python3 bench/cuda/pipeline_vs_hf.py {' '.join(sys.argv[1:])}` "
                     f"(decode: {a.decode_prompt}-token prompts + {a.decode_gen} greedy tokens; pipelines: "
                     f"{a.latent_steps} latent steps, {a.agent_tokens}-token TextMAS agents, {a.max_tokens}-token answers)."]
        self.write_table()

    def release(self):
        if self.a.device == "cuda":
            torch.cuda.empty_cache()

    # -- decode rows

    def decode_row(self, B):
        a, row = self.a, f"decode-b{B}"
        floor = B * self.bw / self.weight_bytes
        ctx = a.decode_prompt + a.decode_gen / 2
        floor_kv = B * self.bw / (self.weight_bytes + B * ctx * self.kv_bytes)
        self.rows.setdefault(row, {})["floor"] = f"floor {floor:,.0f} tok/s (weights / copy bw; {floor_kv:,.0f} with the KV read)"
        self.release()
        o = self.sub([self.gcache, "bench", "--device", a.gcache_device, "--model", self.mdir, "--prompt-tokens",
                      str(a.decode_prompt), "--gen-tokens", str(a.decode_gen), "--reps", str(a.gcache_reps),
                      "--batch", str(B)], 120, f"gcache-bench-b{B}.err")
        rec = next((json.loads(l) for l in (o or "").splitlines() if l.startswith("{")), None)
        if rec:
            r = rec["decode_tok_s"]
            self.log({"row": row, "side": "gcache", "floor_tok_s": floor, "floor_with_kv_tok_s": floor_kv, **rec})
            self.cell(row, "gcache", f"{r:,.1f} tok/s ({100 * r / floor:.0f} % of floor)")
        else:
            self.cell(row, "gcache", "failed / cut (see JSON lines)")
        if self.left() < 30:
            self.cell(row, "hf", "skipped (budget)")
            return
        m, dev = self.model, a.device
        torch.manual_seed(1)
        ids = torch.randint(0, m.config.vocab_size - 1000, (B, a.decode_prompt), device=dev)
        dl = self.hf_deadline(150)
        with torch.no_grad():
            def gen(n):
                return m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                  min_new_tokens=n, do_sample=False, max_time=max(1.0, dl - time.perf_counter()))
            gen(8)   # warm-up
            pf, gs, G = [], [], 0
            for _ in range(a.hf_reps):
                sync(dev); t = time.perf_counter()
                m(input_ids=ids, use_cache=True, logits_to_keep=1)
                sync(dev); pf.append(time.perf_counter() - t); t = time.perf_counter()
                out = gen(a.decode_gen)
                sync(dev); gs.append(time.perf_counter() - t)
                G = out.shape[1] - a.decode_prompt
        pf_s, gen_s = sorted(pf)[len(pf) // 2], sorted(gs)[len(gs) // 2]
        r = B * (G - 1) / max(gen_s - pf_s, 1e-9)
        self.log({"row": row, "side": "hf", "batch": B, "prompt": a.decode_prompt, "gen": G, "prefill_s": pf_s,
                  "generate_s": gen_s, "decode_tok_s": r, "reps": a.hf_reps})
        cut = "" if G == a.decode_gen else f", cut at {G} tokens"
        self.cell(row, "hf", f"{r:,.1f} tok/s{cut}")

    # -- pipeline rows

    def gcache_run(self, method, B, n, timeout):
        """`gcache run` of the first n questions at batch B: (s/question,
        questions, mean output tokens) from its results.jsonl, or None."""
        a = self.a
        d = os.path.join(self.out, f"gcache-{method}-b{B}")
        shutil.rmtree(d, ignore_errors=True)
        cmd = [self.gcache, "run", "--method", method, "--task", "gsm8k", "--dataset", a.dataset, "--model", self.mdir,
               "--device", a.gcache_device, "--latent-steps", str(a.latent_steps), "--max-tokens", str(a.max_tokens),
               "--agent-max-tokens", str(a.agent_tokens), "--temperature", "0", "--batch", str(B),
               "--max-samples", str(n), "--out", d]
        self.release()
        t = time.perf_counter()
        if self.sub(cmd, timeout, f"gcache-{method}-b{B}.log") is None:
            return None
        recs = [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.strip()]
        s = sum(r["seconds"] for r in recs)
        out_tok = sum(r["agents"][-1]["out_tokens"] for r in recs) / max(len(recs), 1)
        floor = pipeline_floor_s_per_question(recs, B, {"weight_bytes": self.weight_bytes, "kv_bytes": self.kv_bytes,
                                                        "params": self.gemm_params, "bw": self.bw, "gemm": self.gemm})
        self.log({"side": "gcache", "method": method, "batch": B, "questions": len(recs), "seconds": s,
                  "s_per_question": s / len(recs), "questions_per_s": len(recs) / s, "mean_answer_tokens": out_tok,
                  "floor_s_per_question": floor, "wall_s_with_load": time.perf_counter() - t,
                  **self.same_prompts(method, recs)})
        return s / len(recs), len(recs), out_tok, floor

    def same_prompts(self, method, recs):
        """Whether HF's prompts have gcache's token counts (every agent of
        LatentMAS; TextMAS: the first agent, the others carry generated text)."""
        roles = self.ps["sequential"]["agents"] + [self.ps["sequential"]["judger"]]
        if method != "latentmas":
            roles = roles[:1]
        hf = [[len(self.tok(role_prompt(self.ps, ro, r["question"])).input_ids) for ro in roles] for r in recs]
        ours = [[ag["prompt_tokens"] for ag in r["agents"][:len(roles)]] for r in recs]
        return {"prompt_tokens_equal_hf": hf == ours, "prompt_tokens_q0": ours[0], "prompt_tokens_q0_hf": hf[0]}

    def hf_pipeline(self, method, B, n, timeout):
        """HF's batched pipeline over the first n questions, batches of B:
        (s/question, questions), or None when cut."""
        a = self.a
        if self.left() < 30:
            self.log({"side": "hf", "method": method, "batch": B, "skipped": "budget"})
            return None
        self.release()
        dl = self.hf_deadline(timeout)
        qs = self.questions[:n]
        run = (lambda q: hf_latentmas(self.model, self.tok, self.ps, self.wa, self.target, q, a.latent_steps,
                                      a.max_tokens, dl)) if method == "latentmas" else \
              (lambda q: hf_textmas(self.model, self.tok, self.ps, q, a.agent_tokens, a.max_tokens, dl))
        times = []
        try:
            if method == "latentmas" and B == 1:   # warm-up: one question, 2 answer tokens
                hf_latentmas(self.model, self.tok, self.ps, self.wa, self.target, qs[:1], a.latent_steps, 2, dl)
            for i in range(0, n, B):
                sync(a.device); t = time.perf_counter()
                out = run(qs[i:i + B])
                sync(a.device); times.append(time.perf_counter() - t)
        except Cut:
            self.log({"side": "hf", "method": method, "batch": B, "cut_after_batches": len(times),
                      "timeout_s": timeout})
        except torch.OutOfMemoryError as e:
            self.log({"side": "hf", "method": method, "batch": B, "oom": str(e)[:200]})
            times = []
        self.release()
        if not times:
            return None
        done = len(times) * B
        s = sum(times)
        self.log({"side": "hf", "method": method, "batch": B, "questions": done, "seconds": s, "batch_s": times,
                  "s_per_question": s / done, "questions_per_s": done / s, "answer_tokens": out.shape[1]})
        return s / done, done

    def pipeline_row(self, row, method, B, gc_n, hf_n, gc_timeout, hf_timeout):
        # The first LatentMAS row, whichever --rows names, first computes the
        # realignment matrix (cached on disk): else that row's timeout pays for it.
        if method == "latentmas" and not self.warmed:
            self.gcache_run("latentmas", 1, 1, 240)
            self.warmed = True
        g = self.gcache_run(method, B, gc_n, gc_timeout)
        if g:
            self.rows.setdefault(row, {})["floor"] = f"floor {g[3]:.3f} s/q, {1 / g[3]:.1f} q/s (gcache's steps)"
        self.cell(row, "gcache", f"{g[0]:.3f} s/q, {1 / g[0]:.1f} q/s ({g[1]} q, {g[2]:.0f} answer tok/q; "
                  f"{100 * g[3] / g[0]:.0f} % of floor)" if g else "failed / cut (see JSON lines)")
        if hf_n:
            self.hf_cell(row, method, B, hf_n, hf_timeout)

    def hf_cell(self, row, method, B, n, timeout):
        skip = self.left() < 30
        h = self.hf_pipeline(method, B, n, timeout)
        self.cell(row, "hf", f"{h[0]:.3f} s/q, {1 / h[0]:.2f} q/s ({h[1]} q)" if h else
                  "skipped (budget)" if skip else "cut / failed (see JSON lines)")


def check_cpu(a):
    """Batched HF LatentMAS == tools/latentmas_reference.py's unbatched
    pipeline, and batched TextMAS == batch 1, token for token, on the tiny
    model in float32. Exit status 1 on any difference."""
    from transformers import PreTrainedTokenizerFast
    import latentmas_reference as ref
    torch.set_num_threads(2)
    model = build(a.model if a.model != "qwen3-4b" else "qwen3-tiny", "cpu", torch.float32)
    tok = PreTrainedTokenizerFast(tokenizer_file=a.tokenizer)
    tok.pad_token = "<|endoftext|>"
    # ChatML, as chatml() renders it, for the reference's apply_chat_template
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    ps = json.load(open(os.path.join(ROOT, "prompts", "math.json"), encoding="utf-8"))
    qs = [json.loads(l)["question"] for l in open(a.dataset, encoding="utf-8") if l.strip()][:a.check_n]
    wa, target = realignment(model)
    never = float("inf")
    bad = 0
    got = hf_latentmas(model, tok, ps, wa, target, qs, a.latent_steps, a.max_tokens, never).tolist()
    lens = [len(tok(role_prompt(ps, ps["sequential"]["judger"], q)).input_ids) for q in qs]
    for k, q in enumerate(qs):
        want, top, _ = ref.pipeline(tok, model, wa, target, ps["sequential"]["agents"], ps["sequential"]["judger"], q,
                                    ps["answer_instruction"], a.latent_steps, a.max_tokens, set())
        diff = next((i for i, (x, y) in enumerate(zip(got[k], want)) if x != y), None)
        margin = min(t[1] - t[3] for t in top)
        print(f"[check] latentmas q{k} (judger prompt {lens[k]} tokens): "
              + ("EQUAL" if diff is None and len(want) == a.max_tokens else
                 f"DIFFERS at token {diff} (margin there {top[diff][1] - top[diff][3]:.2e})")
              + f"; smallest top-2 margin {margin:.2e}", flush=True)
        bad += diff is not None or len(want) != a.max_tokens
    tb = hf_textmas(model, tok, ps, qs, a.agent_tokens, a.max_tokens, never).tolist()
    for k, q in enumerate(qs):
        one = hf_textmas(model, tok, ps, [q], a.agent_tokens, a.max_tokens, never).tolist()[0]
        same = one == tb[k]
        print(f"[check] textmas q{k}: batch {len(qs)} vs batch 1 " + ("EQUAL" if same else "DIFFERS"), flush=True)
        bad += not same
    print(f"[check] {'all equal' if not bad else f'{bad} differ'}: {len(qs)} questions, {a.latent_steps} latent steps, "
          f"{a.max_tokens} answer tokens, {a.agent_tokens}-token TextMAS agents", flush=True)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen3-4b", help="a shape of tools/make_bench_models.py")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="HF's device")
    ap.add_argument("--gcache-device", default=None, help="gcache's --device (default: --device)")
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole call")
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, ".carry/data/tokenizer.json"))
    ap.add_argument("--dataset", default=os.path.join(ROOT, ".carry/data/gsm8k-160.jsonl"))
    ap.add_argument("--decode-prompt", type=int, default=256)
    ap.add_argument("--decode-gen", type=int, default=256)
    ap.add_argument("--latent-steps", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=256, help="answer tokens (judger)")
    ap.add_argument("--agent-tokens", type=int, default=256, help="TextMAS agents' tokens")
    ap.add_argument("--hf-reps", type=int, default=1)
    ap.add_argument("--gcache-reps", type=int, default=3)
    ap.add_argument("--rows", default=",".join(ROW_NAMES), help="rows to run, in this order")
    ap.add_argument("--hf-b1-questions", type=int, default=2)
    ap.add_argument("--no-hf-b128", action="store_true", help="skip HF LatentMAS at b128 (run last otherwise)")
    ap.add_argument("--check-cpu", action="store_true", help="the CPU conformance check only")
    ap.add_argument("--check-n", type=int, default=4, help="--check-cpu: questions (one batch)")
    a = ap.parse_args()
    if a.check_cpu:
        sys.exit(check_cpu(a))
    a.gcache_device = a.gcache_device or a.device
    rows = a.rows.split(",")
    if set(rows) - set(ROW_NAMES):
        sys.exit(f"unknown rows {sorted(set(rows) - set(ROW_NAMES))} (rows: {','.join(ROW_NAMES)})")
    b = Bench(a)
    b.ceilings()
    b.setup_model()
    for row in rows:
        try:
            run_row(b, a, row)
        except Exception as e:   # a failed row is recorded; the next ones still run
            b.log({"row": row, "error": repr(e)[:500]})
            b.release()
    if "latentmas-b128" in rows and not a.no_hf_b128:
        try:
            b.hf_cell("latentmas-b128", "latentmas", 128, 128, 150)
        except Exception as e:
            b.log({"row": "latentmas-b128", "side": "hf", "error": repr(e)[:500]})
    b.log({"part": "done", "seconds": time.perf_counter() - b.t0})
    print(open(os.path.join(b.out, "pipeline_vs_hf.md")).read(), flush=True)


def run_row(b, a, row):
    """One row of the table. Questions: gcache as bench/cuda/latentmas_pipeline.sh,
    HF fewer at b1 (it is slow there); timeouts (s) about 3x the H100 estimate."""
    if row.startswith("decode-b"):
        b.decode_row(int(row[len("decode-b"):]))
    else:           # method, batch, gcache questions, HF questions, gcache timeout, HF timeout
        spec = {"latentmas-b1": ("latentmas", 1, 4, a.hf_b1_questions, 120, 120),
                "latentmas-b16": ("latentmas", 16, 32, 16, 90, 90),
                "latentmas-b128": ("latentmas", 128, 128, 0, 120, 0),   # HF at b128 runs last
                "textmas-b16": ("textmas", 16, 32, 16, 150, 150)}[row]
        b.pipeline_row(row, *spec)


if __name__ == "__main__":
    main()
