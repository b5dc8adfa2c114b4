#!/usr/bin/env bash
# Prefill and decode speed on the GPU machine, gcache against HF transformers
# on random-weight Qwen3 shapes: the machine's ceilings first (device copy
# bandwidth and bf16 GEMM rate, with torch), then for each model HF (the
# models in HF_MODELS, default all) and `gcache bench` at batch 1 and 16.
# Workload on both sides: 512-token prompts of fixed pseudo-random ids, one
# prefill forward of B x 512, 128 greedy tokens, median of 3 repetitions.
#   HF_MODELS=qwen3-4b bash bench/cuda/speed_vs_hf.sh [MODELS]   (default qwen3-0.6b,qwen3-4b,qwen3-8b)
# Carried: .carry/bin/gcache + .carry/lib. Logs and JSON lines in $OUT.
source "$(dirname "$0")/env.sh"
list=${1:-qwen3-0.6b,qwen3-4b,qwen3-8b}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
[ -n "${SKIP_CEILINGS:-}" ] || python3 - <<'PY' 2>&1 | tee -a "$OUT/ceilings.txt"
import torch, time
x = torch.randn(1 << 30, dtype=torch.bfloat16, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(20): y.copy_(x)
torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 20
print(f"copy {2 * x.numel() * 2 / dt / 1e12:.2f} TB/s (read+write)")
del x, y
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda"); b = torch.randn_like(a)
for _ in range(3): a @ b
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(20): a @ b
torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 20
print(f"gemm bf16 8192^3 {2 * 8192**3 / dt / 1e12:.0f} TFLOP/s")
PY
hfl=${HF_MODELS:-$list}
for m in ${list//,/ }; do
  if [[ ",$hfl," == *",$m,"* ]]; then   # HF runs the model it builds, then saves it for gcache
    timeout 400 python3 bench/cuda/hf_bench.py --models "$m" --batches 1,16 --prompt 512 --gen 128 --reps 3 \
      --save "$MODELS" 2>&1 | grep -v Warning | tee -a "$OUT/hf.jsonl"
  else
    ensure_model "$m"
  fi
  for B in 1 16; do bench_decode "$m" $B default; done
done
tail -3 "$OUT/bench.err"
