"""Load on `gcache serve` over loopback: C clients, each sending R chat
requests one after another (greedy, max_tokens M), all clients at once.
Prints one JSON line: wall seconds, requests/s, completion tokens/s,
latency p50/p95/max, errors, the load average before and after, and the
server's /health counters when it has them (the most sequences one engine
step ran).

    python3 bench/serve_load.py --bin build/gcache --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf

Loopback only (the server is started here on 127.0.0.1, an ephemeral port)
and bounded: every request has a timeout, the whole run a deadline, and the
server is stopped at the end. Standard library only.
"""
import argparse
import http.client
import json
import os
import threading
import time

from local_server import loadavg, local_server


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def request(port, path, body=None, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the gcache binary")
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=5, help="per client, one after another")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--request-timeout", type=float, default=900)
    ap.add_argument("--deadline", type=float, default=1800, help="seconds for the whole run")
    ap.add_argument("--label", default="")
    ap.add_argument("--serve-args", default="", help="extra gcache serve options")
    a = ap.parse_args()

    with local_server(a.bin, a.model, a.serve_args.split()) as port:
        lat, toks, errors = [], [], []
        lock = threading.Lock()
        deadline = time.time() + a.deadline

        def client(i):
            for k in range(a.requests):
                if time.time() > deadline:
                    with lock:
                        errors.append("deadline")
                    return
                body = {"messages": [{"role": "user", "content": "Count from %d to %d." % (i + k, i + k + 9)}],
                        "max_tokens": a.max_tokens, "temperature": 0}
                t0 = time.time()
                try:
                    status, data = request(port, "/v1/chat/completions", body, timeout=a.request_timeout)
                    dt = time.time() - t0
                    with lock:
                        if status == 200:
                            lat.append(dt)
                            toks.append(json.loads(data)["usage"]["completion_tokens"])
                        else:
                            errors.append("%d %s" % (status, data[:200]))
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        errors.append(repr(e))

        load_before = loadavg()
        t0 = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        health = None
        try:
            status, data = request(port, "/health", timeout=30)
            health = json.loads(data)
        except (OSError, http.client.HTTPException, ValueError):
            pass
        out = {
            "label": a.label, "clients": a.clients, "requests_per_client": a.requests, "max_tokens": a.max_tokens,
            "ok": len(lat), "errors": len(errors), "wall_s": round(wall, 2),
            "req_per_s": round(len(lat) / wall, 3), "completion_tok_per_s": round(sum(toks) / wall, 2),
            "p50_s": round(percentile(lat, 50), 2) if lat else None, "p95_s": round(percentile(lat, 95), 2) if lat else None,
            "max_s": round(max(lat), 2) if lat else None, "loadavg_before": load_before, "loadavg_after": loadavg(),
            "max_step_sequences": health.get("max_step_sequences") if health else None,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        }
        if errors:
            out["first_errors"] = errors[:3]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
