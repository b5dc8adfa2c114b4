# %% [markdown]
# # LatentMAS by hand, from cache operations and latent steps
#
# Three agents — a planner, a critic and a judger — solve one math question.
# The first two never write text: each reads the question, "thinks" for a few
# latent steps (its last hidden state, realigned into input-embedding space,
# is fed back as the next input), and hands its whole KV cache to the next
# agent. Only the judger decodes an answer.
#
# Run it as a script, or cell by cell (`# %%`) in an editor that understands
# them:
#
#     python examples/python/latentmas_by_hand.py --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# With `--check` it also runs the library's own LatentMAS scheduler on the same
# three roles and verifies that the hand-built pipeline produced the same
# answer, token for token.

# %%
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

import gcache

ROOT = Path(__file__).resolve().parents[2]
ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--model", default=str(ROOT / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
ap.add_argument("--question", default="A baker made 20 muffins and sold 7 of them. How many muffins are left?")
ap.add_argument("--latent-steps", type=int, default=4)
ap.add_argument("--max-tokens", type=int, default=96)
ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--check", action="store_true", help="compare with gcache.run(method='latentmas')")
args = ap.parse_args()

# %% [markdown]
# ## The roles
# The prompts come from the repository's math prompt set (the one `gcache run
# --task gsm8k` uses): the sequential team's planner and critic, and its judger.

# %%
prompt_set = json.loads((ROOT / "prompts/math.json").read_text())
seq = prompt_set["sequential"]
roles = [seq["agents"][0], seq["agents"][1], seq["judger"]]


def user_text(role: dict) -> str:
    return role["user"].replace("{question}", args.question) \
                       .replace("{answer_instruction}", prompt_set["answer_instruction"])


model = gcache.Model(args.model, device=args.device, threads=args.threads)
print(model, "| chat template:", model.chat_style)

# %% [markdown]
# ## Agents 1 and 2: prompt, then latent steps
# `cache.feed(text)` appends the agent's chat-formatted prompt and returns the
# last position's logits and hidden state; `cache.latent(m)` runs m latent
# steps and returns their hidden states, a (m, hidden_size) numpy array that
# the engine wrote into directly. The next agent starts from a zero-copy fork
# of the previous agent's whole cache.

# %%
thoughts = {}
cache = model.cache()
for role in roles[:2]:
    prompt = model.chat_prompt(user_text(role), system=role["system"], think=False)
    start = len(cache)
    out = cache.feed(prompt, special=True)
    h = cache.latent(args.latent_steps)
    thoughts[role["role"]] = h
    print(f"{role['role']:>8}: +{len(cache) - start} positions (prompt {len(cache) - start - len(h)}, "
          f"latent {len(h)}), cache {len(cache)} positions / {cache.nbytes / 2**20:.1f} MiB")
    nxt = cache.fork()   # what this agent hands on: its whole cache, no copy
    cache.close()
    cache = nxt

# %% [markdown]
# ## Looking at the latent thoughts
# Norms of the final-norm hidden states, how much consecutive thoughts differ,
# and the realigned input embeddings (rescaled to the mean token-embedding norm).

# %%
for name, h in thoughts.items():
    norms = np.linalg.norm(h, axis=1)
    unit = h / norms[:, None]
    cos = (unit[1:] * unit[:-1]).sum(axis=1) if len(h) > 1 else np.array([])
    e = cache.realign(h)
    print(f"{name:>8}: |h| {np.round(norms, 1)}  cos(h_t, h_t+1) {np.round(cos, 3)}  "
          f"|realigned| {np.round(np.linalg.norm(e, axis=1), 3)}")

# The same hand-over with only the latent positions (LatentMAS --pass latent):
# a zero-copy slice of the last positions.
with cache[len(cache) - args.latent_steps:] as latent_only:
    print(f"latent-only hand-over: {len(latent_only)} positions, {latent_only.nbytes} bytes")

# %% [markdown]
# ## Agent 3: the judger decodes
# It appends its prompt to the critic's cache and generates (greedy).

# %%
judger = roles[2]
prompt = model.chat_prompt(user_text(judger), system=judger["system"], think=False)
answer = cache.generate(prompt, max_tokens=args.max_tokens, temperature=0.0)
print(f"\njudger ({answer.finish}, {len(answer.ids)} tokens):\n{answer.text}\n")
cache.close()
print("KV blocks still held:", model.live_blocks)

# %% [markdown]
# ## The same team through the library's scheduler
# A prompt set with just these three roles, run by `gcache.run`: its LatentMAS
# passes each agent's whole cache on, exactly as above.

# %%
if args.check:
    custom = dict(prompt_set)
    custom["sequential"] = {"agents": roles[:2], "judger": judger}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "three_agents.json"
        path.write_text(json.dumps(custom))
        rec = gcache.run(model, "latentmas", "gsm8k", questions=[{"question": args.question, "answer": "#### 0"}],
                         prompts=str(path), latent_steps=args.latent_steps, max_tokens=args.max_tokens,
                         temperature=0.0)[0]
    same = rec["output"] == answer.text
    print("gcache.run(method='latentmas') gives the same answer:", same)
    print("agents:", [(a["role"], a["cache_in"], a["cache_out"]) for a in rec["agents"]])
    model.close()
    sys.exit(0 if same else 1)
model.close()
