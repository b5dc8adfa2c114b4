#!/usr/bin/env bash
# The skinny GEMM (src/backend/cuda/skinny.cu, T <= 16 rows) against cuBLAS:
# the kernel lab's programs first (dev/cuda/skinny_gemm: every version and
# cuBLAS with the weights streamed from HBM; dev/cuda/gemv: the small-T GEMV
# versions beside cuBLAS and the product's skinny GEMM), then `gcache bench`
# at batch 1 and 16 with the skinny GEMM (default) and with cuBLAS only
# (--cuda-skinny-max-t 0), and a per-launch profile (--cuda-profile).
#   bash bench/cuda/skinny_gemm.sh [MODELS]   (default qwen3-4b; logs in $OUT)
# Carried: .carry/bin/{gcache,skinny_gemm,gemv} + .carry/lib.
source "$(dirname "$0")/env.sh"
list=${1:-qwen3-4b}
if [ -z "${SKIP_LAB:-}" ]; then
  for prog in skinny_gemm gemv; do
    [ -x "$BIN/$prog" ] || continue
    timeout 300 "$BIN/$prog" all > "$OUT/$prog.txt" 2>&1
    echo "$prog exit $?"
    tail -n 30 "$OUT/$prog.txt"
  done
fi
for m in ${list//,/ }; do
  ensure_model "$m"
  for B in 1 16; do
    bench_decode "$m" $B skinny
    bench_decode "$m" $B cublas --cuda-skinny-max-t 0
  done
  if [ -z "${SKIP_PROFILE:-}" ]; then
    for B in 1 16; do
      echo "== $m B=$B" >> "$OUT/profile.txt"
      timeout 120 "$BIN/gcache" bench --device cuda --model "$MODELS/$m" --prompt-tokens 512 --gen-tokens 64 \
        --reps 1 --batch $B --cuda-profile >/dev/null 2>>"$OUT/profile.txt"
    done
    grep -v "^rep" "$OUT/profile.txt" | tail -40
  fi
done
tail -3 "$OUT/bench.err"
