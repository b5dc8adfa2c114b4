#!/usr/bin/env bash
# `gcache chat` reads turns from stdin until an empty line / EOF, keeps the
# conversation in the KV cache, and prints one reply per turn.
source "$(dirname "$0")/lib.sh"
BIN=$1
printf 'hello\nand again\n\n' | "$BIN" chat --model tests/data/tiny/chat --max-tokens 5 >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "exit $rc: $(cat "$T/err")"
n=$(grep -c "tok/s" "$T/err")
[ "$n" -eq 2 ] && ok || bad "expected 2 replies, saw $n"
# The second turn's prompt continues the cache: fewer prompt tokens than a
# fresh conversation would need for the same text plus history.
first=$(grep -o '\[[0-9]* prompt tokens' "$T/err" | head -1 | tr -dc 0-9)
second=$(grep -o '\[[0-9]* prompt tokens' "$T/err" | sed -n 2p | tr -dc 0-9)
[ -n "$first" ] && [ -n "$second" ] && [ "$second" -lt $((first + 10)) ] && ok || bad "turn 2 re-sent history ($first, $second)"
finish
