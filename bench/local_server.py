"""A `gcache serve` on 127.0.0.1 for the serving benchmarks (serve_load.py,
serve_prefill_gap.py): started on a free port, ready once /health answers,
stopped (SIGTERM, then kill after 60 s) when the `with` block ends.

    with local_server(binary, model, ["--prefill-rows", "128"]) as port:
        ...   # requests to http://127.0.0.1:<port>/
"""
import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg writes them."""
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def _healthy(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/health")
        return c.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        c.close()


@contextlib.contextmanager
def local_server(binary, model, extra_args=(), start_timeout=120):
    """Yields the port of a CPU `gcache serve` of model; exits the program with
    the server's log when it does not come up within start_timeout seconds."""
    log = tempfile.NamedTemporaryFile("w+", prefix="gcache_serve_", suffix=".log", delete=False)
    args = [binary, "serve", "--model", model, "--device", "cpu", "--host", "127.0.0.1", "--port", "0"]
    srv = subprocess.Popen(args + list(extra_args), stdout=subprocess.DEVNULL, stderr=log)
    try:
        port = None
        t_end = time.time() + start_timeout
        while time.time() < t_end and srv.poll() is None:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", open(log.name).read())
            if m and _healthy(int(m.group(1))):
                port = int(m.group(1))
                break
            time.sleep(0.1)
        if port is None:
            sys.exit("server did not start: " + open(log.name).read())
        yield port
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(60)
            except subprocess.TimeoutExpired:
                srv.kill()
        os.unlink(log.name)
