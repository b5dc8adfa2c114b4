#!/usr/bin/env bash
# `gcache run` with an OpenAI-compatible API writing the answers (--method api,
# --gen-mode api_hint / hybrid) against a mock server on loopback that records
# every request and always answers "... \boxed{18}" (question 1's gold), with
# usage 100 prompt / 10 completion tokens. Then the same against `gcache serve`.
source "$(dirname "$0")/lib.sh"
BIN=$1

# The mock: prints its port, appends each request body to $T/requests.jsonl.
python3 - "$T" >"$T/port" 2>"$T/mock.err" <<'PY' &
import http.server, json, sys, threading, time
out = sys.argv[1] + "/requests.jsonl"
lock = threading.Lock()
inflight = [0]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        req = json.loads(body)
        req["_auth"] = self.headers.get("Authorization")
        req["_path"] = self.path
        with lock:
            inflight[0] += 1
            req["_inflight"] = inflight[0]   # requests being served at this one's start
            with open(out, "a") as f: f.write(json.dumps(req) + "\n")
        time.sleep(0.2)
        with lock: inflight[0] -= 1
        rep = {"id": "x", "object": "chat.completion", "model": req.get("model"),
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "So the answer is \\boxed{18}."},
                            "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
        b = json.dumps(rep).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(head -1 "$T/port")
[ -n "$PORT" ] || { echo "FAIL: mock server did not start: $(cat "$T/mock.err")"; exit 1; }

# Settings from a .env file; the environment must not override them here.
unset API_BASE_URL BASE_URL OPENAI_BASE_URL API_KEY OPENAI_API_KEY API_MODEL MODEL_NAME
cat >"$T/env" <<EOF
API_BASE_URL=http://127.0.0.1:$PORT/v1
API_KEY=sk-test
API_MODEL=mock-model
API_PRICE_IN=2.0   # per 1M prompt tokens
API_PRICE_OUT=8
EOF
DATA=tests/data/eval/gsm8k.jsonl
# Shared by the checks below: the run's records, the requests the mock saw,
# and the last user turn of the first request.
cat >"$T/chk.py" <<'PY'
import json, sys
T = sys.argv[1]
# (Requests of a batch are in flight together: the one for the first
# record is found by its question text, and comes first in the list.)
def load(run):
    recs = [json.loads(l) for l in open(T + "/" + run + "/results.jsonl")]
    reqs = [json.loads(l) for l in open(T + "/requests.jsonl")]
    last = lambda q: [m["content"] for m in q["messages"] if m["role"] == "user"][-1]
    reqs.sort(key=lambda q: recs[0]["question"] not in last(q))
    return recs, reqs, last(reqs[0])
PY
export PYTHONPATH=$T
common=(--task gsm8k --dataset "$DATA" --max-samples 2 --max-tokens 8 --temperature 0 --env-file "$T/env")

# 1. API alone: no model at all.
"$BIN" run --method api "${common[@]}" --out "$T/api" >"$T/o1" 2>"$T/e1" || bad "method api: $(tail -3 "$T/e1")"
python3 - "$T" <<'PY' && ok || bad "method api records / requests"
import json
from chk import T, load
recs, reqs, last_user = load("api")
assert len(recs) == 2 and len(reqs) == 2, (len(recs), len(reqs))
r0 = recs[0]
assert r0["gen_mode"] == "api" and r0["correct"] is True and r0["prediction"] == "18", r0
assert r0["api"]["completion_tokens"] == 10 and r0["api"]["model"] == "mock-model"
assert abs(r0["cost"] - (100 * 2.0 + 10 * 8) / 1e6) < 1e-12, r0["cost"]
assert recs[1]["correct"] is False          # gold 1,250
q = reqs[0]
assert q["_path"] == "/v1/chat/completions" and q["_auth"] == "Bearer sk-test" and q["model"] == "mock-model"
assert q["max_tokens"] == 8 and q["temperature"] == 0
assert "5 boxes with 4 pencils" in last_user, q["messages"]
assert all("<|im_start|>" not in m["content"] and "<|im_end|>" not in m["content"] for m in q["messages"])
s = json.load(open(T + "/api/summary.json"))
assert s["correct"] == 1 and abs(s["total_cost"] - 2 * 280e-6) < 1e-12, s
PY
grep -q "total cost" "$T/e1" && ok || bad "summary table shows no cost"

# 2. LatentMAS with api_hint: local agents run, the decision node does not decode.
rm -f "$T/requests.jsonl"
"$BIN" run --method latentmas --latent-steps 2 --model tests/data/tiny/chat --device cpu "${common[@]}" \
  --gen-mode api_hint --out "$T/hint" >"$T/o2" 2>"$T/e2" || bad "api_hint: $(tail -3 "$T/e2")"
python3 - "$T" <<'PY' && ok || bad "api_hint records / requests"
from chk import load
recs, reqs, last_user = load("hint")
assert len(recs) == 2 and len(reqs) == 2
r0 = recs[0]
assert r0["gen_mode"] == "api_hint" and r0["correct"] is True and "draft" not in r0, r0
judge = r0["agents"][-1]
assert judge["out_tokens"] == 10, judge       # only the API's tokens: no local decoding
assert judge["cache_in"] > 0 and r0["latent_steps"] > 0, r0
assert "key-value cache of %d positions" % judge["cache_in"] in last_user, last_user
PY

# 3. Hybrid: the local draft goes to the API, and is recorded with its own score.
rm -f "$T/requests.jsonl"
"$BIN" run --method latentmas --latent-steps 2 --model tests/data/tiny/chat --device cpu "${common[@]}" \
  --gen-mode hybrid --out "$T/hyb" >"$T/o3" 2>"$T/e3" || bad "hybrid: $(tail -3 "$T/e3")"
python3 - "$T" <<'PY' && ok || bad "hybrid records / requests"
from chk import load
recs, reqs, last_user = load("hyb")
r0 = recs[0]
assert r0["gen_mode"] == "hybrid" and r0["correct"] is True and "draft_correct" in r0, r0
assert r0["draft"] != "" and r0["output"] == "So the answer is \\boxed{18}."
judge = r0["agents"][-1]
assert judge["out_tokens"] > 10, judge        # the local draft's tokens plus the API's
assert "drafted this answer" in last_user and r0["draft"] in last_user, last_user
PY

# 4. Bad settings: a clear error naming the variable, nothing written.
echo "API_BASE_URL=http://127.0.0.1:$PORT/v1" >"$T/env2"
if "$BIN" run --method api "${common[@]}" --env-file "$T/env2" --out "$T/none" >/dev/null 2>"$T/e4"; then
  bad "missing API_MODEL accepted"
else
  grep -q "API_MODEL" "$T/e4" && ok || bad "missing API_MODEL: $(cat "$T/e4")"
fi
"$BIN" run --method single "${common[@]}" --gen-mode nonsense --model tests/data/tiny/chat >/dev/null 2>"$T/e5" \
  && bad "--gen-mode nonsense accepted" || { grep -q "gen-mode" "$T/e5" && ok || bad "gen-mode error: $(cat "$T/e5")"; }

# 5. Requests of a batch are in flight together, up to --api-concurrency.
for n in 1 4; do
  rm -f "$T/requests.jsonl"
  "$BIN" run --method api "${common[@]}" --max-samples 4 --api-concurrency $n --out "$T/conc$n" >/dev/null 2>"$T/e7" \
    || bad "api concurrency $n: $(tail -2 "$T/e7")"
  m=$(python3 -c 'import json,sys; print(max(json.loads(l)["_inflight"] for l in open(sys.argv[1])))' "$T/requests.jsonl")
  if [ $n -eq 1 ]; then [ "$m" -eq 1 ] && ok || bad "concurrency 1: $m requests in flight"
  else [ "$m" -ge 2 ] && ok || bad "concurrency $n: only $m request in flight"; fi
done

# 6. Against our own server: gcache serve with the tiny chat model.
"$BIN" serve --model tests/data/tiny/chat --device cpu --port 0 --name tiny >"$T/so" 2>"$T/se" &
PIDS+=($!)
SPORT=""
for _ in $(seq 100); do
  SPORT=$(grep -o 'http://[0-9.]*:[0-9]*' "$T/se" | head -1 | sed 's/.*://')
  [ -n "$SPORT" ] && break; sleep 0.1
done
if [ -z "$SPORT" ]; then
  bad "gcache serve did not start: $(cat "$T/se")"
else
  printf 'API_BASE_URL=http://127.0.0.1:%s/v1\nAPI_MODEL=tiny\n' "$SPORT" >"$T/env3"
  "$BIN" run --method api --task gsm8k --dataset "$DATA" --max-samples 1 --max-tokens 6 --temperature 0 \
    --env-file "$T/env3" --out "$T/srv" >/dev/null 2>"$T/e6" || bad "api against gcache serve: $(tail -3 "$T/e6")"
  python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r["api"]["completion_tokens"] == 6 and r["api"]["finish_reason"] == "length" and r["output"] != "", r
' "$T/srv/results.jsonl" && ok || bad "api against gcache serve: record"
fi

finish
