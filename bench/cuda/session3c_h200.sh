#!/usr/bin/env bash
# Session 3, third H200 call: PDL modes (0 off, 1 trigger at kernel start,
# 2 skinny GEMMs trigger after their K loop) crossed with the RMSNorm and
# SwiGLU launches left out (GC_CUDA_SKIP=10, timing only), 4B decode at
# batch 1 and 16: does a GEMM directly behind a GEMM lose under PDL?
source "$(dirname "$0")/env.sh"
ensure_model qwen3-4b
for B in 1 16; do
  for m in 0 1 2; do
    GC_CUDA_PDL=$m bench_decode qwen3-4b $B pdl$m
    GC_CUDA_PDL=$m GC_CUDA_SKIP=10 bench_decode qwen3-4b $B pdl$m-skip10
  done
  GC_CUDA_PDL=2 GC_CUDA_SKIP=1 bench_decode qwen3-4b $B pdl2-skip1
done
tail -3 "$OUT/bench.err"
