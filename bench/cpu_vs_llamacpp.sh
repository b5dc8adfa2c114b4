#!/usr/bin/env bash
# gcache's CPU engine vs llama.cpp, back to back on the same GGUF and the same
# threads: prefill of 128 and 512 tokens and decode of 128 tokens at batch 1
# (both), the exact f32 path beside the fast one, and gcache's batched decode
# of 8 and 32 sequences, after the machine's memory read rate (the decode
# floor's denominator). /proc/loadavg is printed before every measurement.
#
# llama.cpp comes from llama-cpp-python built for this comparison in a venv of
# its own (not part of the build; about 4 minutes on 2 cores). GGML_NATIVE=OFF
# with the ISA options named: the default native build crashes on these VMs.
#   python3 -m venv /tmp/lcpp && CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON \
#     -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF \
#     -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" /tmp/lcpp/bin/pip install llama-cpp-python==0.3.36 numpy
#   PY=/tmp/lcpp/bin/python bash bench/cpu_vs_llamacpp.sh
# Without PY (or without llama_cpp in it) only gcache runs.
#
# Environment: MODEL (default the Qwen2.5-Coder-0.5B Q4_K_M GGUF), THREADS (2),
# REPS (3), GEN (decode tokens, 128), BIN (./build/gcache), EXACT=0 skips the
# exact path (several times slower).
set -u
MODEL=${MODEL:-.cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
GEN=${GEN:-128}
BIN=${BIN:-./build/gcache}
EXACT=${EXACT:-1}
PY=${PY:-}

load() { echo "# load $(cut -d' ' -f1-3 /proc/loadavg)  ($1)"; }
gc() { load "gcache $*"; "$BIN" bench --model "$MODEL" --device cpu --threads "$THREADS" --reps "$REPS" "$@" 2>/dev/null; }
lc() {
  load "llama.cpp $*"
  OMP_NUM_THREADS=$THREADS "$PY" bench/llamacpp_bench.py --model "$MODEL" --threads "$THREADS" --reps "$REPS" "$@"
}
have_lc=0
if [ -n "$PY" ] && "$PY" -c 'import llama_cpp' 2>/dev/null; then have_lc=1; fi

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# model $MODEL, threads $THREADS, reps $REPS (median)"
# The floor: memory read rate at these threads (bench/mem_read.c); batch-1 decode
# tok/s <= rate / bytes of weights a step reads (all but token_embd).
load "mem_read $THREADS"
mkdir -p "$(dirname "$BIN")"
cc -O2 -mavx2 -pthread bench/mem_read.c -o "$(dirname "$BIN")/mem_read" && "$(dirname "$BIN")/mem_read" "$THREADS"
for P in 128 512; do
  gc --prompt-tokens $P --gen-tokens "$GEN"
  [ $have_lc = 1 ] && lc --prompt-tokens $P --gen-tokens "$GEN"
  [ "$EXACT" = 1 ] && gc --prompt-tokens $P --gen-tokens 16 --exact
done
# Batched decode: B sequences of 32-token prompts, GEN/4 steps of B tokens each.
for B in 8 32; do
  gc --batch $B --prompt-tokens 32 --gen-tokens $((GEN / 4))
  [ "$EXACT" = 1 ] && gc --batch $B --prompt-tokens 32 --gen-tokens 8 --exact
done
load end
