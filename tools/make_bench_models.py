"""Random-weight models of real shapes, saved as HF folders (bf16 safetensors)
for the CUDA benchmarks and tests. Runs where torch + transformers are (the GPU
machine); nothing is downloaded.

  python3 tools/make_bench_models.py OUT_DIR qwen3-0.6b qwen3-4b smollm2-135m qwen3-tiny ...

Weights follow transformers' own random init (seed 0), so the same name gives
the same model on any machine with the same library versions."""
import os, sys, time
import torch

SHAPES = {
    # Qwen3 shapes as in hf_anchor.py (vocab 151936, head_dim 128)
    "qwen3-0.6b": dict(arch="qwen3", hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, tie_word_embeddings=True),
    "qwen3-4b": dict(arch="qwen3", hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
    "qwen3-8b": dict(arch="qwen3", hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
    # A two-layer Qwen3 with Qwen's vocabulary (so the real tokenizer fits): the
    # CPU checks of bench/cuda/pipeline_vs_hf.py (--check-cpu) and its smoke run
    "qwen3-tiny": dict(arch="qwen3", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
                       initializer_range=0.3),
    # SmolLM2-135M's shape (llama architecture, GQA 3)
    "smollm2-135m": dict(arch="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True),
}


def build(name, device="cuda", dtype=torch.bfloat16):
    """The random-weight model NAME on DEVICE, parameters in DTYPE (weights drawn
    in bf16 either way, so a float32 copy holds the same values)."""
    s = dict(SHAPES[name])
    arch = s.pop("arch")
    if arch == "qwen3":
        from transformers import Qwen3Config as C, Qwen3ForCausalLM as M
        s.setdefault("head_dim", 128)
        cfg = C(vocab_size=151936, max_position_embeddings=40960, rope_theta=1e6, rms_norm_eps=1e-6, **s)
    else:
        from transformers import LlamaConfig as C, LlamaForCausalLM as M
        cfg = C(vocab_size=49152, max_position_embeddings=8192, rope_theta=1e5, rms_norm_eps=1e-5, **s)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(device):
        m = M(cfg)
    torch.set_default_dtype(torch.float32)
    m.to(dtype)
    m.eval()
    m.generation_config.eos_token_id = None
    m.generation_config.pad_token_id = 0
    return m


def save(m, path):
    t = time.time()
    m.save_pretrained(path, safe_serialization=True)
    print(f"saved {path} in {time.time() - t:.1f}s", flush=True)


if __name__ == "__main__":
    out = sys.argv[1]
    for name in sys.argv[2:]:
        m = build(name)
        save(m, os.path.join(out, name))
        del m
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
