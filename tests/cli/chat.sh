#!/usr/bin/env bash
# `gcache chat` reads turns from stdin until an empty line / EOF, keeps the
# conversation in the KV cache, and prints one reply per turn.
set -u
BIN=$1
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
printf 'hello\nand again\n\n' | "$BIN" chat --model tests/data/tiny/chat --max-tokens 5 >"$T/out" 2>"$T/err"
rc=$?
fails=0
[ $rc -eq 0 ] || { echo "FAIL: exit $rc: $(cat "$T/err")"; fails=$((fails+1)); }
n=$(grep -c "tok/s" "$T/err")
[ "$n" -eq 2 ] || { echo "FAIL: expected 2 replies, saw $n"; fails=$((fails+1)); }
# The second turn's prompt continues the cache: fewer prompt tokens than a
# fresh conversation would need for the same text plus history.
first=$(grep -o '\[[0-9]* prompt tokens' "$T/err" | head -1 | tr -dc 0-9)
second=$(grep -o '\[[0-9]* prompt tokens' "$T/err" | sed -n 2p | tr -dc 0-9)
[ -n "$first" ] && [ -n "$second" ] && [ "$second" -lt $((first + 10)) ] || { echo "FAIL: turn 2 re-sent history ($first, $second)"; fails=$((fails+1)); }
echo "$((3 - fails)) passed, $fails failed"
[ $fails -eq 0 ]
