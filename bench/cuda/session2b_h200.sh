#!/usr/bin/env bash
# Second call of session 2 on the H200: device tests (with the one-query
# decode attention kernel), gcache decode with / without it on the Qwen3
# shapes, and the LatentMAS pipelines. Logs in $OUT.
source "$(dirname "$0")/env.sh"
bash bench/cuda/run_h200.sh tests > "$OUT/tests.txt" 2>&1
grep -E "exit|attention n_q=1 |PASSED|FAILED|greedy" "$OUT/tests.txt" | head -24
for m in qwen3-4b qwen3-0.6b qwen3-8b; do
  ensure_model "$m"
done
for B in 1 16; do bench_decode qwen3-4b $B dec; GC_CUDA_DECODE_ATTN=0 bench_decode qwen3-4b $B old; done
for B in 1 16; do GC_CUDA_ATTN_BLOCKS_PER_SM=4 bench_decode qwen3-4b $B dec-bps4; done
bash bench/cuda/latentmas_h200.sh > "$OUT/latentmas.txt" 2>&1
grep -h "wall\|seconds / q" "$OUT/latentmas.txt"
for m in qwen3-0.6b qwen3-8b; do for B in 1 16; do bench_decode $m $B dec; done; done
tail -2 "$OUT/bench.err"
