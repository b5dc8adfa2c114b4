#!/usr/bin/env bash
# gcache vs llama.cpp on the same cores and the same SmolLM2-135M Q4_1 GGUF.
# Needs llama-cpp-python in PY (a venv of your own; not part of the build).
#   PY=/path/to/venv/bin/python bash bench/cpu_smollm2.sh
set -eu
MODEL=${MODEL:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PY=${PY:-python3}
for P in 128 512; do
  ./build/gcache bench --model "$MODEL" --prompt-tokens $P --gen-tokens 64 --reps 3 2>/dev/null
  OMP_NUM_THREADS=2 "$PY" bench/llamacpp_bench.py --model "$MODEL" --prompt-tokens $P --gen-tokens 64 --threads 2
done
