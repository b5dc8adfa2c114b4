"""How long a streaming reply of `gcache serve` stalls while a long prompt
arrives, for several --prefill-rows budgets: client A streams a greedy reply;
once A has N tokens, client B sends a P-token prompt (max_tokens 1). For each
budget it prints one JSON line: A's longest gap between two streamed pieces
while B was running, A's median gap outside it, B's latency, and the load
average before and after.

    python3 bench/serve_prefill_gap.py --bin build/gcache --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --rows 0,512,128

Loopback only (the server is started here on 127.0.0.1, an ephemeral port),
bounded by timeouts, and stopped at the end of each budget. Standard library only.
"""
import argparse
import http.client
import json
import statistics
import threading
import time

from local_server import loadavg, local_server


def stream_times(port, body, times, started, timeout):
    """Streams one request; appends the arrival time of every content piece."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        ev = json.loads(line[6:])
        for ch in ev.get("choices", []):
            if ch.get("delta", {}).get("content"):
                times.append(time.time())
                started.set()
    c.close()


def one_budget(a, rows):
    with local_server(a.bin, a.model, ["--prefill-rows", str(rows), "--quiet"]) as port:
        load_before = loadavg()
        times, started = [], threading.Event()
        body_a = {"messages": [{"role": "user", "content": a.stream_prompt}], "max_tokens": a.stream_tokens,
                  "temperature": 0, "stream": True}
        ta = threading.Thread(target=stream_times, args=(port, body_a, times, started, a.timeout))
        ta.start()
        started.wait(a.timeout)
        while len(times) < a.before and ta.is_alive():
            time.sleep(0.01)
        # P distinct words make about P tokens with SmolLM2's tokenizer (" w123" is 2-3 tokens: fewer words).
        words = " ".join("w%d" % i for i in range(a.words))
        body_b = {"messages": [{"role": "user", "content": words}], "max_tokens": 1, "temperature": 0}
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=a.timeout)
        b0 = time.time()
        c.request("POST", "/v1/chat/completions", body=json.dumps(body_b), headers={"Content-Type": "application/json"})
        reply = json.loads(c.getresponse().read())
        b1 = time.time()
        c.close()
        ta.join(a.timeout)
        gaps = [(t1 - t0, t0, t1) for t0, t1 in zip(times, times[1:])]
        during = [g for g, t0, t1 in gaps if t1 > b0 and t0 < b1]
        outside = [g for g, t0, t1 in gaps if t1 <= b0 or t0 >= b1]
        return {
            "prefill_rows": rows, "b_prompt_tokens": reply.get("usage", {}).get("prompt_tokens"),
            "b_latency_s": round(b1 - b0, 3), "a_pieces": len(times),
            "a_max_gap_during_b_s": round(max(during), 3) if during else None,
            "a_pieces_during_b": len(during),
            "a_median_gap_outside_b_s": round(statistics.median(outside), 4) if outside else None,
            "loadavg_before": load_before, "loadavg_after": loadavg(),
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the gcache binary")
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", default="0,512,128", help="comma-separated --prefill-rows budgets")
    ap.add_argument("--words", type=int, default=600, help="words of B's prompt (w0 w1 ...)")
    ap.add_argument("--before", type=int, default=10, help="A's pieces before B is sent")
    ap.add_argument("--stream-prompt", default="Count from 1 to 300, one number per line.")
    ap.add_argument("--stream-tokens", type=int, default=400)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    for rows in (int(x) for x in a.rows.split(",")):
        print(json.dumps(one_budget(a, rows)), flush=True)


if __name__ == "__main__":
    main()
