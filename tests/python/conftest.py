"""Fixtures of the Python binding's tests: the CLI binary they compare with,
the model files, and a realignment cache folder shared with ctest."""
import math
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GC_BUILD_DIR", ROOT / "build"))
CLI = BUILD / "gcache"
TINY = ROOT / "tests" / "data" / "tiny"
GSM8K_MINI = ROOT / "examples" / "gsm8k-mini.jsonl"
SMOL = Path(os.environ.get("GC_SMOL_GGUF", ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))

# W_a is cached on disk; keep it beside ctest's instead of the user's home.
os.environ.setdefault("GC_CACHE_DIR", str(BUILD / "test-cache"))


def cli(*args: str) -> str:
    """Runs build/gcache on the CPU and returns its stdout (fails the test on a non-zero exit)."""
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: build the project first (make build)")
    r = subprocess.run([str(CLI), *args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"gcache {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def same(a, b, rel: float = 1e-13, path: str = "") -> None:
    """Deep equality; floats within `rel` (cJSON writes 15 significant digits
    when they read back within its own tolerance)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a.keys() ^ b.keys())} differ"
        for k in a:
            same(a[k], b[k], rel, f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, rel, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{path}: {a!r} vs {b!r}"
        assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-300), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="session")
def smol_path() -> Path:
    if not SMOL.exists():
        pytest.skip(f"{SMOL} missing (make model fetches it; GC_SMOL_GGUF points elsewhere)")
    return SMOL


@pytest.fixture(scope="session")
def smol(smol_path):
    import gcache
    with gcache.Model(smol_path, device="cpu") as m:
        yield m


@pytest.fixture()
def tiny_chat():
    import gcache
    with gcache.Model(TINY / "chat", device="cpu") as m:
        yield m
