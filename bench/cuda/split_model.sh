#!/usr/bin/env bash
# Cuts the Qwen GGUF into pieces that each fit one device call beside the
# working tree (a call carries the tracked tree plus the carried paths, 64 MiB
# in all): .carry/s/q00, q01, ... One call per piece then copies it to the
# GPU machine's /tmp, where bench/cuda/evidence.sh joins and checks them:
#   bash bench/cuda/split_model.sh            # prints the per-call commands
#   (device, one call each, carrying .carry/s/qNN)  mkdir -p /tmp/gc_models/parts && cp .carry/s/qNN /tmp/gc_models/parts/
set -euo pipefail
M=${1:-.cache/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf}
[ -f "$M" ] || { echo "split_model: no $M (make model fetches it)" >&2; exit 1; }
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
limit=$((64 * 1024 * 1024))
margin=$((2 * 1024 * 1024))   # untracked files that travel too (configs being edited, logs)
piece=$(( (limit - tree - margin) / 1000000 * 1000000 ))
[ "$piece" -ge 8000000 ] || { echo "split_model: the tracked tree ($tree bytes) leaves no room for pieces" >&2; exit 1; }
rm -rf .carry/s && mkdir -p .carry/s
split -b "$piece" -d -a 2 "$M" .carry/s/q
echo "split_model: $(ls .carry/s | wc -l) pieces of <= $piece bytes (tree $tree bytes); sha256 $(sha256sum "$M" | cut -d' ' -f1)"
for f in .carry/s/q*; do echo "  carry $f: mkdir -p /tmp/gc_models/parts && cp $f /tmp/gc_models/parts/"; done
