#!/usr/bin/env bash
# One call on the GPU machine: CUDA tests, then gcache vs HF transformers on
# random-weight Qwen3 shapes. Uses binaries built elsewhere and carried in
# .carry/bin with their non-system libraries in .carry/lib (see RESULTS.md).
#   bash bench/cuda/run_h200.sh [tests] [bench MODELS]       logs go to $OUT
source "$(dirname "$0")/env.sh"
what=${1:-all}

if [ "$what" = all ] || [ "$what" = tests ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
  ldd "$BIN/test_cuda" | grep -i "not found" | tee -a "$OUT/gpu.txt"
  [ -d "$MODELS/smollm2-135m" ] || python3 tools/make_bench_models.py "$MODELS" smollm2-135m 2>&1 | tail -2
  GC_CUDA_TEST_MODEL=$MODELS/smollm2-135m timeout 300 "$BIN/test_cuda" > "$OUT/test_cuda.log" 2>&1
  echo "test_cuda exit $?"
  grep -E "^\[  (PASSED|FAILED|  SKIPPED|SKIPPED) |FAILED|rel err [0-9.e+-]+$|greedy .*argmax" "$OUT/test_cuda.log" | tail -40
fi

if [ "$what" = all ] || [ "$what" = bench ]; then
  list=${2:-qwen3-0.6b,qwen3-4b,qwen3-8b}
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
  # HF side for the models named in HF_MODELS (default all); the rest are only built and saved.
  hfl=${HF_MODELS:-$list}
  for m in ${list//,/ }; do
    if [[ ",$hfl," == *",$m,"* ]]; then
      python3 bench/cuda/hf_bench.py --models "$m" --batches 1,16 --prompt 512 --gen 128 --reps 3 --save "$MODELS" \
        2>&1 | grep -v Warning | tee -a "$OUT/hf.jsonl"
    else
      python3 bench/cuda/hf_bench.py --models "$m" --save "$MODELS" --no-hf 2>&1 | grep -v Warning | tail -1
    fi
  done
  for m in ${list//,/ }; do
    for B in 1 16; do
      timeout 240 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 --gen-tokens 128 \
        --reps 3 --batch $B 2>>"$OUT/gcache_bench.err" | tee -a "$OUT/gcache.jsonl"
    done
    if [ "$m" = qwen3-4b ]; then   # what the small-T kernels and the graphs buy at batch 1; where the time goes
      GC_CUDA_GEMV_MAX_T=4 timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 \
        --gen-tokens 128 --reps 3 --batch 1 2>>"$OUT/gcache_bench.err" | sed 's/^{/{"variant":"small_t_kernel",/' | tee -a "$OUT/gcache.jsonl"
      [ -n "${SKIP_VARIANTS:-}" ] || GC_CUDA_GRAPHS=0 timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 \
        --gen-tokens 128 --reps 3 --batch 1 2>>"$OUT/gcache_bench.err" | sed 's/^{/{"variant":"no_graphs",/' | tee -a "$OUT/gcache.jsonl"
      for B in 1 16; do
        GC_CUDA_PROFILE=1 timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 \
          --gen-tokens 64 --reps 1 --batch $B >/dev/null 2>>"$OUT/profile.txt"
      done
      grep -v "^rep" "$OUT/profile.txt"
    fi
  done
  tail -5 "$OUT/gcache_bench.err"
fi
