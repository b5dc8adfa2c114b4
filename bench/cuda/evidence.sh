#!/usr/bin/env bash
# Issue-11 evidence on the GPU machine: every experiment of bench/configs/gpu/ (GSM8K, HumanEval,
# MedQA, ablations, batch invariance) on Qwen2.5-Coder-0.5B-Instruct Q4_K_M, through
# bench/compare_methods.py. The GGUF was assembled in /tmp/gc_models by earlier calls (it is
# larger than one call carries); the gcache binary and its libraries come in .carry/gpu.
# Resumable across calls: run folders live in /tmp/gc_runs while the machine stays warm; each
# call works until BUDGET_S seconds are used, then packs every run folder into $OUT/runs.tgz.
#   BUDGET_S=540 EXPERIMENTS="gsm8k humaneval" bash bench/cuda/evidence.sh
set -u
OUT=${OUT:-/tmp/gc_out}; mkdir -p "$OUT"
G=.carry/gpu/bin/gcache
CUB=$(dirname "$(find /usr/local/cuda*/ /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH=$PWD/.carry/gpu/lib:$CUB:${LD_LIBRARY_PATH:-}
export GC_CACHE_DIR=/tmp/gc_models/cache PYTHONUNBUFFERED=1
M=/tmp/gc_models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
M_SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
# The model arrives in pieces (bench/cuda/split_model.sh, one call each): join them once and
# keep the file only if its sha256 is the GGUF's.
if [ ! -f "$M" ] && compgen -G "/tmp/gc_models/parts/q*" > /dev/null; then
  cat /tmp/gc_models/parts/q* > "$M.part"
  if echo "$M_SHA256  $M.part" | sha256sum -c --quiet; then mv "$M.part" "$M"
  else echo "evidence: the joined pieces are not the GGUF (sha256); a piece is missing or damaged"; rm -f "$M.part"; exit 1; fi
fi
[ -f "$M" ] || { echo "evidence: no $M (carry the pieces first: bench/cuda/split_model.sh)"; exit 1; }
RUNS=/tmp/gc_runs; mkdir -p "$RUNS"
deadline=$(( $(date +%s) + ${BUDGET_S:-540} ))
if [ ! -f "$RUNS/preflight.txt" ]; then   # the device path against the CPU path, once
  { nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; ldd $G | grep "not found"
    for d in cuda cpu; do
      $G generate --device $d --model $M --chat --prompt "What is 17 * 23? Answer with the number." \
        --max-tokens 24 --temperature 0 2>&1 | tail -n 3
    done; } > "$RUNS/preflight.txt" 2>&1
fi
cat "$RUNS/preflight.txt"
for exp in ${EXPERIMENTS:-gsm8k humaneval ablations medqa invariance humaneval-learned}; do
  left=$(( deadline - $(date +%s) ))
  [ $left -gt 30 ] || break
  timeout -k 5 $left python3 bench/compare_methods.py --config bench/configs/gpu/$exp.json --out "$RUNS/$exp" \
    --gcache $G >> "$RUNS/$exp.log" 2>&1
  echo "$exp: exit $? ($(( $(date +%s) - deadline + ${BUDGET_S:-540} )) s used)"
  grep -h "^\[compare\]" "$RUNS/$exp.log" | tail -n 3
done
tar czf "$OUT/runs.tgz" --exclude='*.ckpt.tmp*' -C "$RUNS" .
ls -la "$OUT"
