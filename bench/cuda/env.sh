# Sourced by the bench/cuda scripts on the GPU machine: where logs, models and
# the carried binaries are, and the library path for the carried libraries
# plus the cuBLAS that comes with the machine's torch.
set -u
OUT=${OUT:-/tmp/gc_out}; mkdir -p "$OUT"
MODELS=${GC_MODELS_DIR:-/tmp/gc_models}; mkdir -p "$MODELS"
BIN=${GC_BIN:-.carry/bin}
CUB=$(dirname "$(find /usr/local/cuda*/ /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)" 2>/dev/null)
export LD_LIBRARY_PATH=$PWD/.carry/lib:$CUB:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
# ensure_model NAME: the random-weight model NAME as an HF folder in $MODELS
# (built once by hf_bench.py without running HF).
ensure_model() {
  [ -d "$MODELS/$1" ] || python3 bench/cuda/hf_bench.py --models "$1" --save "$MODELS" --no-hf 2>&1 | tail -1
}
