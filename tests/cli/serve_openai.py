"""`gcache serve` driven by the official `openai` Python client (run by
serve_openai.sh): streaming reassembles to the plain reply at temperature 0,
stop strings cut, n choices, max_completion_tokens, a result-changing field
refused, the agent graph as a model, 32 concurrent clients batched together, a closed stream cancels its
generation, a full queue answers 503 + Retry-After, the API key, and SIGTERM
drains (the request in flight completes, new ones get 503, exit 0).

usage: serve_openai.py GCACHE_BINARY MODEL   (any chat model; the suite uses SmolLM2, or the
tiny chat model in sanitizer builds, where SmolLM2 at -O0 is too slow)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import openai

BIN, MODEL = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="gc_serve_openai_")   # server logs (kept after a failure)
passes, fails = 0, 0


T0 = time.time()


def section(name):
    """Progress with the seconds so far (the test must stay short on a loaded machine)."""
    print("[%5.1f s] %s" % (time.time() - T0, name), flush=True)


def check(cond, what):
    global passes, fails
    if cond:
        passes += 1
    else:
        fails += 1
        print("FAIL:", what, flush=True)


class Server:
    """gcache serve on an ephemeral loopback port, ready when started."""

    def __init__(self, name, *args):
        self.log = os.path.join(TMP, name + ".log")
        self.err = open(self.log, "w")
        self.p = subprocess.Popen([BIN, "serve", "--model", MODEL, "--device", "cpu", "--port", "0", *args],
                                  stdout=subprocess.DEVNULL, stderr=self.err)
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline and self.p.poll() is None:
            text = open(self.log).read()
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/v1", text)
            if m and "gcache serve: ready" in text:
                self.port = int(m.group(1))
                break
            time.sleep(0.1)
        if self.port is None:
            raise SystemExit("FAIL: server %s did not start: %s" % (name, open(self.log).read()))
        self.base = "http://127.0.0.1:%d" % self.port

    def client(self, key="none", timeout=120):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0, timeout=timeout)

    def health(self):
        try:
            with urllib.request.urlopen(self.base + "/health", timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def text(self):
        return open(self.log).read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return None


FRUITS = [{"role": "user", "content": "List five fruits, one per line."}]
HI = [{"role": "user", "content": "Write a short story about a cat."}]


def stream_text(stream):
    """Reassembles a stream: per-choice text, finish reasons, chunks, usage."""
    text, finish, chunks, usage = {}, {}, 0, None
    for ch in stream:
        chunks += 1
        if ch.usage is not None:
            usage = ch.usage
        for c in ch.choices:
            text[c.index] = text.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    return text, finish, chunks, usage


A = Server("a", "--name", "smol", "--max-batch", "32", "--drain-timeout", "300",
           "--graph-method", "latentmas", "--graph-latent-steps", "2")
B = Server("b", "--max-batch", "1", "--queue-limit", "0", "--api-key", "k3y")
try:
    section("started")
    c = A.client()
    check({"smol", "gcache-graph"} <= {m.id for m in c.models.list().data}, "models.list")

    section("stream")
    # Streaming reassembles to the plain reply at temperature 0, usage included.
    plain = c.chat.completions.create(model="smol", messages=HI, max_tokens=24, temperature=0)
    # This model's decode speed on this machine now, to size the drain test's
    # request (a few seconds long). The speed is only an estimate: the
    # machine's load changes while the test runs, so no check below may
    # depend on it being right (the reply meant to outlive a 1 s timeout asks
    # for all 1500 tokens the context allows, whatever the speed).
    COUNT = [{"role": "user", "content": "Count from 1 to 1000, one number per line."}]
    t = time.time()
    r = c.chat.completions.create(model="smol", messages=COUNT, max_tokens=64, temperature=0)
    RATE = r.usage.completion_tokens / max(time.time() - t, 1e-3)
    LONG = max(200, min(1500, int(RATE * 3)))
    text, finish, chunks, usage = stream_text(c.chat.completions.create(
        model="smol", messages=HI, max_tokens=24, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    check(text.get(0) == plain.choices[0].message.content and text[0] != "",
          "stream %r != plain %r" % (text.get(0), plain.choices[0].message.content))
    check(finish.get(0) == plain.choices[0].finish_reason, "stream finish %r" % finish)
    check(chunks > 3, "stream came in %d chunks" % chunks)
    check(usage is not None and usage.completion_tokens == plain.usage.completion_tokens
          and usage.prompt_tokens == plain.usage.prompt_tokens, "stream usage %r vs %r" % (usage, plain.usage))

    section("stop")
    # stop cuts before the stop text, plain and streamed: the stop string is
    # the reply's first line break (SmolLM2 lists fruits one per line), else a
    # piece from its middle.
    full = c.chat.completions.create(model="smol", messages=FRUITS, max_tokens=40, temperature=0)
    ftext = full.choices[0].message.content
    stop_s = "\n" if ftext.find("\n") > 0 else ftext[len(ftext) // 2:len(ftext) // 2 + 2]
    check(len(stop_s) > 0, "the reply is too short to cut: %r" % ftext)
    want = ftext[:ftext.index(stop_s)]
    cut = c.chat.completions.create(model="smol", messages=FRUITS, max_tokens=40, temperature=0, stop=[stop_s])
    check(cut.choices[0].message.content == want and cut.choices[0].finish_reason == "stop",
          "stop %r: %r from %r" % (stop_s, cut.choices[0].message.content, ftext))
    text, finish, _, _ = stream_text(c.chat.completions.create(
        model="smol", messages=FRUITS, max_tokens=40, temperature=0, stop=[stop_s, "zzz"], stream=True))
    check(text.get(0) == want and finish.get(0) == "stop", "streamed stop: %r" % text)

    section("n")
    # n choices: different draws; usage over all of them.
    r = c.chat.completions.create(model="smol", messages=HI, max_tokens=12, temperature=1.0, seed=7, n=3)
    outs = [ch.message.content for ch in r.choices]
    check([ch.index for ch in r.choices] == [0, 1, 2] and len(set(outs)) > 1, "n=3: %r" % outs)
    one = c.chat.completions.create(model="smol", messages=HI, max_tokens=12, temperature=1.0, seed=7)
    check(one.choices[0].message.content == outs[0], "n=3 choice 0 differs from n=1 with the same seed")

    section("max_completion_tokens")
    # max_completion_tokens is max_tokens.
    r = c.chat.completions.create(model="smol", messages=HI, max_completion_tokens=5, temperature=0)
    check(1 <= r.usage.completion_tokens <= 5 and (r.choices[0].finish_reason == "length") == (r.usage.completion_tokens == 5),
          "max_completion_tokens: %r %r" % (r.usage, r.choices[0].finish_reason))

    section("logprobs")
    # The agent graph as a model: LatentMAS's decision node answers, usage over all agents.
    g = c.chat.completions.create(model="gcache-graph", messages=HI, max_tokens=8, temperature=0)
    check(g.model == "gcache-graph" and g.choices[0].message.content != ""
          and g.usage.completion_tokens >= 1 and g.usage.prompt_tokens > 3 * plain.usage.prompt_tokens,
          "graph model: %r" % g)

    # A field that would change the result is refused by name.
    try:
        c.chat.completions.create(model="smol", messages=HI, max_tokens=4, logprobs=True)
        check(False, "logprobs=True accepted")
    except openai.BadRequestError as e:
        check("logprobs" in str(e), "logprobs error: %s" % e)

    section("32 clients")
    # 32 concurrent clients: all answered, and the engine ran them in shared steps.
    results, errors = [None] * 32, []

    def one_client(i):
        try:
            cl = A.client()
            results[i] = cl.chat.completions.create(
                model="smol", messages=[{"role": "user", "content": "Count to %d." % (i % 5 + 3)}],
                max_tokens=8, temperature=0)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    before = A.health()[1]
    threads = [threading.Thread(target=one_client, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, h = A.health()
    check(not errors and all(r and r.choices[0].message.content for r in results), "32 clients: %s" % errors[:3])
    check(h["requests"] - before["requests"] == 32 and h["max_step_sequences"] > 1,
          "32 clients were not batched: %r" % h)

    section("cancel")
    # A client that closes its stream cancels the generation.
    s = c.chat.completions.create(model="smol", messages=HI, max_tokens=1500, temperature=0, stream=True)
    it = iter(s)
    next(it), next(it)
    s.close()
    deadline, h = time.time() + 30, None
    while time.time() < deadline:
        _, h = A.health()
        if h["cancelled"] >= 1 and h["active_sequences"] == 0:
            break
        time.sleep(0.1)
    check(h["cancelled"] >= 1 and h["active_sequences"] == 0, "closed stream not cancelled: %r" % h)
    m = re.search(r"cancelled\(client-closed\) .*completion=(\d+)", A.text())
    check(m is not None and int(m.group(1)) < 1500, "no cancel log line: %s" % A.text()[-500:])

    section("key, queue")
    # A client that gives up on a plain (non-streamed) reply cancels it too.
    # The reply asks for 1500 tokens of the cat story, which at temperature 0
    # runs to the limit (SmolLM2 stops counting after ~120 tokens, so COUNT
    # would not do): on a CPU that is many seconds, so the 1 s timeout fires first. Only a machine
    # writing 1500 tokens within a second could answer in time: then there is
    # nothing to cancel, and the check is skipped rather than failed.
    t = time.time()
    try:
        r = A.client(timeout=1.0).chat.completions.create(model="smol", messages=HI, max_tokens=1500,
                                                          temperature=0)
        print("skipped: the abandoned plain request (%d tokens came within %.2f s)"
              % (r.usage.completion_tokens, time.time() - t))
        r = None
    except openai.APITimeoutError:
        r = "timed out"
    if r is not None:
        deadline = time.time() + 30
        while time.time() < deadline:
            _, h = A.health()
            if h["cancelled"] >= 2 and h["active_sequences"] == 0:
                break
            time.sleep(0.1)
        check(h["cancelled"] >= 2 and h["active_sequences"] == 0, "abandoned plain request not cancelled: %r" % h)

    # The API key, and a full queue: 503 with Retry-After.
    try:
        B.client(key="wrong").models.list()
        check(False, "wrong key accepted")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "wrong key: %s" % e)
    cb = B.client(key="k3y")
    s = cb.chat.completions.create(model="x", messages=HI, max_tokens=1500, temperature=0, stream=True)
    it = iter(s)
    next(it), next(it)
    try:
        cb.chat.completions.create(model="x", messages=HI, max_tokens=4)
        check(False, "a request past the queue limit was accepted")
    except openai.APIStatusError as e:
        check(e.status_code == 503 and int(e.response.headers.get("retry-after", "0")) >= 1,
              "queue full: %s %r" % (e, dict(e.response.headers)))
    s.close()

    section("drain")
    # SIGTERM with a request in flight: it completes; new requests get 503; exit 0.
    done = {}

    def in_flight():
        try:
            done["r"] = A.client().chat.completions.create(model="smol", messages=HI, max_tokens=LONG, temperature=0)
        except Exception as e:  # noqa: BLE001 - reported below
            done["e"] = repr(e)

    t = threading.Thread(target=in_flight)
    t.start()
    deadline = time.time() + 30
    while time.time() < deadline and A.health()[1]["active_sequences"] == 0:
        time.sleep(0.02)
    check(A.health()[1]["active_sequences"] == 1, "the drain test's request is not running")
    A.p.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # While the request runs, the server says it drains and refuses new work;
    # once it is done the server exits (then nothing answers).
    try:
        code, h = A.health()
        check(code == 503 and h["status"] == "draining", "health while draining: %s %r" % (code, h))
        A.client().chat.completions.create(model="smol", messages=HI, max_tokens=4)
        check(False, "a request while draining was accepted")
    except openai.APIStatusError as e:
        check(e.status_code == 503, "while draining: %s" % e)
    except (OSError, openai.APIConnectionError):
        check("r" in done, "the server went away before the drained request was answered")
    t.join(120)
    check("r" in done and done["r"].usage.completion_tokens >= 1, "in-flight request during drain: %r" % done)
    check(A.stop(timeout=60) == 0, "exit status after drain: %r\n%s" % (A.p.returncode, A.text()[-800:]))
finally:
    for srv in (A, B):
        srv.stop(timeout=30)
print("%d passed, %d failed" % (passes, fails))
if fails:
    print("server logs kept in", TMP)
else:
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(1 if fails else 0)
