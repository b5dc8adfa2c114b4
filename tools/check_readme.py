#!/usr/bin/env python3
"""Runs the command examples of README.md, cheaply, as a fresh clone would.

Every line of a fenced code block that calls ./build/gcache (after joining
"\\"-continued lines, with `NAME=value` lines and prefixes as variables) is
run from the repository root with tiny limits: one question, a few tokens,
one training iteration, one latent step; the model becomes --model (default
the tiny random-weight chat model in tests/data, so this is quick); --out
folders and their files move into a temporary directory. Examples that ask
an OpenAI-compatible API get a `gcache serve` of the same model, named by
API_BASE_URL / API_MODEL in the environment. `serve ... &` and `curl` lines
are left to tests/cli/serve.sh. An example whose input is missing
(.cache/data after `make data`, matplotlib for curves) is reported as skipped.

    python3 tools/check_readme.py --bin build/gcache [--model PATH] [--keep DIR]

Exit status 0 when every example that ran succeeded.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

# Option -> the value it gets: RUN_LIMITS are set on every `run`, SHRINK
# replaces a value where the example gives one.
RUN_LIMITS = {"--max-samples": "1", "--max-tokens": "8", "--agent-max-tokens": "8", "--latent-steps": "1"}
SHRINK = {"--train-iters": "1", "--batch-size": "1", "--prompt-tokens": "16", "--gen-tokens": "4", "--agents": "2"}


def readme_commands(path):
    """(line number, text) of every gcache command and variable assignment in code blocks."""
    out, in_block, buf, start = [], False, "", 0
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        s = line.rstrip("\n")
        if s.startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        if buf:
            buf += " " + s.strip()
        else:
            buf, start = s.strip(), no
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        text, buf = buf, ""
        text = re.sub(r"\s+#.*$", "", text) if not text.startswith("#") else ""
        if text:
            out.append((start, text))
    return out


def expand(tok, env):
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), tok)


def set_opt(args, name, value, add):
    if name in args:
        i = args.index(name)
        if i + 1 < len(args):
            args[i + 1] = value
    elif add:
        args += [name, value]


def prepare(words, o, tmp, counter):
    """The argument list to run, or (None, why) when the example is left out."""
    cmd = words[0]
    args = words[1:]
    if "--model" in args:
        i = args.index("--model")
        if not args[i + 1].startswith("tests/data/"):
            args[i + 1] = o.model
    for k, v in SHRINK.items():
        set_opt(args, k, v, False)
    if cmd == "run":
        for k, v in RUN_LIMITS.items():
            set_opt(args, k, v, True)
        if "--device" not in args and "--method" in args and args[args.index("--method") + 1] != "api":
            args += ["--device", "cpu"]
        if "--out" not in args:
            args += ["--out", "runs/example-%d" % counter]
    if cmd in ("generate", "chat"):
        set_opt(args, "--max-tokens", "8", True)
    for k in ("--dataset",):
        if k in args and not os.path.exists(args[args.index(k) + 1]):
            return None, "%s %s is missing (make data fetches .cache/data)" % (k, args[args.index(k) + 1])
    # Outputs go to the temporary folder: runs/... -> TMP/runs/...
    args = [os.path.join(tmp, a) if a.startswith("runs/") else a for a in args]
    return [cmd] + args, None


def start_server(o, tmp):
    log = open(os.path.join(tmp, "serve.log"), "w+")
    p = subprocess.Popen([o.bin, "serve", "--model", o.model, "--device", "cpu", "--port", "0", "--name", "check",
                          "--quiet"], stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(300):
        log.seek(0)
        m = re.search(r"http://[0-9.]+:(\d+)", log.read())
        if m:
            return p, "http://127.0.0.1:%s/v1" % m.group(1)
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    log.seek(0)
    raise SystemExit("check_readme: gcache serve did not start: " + log.read()[-500:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the gcache binary to run")
    ap.add_argument("--model", default="tests/data/tiny/chat", help="model every example runs with")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--keep", help="write outputs here instead of a temporary folder")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per example")
    o = ap.parse_args()
    o.bin = os.path.abspath(o.bin)
    tmp = o.keep or tempfile.mkdtemp(prefix="gc-readme-")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ)
    for k in ("API_BASE_URL", "BASE_URL", "OPENAI_BASE_URL", "API_KEY", "OPENAI_API_KEY", "API_MODEL", "MODEL_NAME"):
        env.pop(k, None)
    server, ran, failed, skipped, n = None, 0, [], [], 0
    t_start = time.time()
    try:
        for line, text in readme_commands(o.readme):
            if not re.match(r"^(\w+=\S*\s*)*\./build/gcache\s|^\w+=\S*$|^\w+=\S*\s", text):
                continue   # not a command of ours (make, curl, a layout listing, ...)
            words = shlex.split(text)
            local = {}
            while words and re.match(r"^\w+=", words[0]):   # NAME=value (a line or a prefix)
                k, v = words.pop(0).split("=", 1)
                local[k] = expand(v, env)
            if not words:
                env.update(local)
                continue
            words = [expand(w, {**env, **local}) for w in words]
            if words[0] != "./build/gcache":
                continue
            n += 1
            where = "README.md:%d" % line
            if words[-1] == "&" or words[1] == "serve":
                skipped.append((where, "a server in the background (tests/cli/serve.sh)"))
                continue
            py = ".cache/venv/bin/python" if os.access(".cache/venv/bin/python", os.X_OK) else "python3"
            if words[1] == "plot" and subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode:
                skipped.append((where, "matplotlib is missing (make plot-deps)"))
                continue
            if words[1] == "graph" and not shutil.which("dot"):
                skipped.append((where, "Graphviz's dot is missing (make deps)"))
                continue
            args, why = prepare(words[1:], o, tmp, n)
            if args is None:
                skipped.append((where, why))
                continue
            run_env = {**env, **local}
            if "--method api" in " ".join(args) or "--gen-mode" in args:
                if server is None:
                    server, url = start_server(o, tmp)
                run_env.update(API_BASE_URL=url, API_MODEL="check")
            t0 = time.time()
            r = subprocess.run([o.bin] + args, env=run_env, input="What is 2+2?\n\n", text=True,
                               capture_output=True, timeout=o.timeout)
            ran += 1
            ok = r.returncode == 0
            if ok and args[0] == "run":
                out = args[args.index("--out") + 1]
                ok = os.path.exists(os.path.join(out, "summary.json"))
            print("%s %-6s %5.1fs  %s" % ("ok  " if ok else "FAIL", args[0], time.time() - t0, where))
            if not ok:
                failed.append(where)
                print("  $ gcache " + " ".join(shlex.quote(a) for a in args))
                print("  " + (r.stderr.strip() or r.stdout.strip())[-800:].replace("\n", "\n  "))
    finally:
        if server:
            server.terminate()
            server.wait(timeout=60)
        if not o.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    for where, why in skipped:
        print("skip %s: %s" % (where, why))
    print("%d README examples: %d ran, %d failed, %d skipped (%.0f s)" % (n, ran, len(failed), len(skipped),
                                                                      time.time() - t_start))
    return 1 if failed or ran == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
