#!/usr/bin/env bash
# End-to-end checks of the gcache command line: outputs parse and mean what
# they say; bad input fails cleanly (non-zero exit, message naming the
# problem, nothing on stdout passed off as a result).
source "$(dirname "$0")/lib.sh"
BIN=$1
export GC_CACHE_DIR=$T/cache

# trace: JSON with the documented shape, on a folder without a tokenizer.
"$BIN" trace --model tests/data/tiny/qwen3 --program 'ids:3,17,42;latent:2;greedy:4;save:A;reset;ids:5;save:B;concat:A,B;keep:3;wsum:A@0.5,B@0.5;ids:1' >"$T/t.json" 2>"$T/err" || bad "trace failed: $(cat "$T/err")"
python3 - "$T/t.json" <<'PY' && ok || bad "trace JSON shape"
import json, sys
s = json.load(open(sys.argv[1]))["segments"]
assert [x["type"] for x in s] == ["ids","latent","greedy","save","reset","ids","save","concat","keep","wsum","ids"], s
assert len(s[0]["logits"]) == 3 and all(len(r) == 256 for r in s[0]["logits"]) and len(s[0]["hidden_last"]) == 64
assert len(s[1]["hidden"]) == 2 and len(s[1]["hidden"][0]) == 64 and len(s[1]["logits_last"]) == 256
assert len(s[2]["ids"]) == 4 and all(0 <= i < 256 for i in s[2]["ids"])
PY

# trace agrees with the committed HF reference from outside, too.
python3 - "$BIN" <<'PY' && ok || bad "trace vs HF reference"
import json, subprocess, sys, struct, math
ref = json.load(open("tests/data/tiny/llama/ref_1.json"))
raw = open("tests/data/tiny/llama/ref_1.f32", "rb").read()
vals = struct.unpack("<%df" % (len(raw) // 4), raw)
args = [sys.argv[1], "trace", "--model", "tests/data/tiny/llama", "--program", ref["program"]]
if not ref["realign"]: args.append("--no-realign")
out = json.loads(subprocess.run(args, check=True, capture_output=True).stdout)
flat = [x for r in out["segments"][0]["logits"] for x in r]
n = len(flat)
err = math.sqrt(sum((a - b) ** 2 for a, b in zip(flat, vals[:n])) / sum(b * b for b in vals[:n]))
assert err < 1e-4, err
assert out["segments"][2]["ids"] == ref["segments"][2]["ids"]
PY

# info
"$BIN" info --model tests/data/tiny/llama | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["arch"]=="llama" and d["n_kv_heads"]==1 and d["tokenizer"] is False' && ok || bad "info"

# generate on the tiny chat model: greedy is deterministic, prints tokens/s on stderr.
a=$("$BIN" generate --model tests/data/tiny/chat --chat --prompt "hello" --max-tokens 8 2>"$T/e1")
b=$("$BIN" generate --model tests/data/tiny/chat --chat --prompt "hello" --max-tokens 8 2>/dev/null)
[ "$a" = "$b" ] && grep -q "tok/s" "$T/e1" && ok || bad "generate determinism / tokens/s line"
c=$("$BIN" generate --model tests/data/tiny/chat --prompt "hello" --max-tokens 8 --temperature 0.9 --top-p 0.9 --seed 3 2>/dev/null)
d=$("$BIN" generate --model tests/data/tiny/chat --prompt "hello" --max-tokens 8 --temperature 0.9 --top-p 0.9 --seed 3 2>/dev/null)
[ "$c" = "$d" ] && ok || bad "seeded sampling not reproducible"

# bench takes the CUDA switches (gc_engine_params.cuda) on any device; the CPU ignores them.
"$BIN" bench --model tests/data/tiny/qwen3 --device cpu --prompt-tokens 8 --gen-tokens 4 --reps 1 --cuda-graphs 0 \
  --cuda-decode-attention 0 --cuda-pdl-max-t 16 --cuda-attn-blocks-per-sm 4 --cuda-skinny-max-t 0 --cuda-profile \
  --cuda-batch-invariant 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["device"]=="cpu" and d["decode_tok_s"]>0' \
  && ok || bad "bench with the --cuda-* switches"
# generate and chat take them too: on the CPU the same text.
g=(generate --model tests/data/tiny/chat --chat --prompt "hello" --max-tokens 8 --device cpu)
x=$("$BIN" "${g[@]}" 2>/dev/null)
y=$("$BIN" "${g[@]}" --cuda-batch-invariant --cuda-graphs 0 --cuda-skinny-max-t 0 2>"$T/e2") || bad "generate with --cuda-*: $(cat "$T/e2")"
[ -n "$x" ] && [ "$x" = "$y" ] && ok || bad "generate with --cuda-* switches changed the CPU's text"
echo hello | "$BIN" chat --model tests/data/tiny/chat --max-tokens 4 --device cpu --cuda-batch-invariant >/dev/null 2>"$T/e2" \
  && ok || bad "chat with --cuda-batch-invariant: $(cat "$T/e2")"
"$BIN" generate --help | grep -q -- "--cuda-batch-invariant" && ok || bad "generate --help lacks the CUDA switches"

# Bad input: non-zero exit, message names the problem, nothing on stdout.
expect_fail() {   # expect_fail "pattern" cmd...
  local pat=$1; shift
  if "$@" >"$T/out" 2>"$T/err"; then bad "should fail: $*"; return; fi
  if ! grep -q -- "$pat" "$T/err"; then bad "message for '$*' lacks '$pat': $(cat "$T/err")"; return; fi
  if [ -s "$T/out" ]; then bad "stdout not empty for failing '$*'"; return; fi
  ok
}
expect_fail "no-such-dir" "$BIN" trace --model /nonexistent/no-such-dir --program ids:1
expect_fail "out of range" "$BIN" trace --model tests/data/tiny/llama --program ids:1,999
expect_fail "unknown kind" "$BIN" trace --model tests/data/tiny/llama --program 'ids:1;jump:3'
expect_fail "no cache saved" "$BIN" trace --model tests/data/tiny/llama --program 'ids:1;concat:X'
expect_fail "unknown option" "$BIN" generate --model tests/data/tiny/chat --bogus
expect_fail "cuda-skinny-max-t" "$BIN" bench --model tests/data/tiny/qwen3 --cuda-skinny-max-t 17
expect_fail "has no tokenizer" "$BIN" generate --model tests/data/tiny/llama --prompt hi
expect_fail "context" "$BIN" trace --model tests/data/tiny/chat --program "ids:$(python3 -c 'print(",".join(["1"]*2100))')"
# Corrupt weights: truncated safetensors and a config that does not match.
mkdir -p "$T/m"; cp tests/data/tiny/llama/*.json "$T/m/"
head -c 5000 tests/data/tiny/llama/model.safetensors >"$T/m/model.safetensors"
expect_fail "model.safetensors" "$BIN" info --model "$T/m"
cp tests/data/tiny/llama/model.safetensors "$T/m/"
python3 - "$T/m/config.json" <<'PY'
import json, sys; c = json.load(open(sys.argv[1])); c["hidden_size"] = 96; json.dump(c, open(sys.argv[1], "w"))
PY
expect_fail "shape" "$BIN" info --model "$T/m"
echo '{"model_type": "llama", ' >"$T/m/config.json"
expect_fail "config.json" "$BIN" info --model "$T/m"
printf 'GGUF\x03\x00\x00\x00' >"$T/bad.gguf"
expect_fail "bad.gguf" "$BIN" info --model "$T/bad.gguf"

finish
