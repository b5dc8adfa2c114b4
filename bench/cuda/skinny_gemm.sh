#!/usr/bin/env bash
# The skinny GEMM (skinny.cu, T <= 16 rows) against cuBLAS: the kernel
# lab's program (dev/cuda/skinny_gemm: every version and cuBLAS with the
# weights streamed from HBM), then `gcache bench` at batch 1 and 16 with
# the skinny GEMM (default), with cuBLAS only (GC_CUDA_SKINNY_MAX_T=0), with
# the small-T GEMV (GC_CUDA_GEMV_MAX_T=4), and a per-launch profile.
#   VARIANTS="default cublas gemv" bash bench/cuda/skinny_gemm.sh [MODELS]   (default qwen3-4b; logs in $OUT)
# Carried: .carry/bin/{gcache,skinny_gemm} + .carry/lib.
source "$(dirname "$0")/env.sh"
list=${1:-qwen3-4b}
if [ -x "$BIN/skinny_gemm" ] && [ -z "${SKIP_SKINNY:-}" ]; then
  timeout 300 "$BIN/skinny_gemm" all > "$OUT/skinny_gemm.txt" 2>&1
  echo "skinny_gemm exit $?"
  tail -n 30 "$OUT/skinny_gemm.txt"
fi
for m in ${list//,/ }; do
  ensure_model "$m"
  for B in 1 16; do
    for v in ${VARIANTS:-default cublas gemv}; do
      case $v in
        default) env=() ;;
        cublas) env=(GC_CUDA_SKINNY_MAX_T=0) ;;
        gemv) env=(GC_CUDA_GEMV_MAX_T=4) ;;
        *) env=(GC_CUDA_SKINNY_VARIANT=$v) ;;
      esac
      env "${env[@]}" timeout 240 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 \
        --gen-tokens 128 --reps 3 --batch $B 2>>"$OUT/gcache_bench.err" | sed "s/^{/{\"variant\":\"$v\",/" \
        | tee -a "$OUT/gcache.jsonl"
    done
  done
  if [ -z "${SKIP_PROFILE:-}" ]; then
    for B in 1 16; do
      echo "== $m B=$B" >> "$OUT/profile.txt"
      GC_CUDA_PROFILE=1 timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 \
        --gen-tokens 64 --reps 1 --batch $B >/dev/null 2>>"$OUT/profile.txt"
    done
    grep -v "^rep" "$OUT/profile.txt" | tail -40
  fi
done
tail -3 "$OUT/gcache_bench.err"
