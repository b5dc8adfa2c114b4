#!/usr/bin/env bash
# `gcache serve` end to end: with --port 0 the listening line names the bound
# port, a chat completion comes back with choices[0].message.content, a
# streamed one as Server-Sent Events, bad requests get 4xx, the API key from
# --api-key or GCACHE_API_KEY is required, SIGINT and SIGTERM stop it with
# exit 0, and a port in use is a clean failure. (tests/cli/serve_openai.sh
# drives the official openai client against it.)
source "$(dirname "$0")/lib.sh"
BIN=$1

command -v python3 >/dev/null || { echo "FAIL: python3 is needed"; echo "0 passed, 1 failed"; exit 1; }

# http METHOD URL [BODY [HEADER]]: the reply body to stdout, "STATUS <code>" as
# the last line; an empty BODY sends none. curl where there is one, python3's
# urllib otherwise.
http() {
  if command -v curl >/dev/null; then
    local args=(-s -m 30 -X "$1" -w '\nSTATUS %{http_code}\n')
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    [ -n "${4:-}" ] && args+=(-H "$4")
    curl "${args[@]}" "$2"
  else
    python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 and sys.argv[3] else None
headers = {"Content-Type": "application/json"}
if len(sys.argv) > 4 and sys.argv[4]:
    k, v = sys.argv[4].split(": ", 1)
    headers[k] = v
req = urllib.request.Request(url, data=data, method=method, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
sys.stdout.write(body.decode() + "\nSTATUS %d\n" % code)
PY
  fi
}

# start NAME ARGS...: starts gcache serve in the background, sets PID and PORT
# (empty when no listening line, or no "ready" line after it, came within 30 s).
start() {
  local name=$1; shift
  "$BIN" serve --model tests/data/tiny/chat --device cpu "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  PORT=""
  for _ in $(seq 300); do
    if grep -qs '^gcache serve: ready$' "$T/$name.err"; then   # (-s: the file may not exist yet)
      PORT=$(sed -n 's|^gcache serve: listening on http://127\.0\.0\.1:\([0-9]*\)/v1 (model .*)$|\1|p' "$T/$name.err")
      return
    fi
    kill -0 "$PID" 2>/dev/null || return
    sleep 0.1
  done
}

# stop SIGNAL NAME: signals PID, waits, checks exit 0 within 30 s.
stop() {
  kill -"$1" "$PID"
  for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then bad "$2: still running 30 s after SIG$1"; kill -9 "$PID"; return; fi
  wait "$PID"
  local rc=$?
  [ $rc -eq 0 ] && ok || bad "$2: exit $rc after SIG$1: $(cat "$T/$2.err")"
}

"$BIN" serve --help >"$T/help" 2>&1 && grep -q "example:" "$T/help" && grep -q "loopback" "$T/help" && ok || bad "serve --help"
"$BIN" serve --model tests/data/tiny/chat --graph-method debate >/dev/null 2>"$T/gm"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--graph-method" "$T/gm" && ok || bad "--graph-method debate: exit $rc: $(cat "$T/gm")"
"$BIN" serve --model tests/data/tiny/chat --device cpu --port 0 --graph-checkpoint "$T/nothing" >/dev/null 2>"$T/gc"; rc=$?
[ $rc -eq 1 ] && grep -q "run.json" "$T/gc" && ok || bad "--graph-checkpoint without run.json: exit $rc: $(cat "$T/gc")"
"$BIN" serve --port 1 >/dev/null 2>"$T/noarg"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--model" "$T/noarg" && ok || bad "serve without --model: exit $rc: $(cat "$T/noarg")"

start a --port 0 --name tiny --max-tokens 4
if [ -z "$PORT" ]; then
  bad "gcache serve did not print its listening line: $(cat "$T/a.err")"
else
  ok
  [ "$PORT" -gt 0 ] && ok || bad "port 0 printed as the bound port: $PORT"
  B=http://127.0.0.1:$PORT
  http POST "$B/v1/chat/completions" '{"model":"tiny","messages":[{"role":"user","content":"What is 2+2?"}],"temperature":0}' >"$T/r1"
  python3 - "$T/r1" <<'PY' && ok || bad "chat completion: $(cat "$T/r1")"
import json, sys
text = open(sys.argv[1]).read().rstrip("\n")
body, status = text.rsplit("\n", 1)
assert status == "STATUS 200", status
r = json.loads(body)
c = r["choices"][0]
assert isinstance(c["message"]["content"], str) and c["message"]["content"] != "", r
assert c["message"]["role"] == "assistant" and r["model"] == "tiny" and r["object"] == "chat.completion", r
assert r["usage"]["completion_tokens"] <= 4 and r["usage"]["prompt_tokens"] > 0, r   # --max-tokens is the default
assert c["finish_reason"] in ("stop", "length"), r
PY
  http GET "$B/health" | grep -q '"status":"ok"' && ok || bad "/health"
  http GET "$B/v1/models" | grep -q '"id":"tiny"' && ok || bad "/v1/models"
  http POST "$B/v1/chat/completions" '{"messages":' | tail -1 | grep -q "STATUS 400" && ok || bad "invalid JSON is not 400"
  http POST "$B/v1/chat/completions" '{"messages":[{"role":"user","content":"hi"}],"stream":true}' >"$T/r2"
  tail -1 "$T/r2" | grep -q "STATUS 200" && grep -q '^data: {"id":"chatcmpl-' "$T/r2" && grep -q '^data: \[DONE\]$' "$T/r2" \
    && ok || bad "stream: $(cat "$T/r2")"
  grep -q '^gcache serve: chatcmpl-[0-9a-f]* 200 .*prompt=[0-9]* completion=[0-9]* n=1 stream=1 seed=[0-9]* ' "$T/a.err" \
    && ok || bad "per-request log line: $(cat "$T/a.err")"
  http GET "$B/v1/chat/completions" | tail -1 | grep -q "STATUS 405" && ok || bad "GET on completions is not 405"
  http GET "$B/nope" | tail -1 | grep -q "STATUS 404" && ok || bad "unknown path is not 404"

  # The port is taken now: a second server fails cleanly.
  "$BIN" serve --model tests/data/tiny/chat --device cpu --port "$PORT" >/dev/null 2>"$T/busy" &
  bpid=$!; PIDS+=("$bpid")
  for _ in $(seq 300); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$bpid" 2>/dev/null; then bad "second server on a busy port kept running"
  else
    wait "$bpid"; rc=$?
    [ $rc -eq 1 ] && grep -q "cannot listen" "$T/busy" && ok || bad "busy port: exit $rc: $(cat "$T/busy")"
  fi
  stop INT a
fi

# A seeded sampled reply is `gcache generate --chat`'s with the same settings,
# also when its prompt enters 3 rows a step.
start b --port 0 --prefill-rows 3
if [ -z "$PORT" ]; then bad "second start: $(cat "$T/b.err")"
else
  grep -q "(model gcache)" "$T/b.err" && ok || bad "default model name: $(cat "$T/b.err")"
  http POST "http://127.0.0.1:$PORT/v1/chat/completions" '{"messages":[{"role":"user","content":"Name three primes."}],
    "max_tokens":12,"temperature":0.9,"top_p":0.95,"top_k":40,"seed":77}' >"$T/r3"
  "$BIN" generate --model tests/data/tiny/chat --device cpu --chat --prompt "Name three primes." --max-tokens 12 \
    --temperature 0.9 --top-p 0.95 --top-k 40 --seed 77 --quiet >"$T/g3"
  python3 - "$T/r3" "$T/g3" <<'PY' && ok || bad "served vs generated: $(cat "$T/r3") vs $(cat "$T/g3")"
import json, sys
body, status = open(sys.argv[1]).read().rstrip("\n").rsplit("\n", 1)
assert status == "STATUS 200", status
want = open(sys.argv[2], encoding="utf-8", errors="replace").read()
got = json.loads(body)["choices"][0]["message"]["content"]
assert got == want and got != "", (got, want)
PY
  stop TERM b
fi

# The API key, from the environment (and --api-key, which wins).
GCACHE_API_KEY=envkey start c --port 0
if [ -z "$PORT" ]; then bad "start with GCACHE_API_KEY: $(cat "$T/c.err")"
else
  B=http://127.0.0.1:$PORT
  http GET "$B/v1/models" | tail -1 | grep -q "STATUS 401" && ok || bad "no key is not 401"
  http GET "$B/v1/models" "" "Authorization: Bearer envkey" | tail -1 | grep -q "STATUS 200" \
    && ok || bad "GCACHE_API_KEY not accepted"
  http GET "$B/health" | tail -1 | grep -q "STATUS 200" && ok || bad "/health needs no key"
  stop TERM c
fi
GCACHE_API_KEY=envkey start d --port 0 --api-key optkey
if [ -z "$PORT" ]; then bad "start with --api-key: $(cat "$T/d.err")"
else
  http GET "http://127.0.0.1:$PORT/v1/models" "" "Authorization: Bearer optkey" | tail -1 | grep -q "STATUS 200" \
    && ok || bad "--api-key not accepted"
  stop TERM d
fi

# A model whose weights are NaN: generate fails saying so (exit 1, no output
# passed off as a reply), and the server answers 500 with the reason.
mkdir -p "$T/nan" && cp tests/data/tiny/chat/* "$T/nan/"
python3 - "$T/nan/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    t = json.loads(f.read(n))["model.norm.weight"]
    assert t["dtype"] == "BF16"
    a, b = t["data_offsets"]
    f.seek(8 + n + a)
    f.write(b"\xc0\x7f" * ((b - a) // 2))   # bf16 NaN
PY
"$BIN" generate --model "$T/nan" --device cpu --prompt "hello" --max-tokens 4 >"$T/nan.out" 2>"$T/nan.err"; rc=$?
[ $rc -eq 1 ] && grep -q "not finite" "$T/nan.err" && [ ! -s "$T/nan.out" ] && ok \
  || bad "generate on NaN weights: exit $rc, stdout '$(cat "$T/nan.out")', stderr $(cat "$T/nan.err")"
"$BIN" serve --model "$T/nan" --device cpu --port 0 >/dev/null 2>"$T/nanserve.err" &
PID=$!; PIDS+=("$PID"); PORT=""
for _ in $(seq 300); do grep -qs '^gcache serve: ready$' "$T/nanserve.err" && break; sleep 0.1; done
PORT=$(sed -n 's|^gcache serve: listening on http://127\.0\.0\.1:\([0-9]*\)/v1 .*|\1|p' "$T/nanserve.err")
if [ -z "$PORT" ]; then bad "serve on NaN weights did not start: $(cat "$T/nanserve.err")"
else
  http POST "http://127.0.0.1:$PORT/v1/chat/completions" '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}' >"$T/nanr"
  tail -1 "$T/nanr" | grep -q "STATUS 500" && grep -q "not finite" "$T/nanr" && ok || bad "serve on NaN weights: $(cat "$T/nanr")"
  stop TERM nanserve
fi

finish
