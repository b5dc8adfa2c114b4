#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) prefill / decode speed on a GGUF, measured the
same way as `gcache bench`: N pseudo-random prompt tokens, then M greedy
tokens, median of R repetitions. Used for the side-by-side in RESULTS.md.
    python bench/llamacpp_bench.py --model M.gguf --prompt-tokens 128 --gen-tokens 64 --threads 2
"""
import argparse, json, statistics, time
import llama_cpp
from llama_cpp import Llama

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--prompt-tokens", type=int, default=128)
ap.add_argument("--gen-tokens", type=int, default=64)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
llm = Llama(model_path=a.model, n_ctx=a.prompt_tokens + a.gen_tokens + 8, n_threads=a.threads,
            n_threads_batch=a.threads, n_batch=a.prompt_tokens + a.gen_tokens + 8, verbose=False)
V = llm.n_vocab()
x = 88172645463325252
ids = []
for _ in range(a.prompt_tokens):   # same xorshift sequence as gcache bench
    x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF; x ^= x >> 7; x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
    ids.append(x % V)
pf, dc = [], []
for r in range(a.reps):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    t1 = time.perf_counter()
    for _ in range(a.gen_tokens):
        tok = int(llm.scores[llm.n_tokens - 1].argmax())
        llm.eval([tok])
    t2 = time.perf_counter()
    pf.append(a.prompt_tokens / (t1 - t0))
    dc.append(a.gen_tokens / (t2 - t1))
print(json.dumps(dict(impl="llama.cpp", version=llama_cpp.__version__, threads=a.threads, prompt_tokens=a.prompt_tokens,
                      gen_tokens=a.gen_tokens, reps=a.reps, prefill_tok_s=round(statistics.median(pf), 2),
                      decode_tok_s=round(statistics.median(dc), 2))))
