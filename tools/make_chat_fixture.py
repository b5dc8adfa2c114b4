#!/usr/bin/env python3
"""A tiny random-weight Llama with a real (small) BPE tokenizer and a ChatML
template, for end-to-end tests of generation, the agent scheduler and the
methods (tests/data/tiny/chat). Runs on CPU:
    python tools/make_chat_fixture.py --out tests/data/tiny/chat
"""
import argparse, os, shutil
import torch
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--out", default="tests/data/tiny/chat")
ap.add_argument("--tokenizer", default="tests/data/tokenizer/tiny")
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
cfg = LlamaConfig(vocab_size=545, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                  rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                  bos_token_id=None, eos_token_id=537)
torch.manual_seed(7)
m = LlamaForCausalLM(cfg)
with torch.no_grad():
    for n, p in m.named_parameters():
        p.copy_(1.0 + 0.1 * torch.randn(p.shape) if n.endswith("norm.weight") else torch.randn(p.shape) / p.shape[-1] ** 0.5)
m.to(torch.bfloat16).save_pretrained(a.out, safe_serialization=True)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(os.path.join(a.tokenizer, f), os.path.join(a.out, f))
print("wrote", a.out)
