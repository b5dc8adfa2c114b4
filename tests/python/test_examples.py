"""The Python examples run (on the tiny chat model, with tiny settings)."""
import json
import os
import subprocess
import sys

from conftest import ROOT, TINY


def run_example(*args: str) -> str:
    r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_latentmas_by_hand_matches_the_scheduler():
    out = run_example("examples/python/latentmas_by_hand.py", "--model", str(TINY / "chat"), "--check",
                      "--latent-steps", "2", "--max-tokens", "8")
    assert "gives the same answer: True" in out and "KV blocks still held: 0" in out


def test_train_humaneval_example(tmp_path):
    problems = [{"task_id": f"T/{i}", "prompt": f"def f{i}(x):\n    \"\"\"Return x + {i}.\"\"\"\n",
                 "entry_point": f"f{i}", "canonical_solution": f"    return x + {i}\n",
                 "test": f"def check(candidate):\n    assert candidate(1) == {1 + i}\n"} for i in range(4)]
    data = tmp_path / "he.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in problems))
    out = run_example("examples/python/train_humaneval.py", "--model", str(TINY / "chat"), "--dataset", str(data),
                      "--iters", "1", "--batch-size", "2", "--eval", "1", "--max-tokens", "8", "--out",
                      str(tmp_path / "run"))
    assert "pass@1 on 1 held-out problems" in out
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["iter"] == 0
    assert (tmp_path / "run" / "policy.ckpt").exists()
