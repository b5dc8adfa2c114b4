#!/usr/bin/env bash
# Prompt rows per engine step (`gcache run --prefill-rows`) on the GPU: LatentMAS
# at batch 16 and 128 and TextMAS at batch 16 on the random-weight Qwen3-4B
# shape (Qwen's tokenizer, real GSM8K prompts, 256-token answers), each with
# --profile, whose lines give the engine's seconds on steps with prompt rows.
# Carried: .carry/bin/gcache + .carry/lib, .carry/data. Logs in $OUT.
source "$(dirname "$0")/env.sh"
export GC_CACHE_DIR=$MODELS/cache
M=$MODELS/qwen3-4b
ensure_model_tok qwen3-4b
common=(--task gsm8k --dataset .carry/data/gsm8k-160.jsonl --model "$M" --device cuda --latent-steps 10
        --max-tokens 256 --agent-max-tokens 256 --temperature 0 --profile)
# warm-up (the realignment matrix, computed once and cached on disk)
"$BIN/gcache" run --method latentmas "${common[@]}" --max-samples 1 --batch 1 --out "$OUT/warm" > "$OUT/warm.log" 2>&1
run() {   # run METHOD BATCH QUESTIONS ROWS
  local tag=$1-b$2-r$4
  timeout 150 "$BIN/gcache" run --method "$1" "${common[@]}" --batch "$2" --max-samples "$3" --prefill-rows "$4" \
    --out "$OUT/$tag" > "$OUT/$tag.log" 2>&1
  printf '%-26s %s s/q | ' "$tag" "$(grep -o 'seconds / q *[0-9.]*' "$OUT/$tag.log" | grep -o '[0-9.]*$')"
  # engine seconds and seconds on steps with prompt rows, summed over the batches
  grep -h 'sched:' "$OUT/$tag.log" | python3 -c '
import re, sys
e = p = n = k = r = 0.0
for l in sys.stdin:
    m = re.search(r"sched: ([0-9.]+) s in the engine \((\d+) steps; (\d+) of them with prompt rows: ([0-9.]+) s for (\d+) rows\)", l)
    if m: e += float(m[1]); n += int(m[2]); k += int(m[3]); p += float(m[4]); r += int(m[5])
print(f"engine {e:.3f} s over {n:.0f} steps, {k:.0f} with prompt rows: {p:.3f} s, {r / max(p, 1e-9):,.0f} rows/s")'
}
for r in 512 4096 16384; do run latentmas 128 128 $r; done
for r in 512 4096; do run latentmas 16 32 $r; done
for r in 512 4096; do run textmas 16 32 $r; done
