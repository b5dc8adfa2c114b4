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
# ensure_model_tok NAME: the same with Qwen's real tokenizer (carried in
# .carry/data), so that `gcache run` prompts have their real lengths.
ensure_model_tok() {
  ensure_model "$1"
  cp .carry/data/tokenizer.json "$MODELS/$1/"
}
# bench_decode MODEL BATCH TAG [OPTION...]: one `gcache bench` point
# (512-token prompts, 128 new tokens, median of 3 repetitions) with the extra
# `gcache bench` options given (e.g. the --cuda-* switches); the JSON line,
# tagged, goes to $OUT/gcache.jsonl; prints tag, batch and decode tok/s.
bench_decode() {
  local model=$1 batch=$2 tag=$3; shift 3
  timeout 200 "$BIN/gcache" bench --device cuda --model "$MODELS/$model" --prompt-tokens 512 --gen-tokens 128 --reps 3 \
    --batch "$batch" "$@" 2>>"$OUT/bench.err" | sed "s/^{/{\"tag\":\"$tag\",/" | tee -a "$OUT/gcache.jsonl" \
    | grep -o '"tag[^,]*\|"model":"[^"]*"\|"batch":[0-9]*\|"decode_tok_s":[0-9.]*' | tr '\n' ' '
  echo
}
