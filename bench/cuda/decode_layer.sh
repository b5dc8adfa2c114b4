#!/usr/bin/env bash
# The kernel lab's decoder layer (dev/cuda/decode_layer.cu): separate kernels
# vs one persistent cooperative kernel per layer vs the same with an L2
# prefetch of the next matrix, Qwen3-4B and -0.6B shapes, T in {1,2,4,8,16},
# ctx in {256, 1024}, batch and single-sequence rows; checks against the CPU.
#   bash bench/cuda/decode_layer.sh [ARGS]   (ARGS as decode_layer's; default: all 30)
# Carried: .carry/bin/decode_layer (make -C dev/cuda decode_layer; cp it there).
source "$(dirname "$0")/env.sh"
timeout 580 "$BIN/decode_layer" ${@:-all 30} > "$OUT/decode_layer.txt" 2>&1
echo "decode_layer exit $?"
cat "$OUT/decode_layer.txt"
