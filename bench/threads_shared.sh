#!/usr/bin/env bash
# CPU threads on a shared machine: SmolLM2 decode speed and a 4-question
# LatentMAS run, each alone and next to one busy process (a shell loop that
# never sleeps), for two gcache builds (BASE: the OpenMP build before the
# thread pool, NEW: this build). Variants and conditions alternate, ROUNDS
# times, so slow drifts in the machine's load hit all of them alike.
#
#   BASE=/path/to/old/build/gcache NEW=build/gcache bash bench/threads_shared.sh
#
# BASE is built from a checkout of an older commit, e.g.
#   git worktree add --detach /tmp/gc-base <commit> &&
#   cmake -S /tmp/gc-base -B /tmp/gc-base/build -DGC_CUDA=OFF && cmake --build /tmp/gc-base/build --target gcache
# Prints one Markdown table row per measurement: the 1-minute load average
# before it, decode tok/s (median of 3 repetitions of 32 prompt + 64 greedy
# tokens) or the LatentMAS wall time, and its CPU seconds (user + sys). A
# measurement that runs past LIMIT seconds (default 600) is stopped and shown
# as "> LIMIT".
set -euo pipefail
NEW=${NEW:-build/gcache}
BASE=${BASE:?set BASE to the gcache binary to compare with}
MODEL=${MODEL:-.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf}
DATA=${DATA:-examples/gsm8k-mini.jsonl}
ROUNDS=${ROUNDS:-1}
LIMIT=${LIMIT:-600}
# Extra options of NEW only (BASE predates them): the exact f32 path by default,
# the one BASE has, so that only the threading differs.
NEW_ARGS=${NEW_ARGS---exact}

work=$(mktemp -d)
busy=""
cleanup() { [ -n "$busy" ] && kill "$busy" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export GC_CACHE_DIR=$work/cache   # the realignment matrix, computed once below

# Runs "$@" (stopped after LIMIT s) and prints "<wall s> <cpu s>", or
# "> LIMIT <cpu s>" when stopped; its stdout goes to $work/out.
timed() {
    local t0 t1 r rc=0
    t0=$(date +%s.%N)
    r=$( { TIMEFORMAT='%U %S'; time timeout "$LIMIT" "$@" >"$work/out" 2>"$work/err"; } 2>&1 ) || rc=$?
    t1=$(date +%s.%N)
    r=$(tail -n 1 <<<"$r")
    if [ "$rc" = 124 ]; then
        python3 -c "import sys; u,s=map(float,sys.argv[2].split()); print('>%s %.1f' % (sys.argv[1], u+s))" "$LIMIT" "$r"
        return
    fi
    [ "$rc" = 0 ] || { cat "$work/err" >&2; echo "failed failed"; return; }
    python3 -c "import sys; u,s=map(float,sys.argv[3].split()); print('%.1f %.1f' % (float(sys.argv[2])-float(sys.argv[1]), u+s))" "$t0" "$t1" "$r"
}

args_of() { [ "$1" = new ] && echo "$NEW_ARGS" || true; }
bin_of() { [ "$1" = new ] && echo "$NEW" || echo "$BASE"; }

decode() {   # variant -> "tok/s cpu_s"
    local b wall cpu; b=$(bin_of "$1")
    # shellcheck disable=SC2046
    read -r wall cpu < <(timed "$b" bench --model "$MODEL" --prompt-tokens 32 --gen-tokens 64 --reps 3 --device cpu $(args_of "$1"))
    case "$wall" in
        '>'*|failed) echo "$wall $cpu" ;;
        *) echo "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['decode_tok_s'])" "$work/out") $cpu" ;;
    esac
}

latentmas() {   # variant -> "wall_s cpu_s"
    local b out; b=$(bin_of "$1"); out=$(mktemp -d -p "$work")
    rmdir "$out"
    # shellcheck disable=SC2046
    timed "$b" run --method latentmas --task gsm8k --dataset "$DATA" --model "$MODEL" --max-samples 4 \
        --latent-steps 10 --out "$out" --device cpu $(args_of "$1")
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); base=$BASE new=$NEW"
# Warm the realignment cache and the page cache (not measured).
"$NEW" run --method latentmas --task gsm8k --dataset "$DATA" --model "$MODEL" --max-samples 1 --latent-steps 1 \
    --max-tokens 4 --out "$work/warm" --device cpu >/dev/null 2>&1

echo "| round | build | neighbour | load (1 min) | measurement | result | CPU s |"
echo "| ---: | --- | --- | ---: | --- | ---: | ---: |"
for round in $(seq 1 "$ROUNDS"); do
    for cond in alone busy; do
        if [ "$cond" = busy ]; then
            bash -c 'while :; do :; done' &
            busy=$!
        fi
        for v in base new; do
            load=$(cut -d' ' -f1 /proc/loadavg)
            read -r tok cpu < <(decode "$v")
            echo "| $round | $v | $cond | $load | decode tok/s | $tok | $cpu |"
        done
        for v in base new; do
            load=$(cut -d' ' -f1 /proc/loadavg)
            read -r wall cpu < <(latentmas "$v")
            echo "| $round | $v | $cond | $load | LatentMAS wall s | $wall | $cpu |"
        done
        if [ -n "$busy" ]; then kill "$busy"; wait "$busy" 2>/dev/null || true; busy=""; fi
    done
done
