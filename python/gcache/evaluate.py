"""Datasets, answer scoring and prompt sets (gcache/eval.h, gcache/mas.h):
the evaluation harness `gcache run` uses, as Python objects."""
from __future__ import annotations

import ctypes
import json
import os
from ctypes import byref, c_int, c_void_p
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from ._lib import lib
from .errors import ClosedError, InvalidArgumentError, check
from ._handle import Closeable

_KINDS = {0: "number", 1: "choice", 2: "code"}


def task_names() -> List[str]:
    """The tasks gcache knows: gsm8k aime arc gpqa medqa mmlu humaneval mbpp."""
    names: List[str] = []
    for i in range(64):
        n = lib.gc_task_name(i).decode()
        if n == "unknown":
            break
        names.append(n)
    return names


def _task_id(task: str) -> int:
    t = c_int()
    check(lib.gc_task_from_name(task.encode(), byref(t)), "task")
    return t.value


@dataclass(frozen=True)
class Question:
    """One question of a dataset. ``gold``: a normalised number, a letter, or
    (code tasks) the test program; ``index``: its position in the dataset."""
    index: int
    id: str
    question: str
    gold: str
    n_choices: int
    code_prompt: Optional[str]
    entry_point: Optional[str]
    line: int


def _s(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", errors="replace")


class Dataset(Closeable):
    """A task's questions, parsed and validated by the library (the same
    reader as ``gcache run --dataset``). Give a file ``path``, or ``records``:
    dicts in the file's format (e.g. gsm8k: {"question", "answer": "... #### 72"}).
    Malformed records are skipped with a warning (``warnings``), or are fatal
    with ``strict``. The dataset owns its strings; ``close()`` frees them."""

    def __init__(self, task: str, path: Optional[Union[str, os.PathLike]] = None,
                 records: Optional[Sequence[Mapping[str, Any]]] = None, strict: bool = False, seed: int = 0):
        self._ptr: Optional[c_void_p] = None
        if (path is None) == (records is None):
            raise InvalidArgumentError("give a dataset path or a list of records (one of them)",
                                       "GC_ERR_INVALID_ARG")
        self.task = task
        self._task = _task_id(task)
        opt = _lib.gc_dataset_options(strict, seed)
        out = c_void_p()
        if path is not None:
            self.name = os.fspath(path)
            check(lib.gc_dataset_load(self._task, self.name.encode(), byref(opt), byref(out)), "dataset")
        else:
            self.name = "<records>"
            data = "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records).encode()
            check(lib.gc_dataset_parse(self._task, data, len(data), self.name.encode(), byref(opt), byref(out)),
                  "dataset")
        self._ptr = out
        self.kind = _KINDS[lib.gc_task_answer_kind(self._task)]

    def close(self) -> None:
        if self._ptr is not None:
            lib.gc_dataset_free(self._ptr)
            self._ptr = None

    def _h(self) -> c_void_p:
        if self._ptr is None:
            raise ClosedError("the dataset is closed")
        return self._ptr

    def __len__(self) -> int:
        return int(lib.gc_dataset_count(self._h()))

    def _q(self, i: int) -> "ctypes._Pointer[_lib.gc_question]":
        n = len(self)
        if not 0 <= i < n:
            raise IndexError(f"question {i} of {n}")
        return lib.gc_dataset_get(self._h(), i)

    def __getitem__(self, i: int) -> Question:
        if i < 0:
            i += len(self)
        q = self._q(i).contents
        return Question(index=i, id=_s(q.id) or "", question=_s(q.question) or "", gold=_s(q.gold) or "",
                        n_choices=q.n_choices, code_prompt=_s(q.code_prompt), entry_point=_s(q.entry_point),
                        line=q.line)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def warnings(self) -> List[str]:
        h = self._h()
        return [lib.gc_dataset_warning(h, i).decode() for i in range(lib.gc_dataset_warning_count(h))]

    @property
    def skipped(self) -> int:
        return int(lib.gc_dataset_skipped(self._h()))

    def score(self, i: int, output: str, sandbox: bool = True) -> Dict[str, Any]:
        """Extracts the answer from a model's ``output`` for question i and
        scores it, as ``gcache run`` does: {"prediction": str | None,
        "correct": bool} and, for code tasks, "sandbox": {outcome, reason,
        wall_s, net_isolated} (the candidate program and the tests run in the
        library's sandbox; ``sandbox=False`` only extracts the code)."""
        q = self._q(i)
        text = output.encode("utf-8")
        if self.kind != "code":
            sc = _lib.gc_score()
            st = lib.gc_answer_score(lib.gc_task_answer_kind(self._task), q, text, byref(sc))
            if st != _lib.GC_OK or not sc.extracted:
                return {"prediction": None, "correct": False}
            return {"prediction": sc.pred.decode(), "correct": bool(sc.correct)}
        out: Dict[str, Any] = {}
        prog = lib.gc_code_program(q, text)
        if not prog:
            return {"prediction": None, "correct": False}
        ok = False
        if sandbox:
            lim = _lib.gc_sandbox_limits()
            lib.gc_sandbox_limits_default(byref(lim))
            r = _lib.gc_sandbox_result()
            ctypes.memset(byref(r), 0, ctypes.sizeof(r))
            ok = lib.gc_sandbox_run(ctypes.string_at(prog), byref(lim), byref(r)) == _lib.GC_OK and r.passed
            out["sandbox"] = {"outcome": lib.gc_sandbox_outcome_name(r.outcome).decode(),
                              "reason": r.reason.decode("utf-8", errors="replace"), "wall_s": r.wall_seconds,
                              "net_isolated": bool(r.net_isolated)}
            lib.gc_sandbox_result_free(byref(r))
        _lib.libc_free(prog)
        qc = q.contents
        code = lib.gc_answer_extract_code(text, qc.code_prompt, qc.entry_point)
        out["prediction"] = _lib.take_string(code) if code else None
        out["correct"] = bool(ok)
        return out

    def __repr__(self) -> str:
        n = "closed" if self._ptr is None else f"{len(self)} questions"
        return f"<gcache.Dataset {self.task} {self.name!r} ({n})>"


class Prompts(Closeable):
    """A prompt set: the embedded family of a task ("gsm8k" → math, "arc" →
    choice, "humaneval" → code) or a JSON file of the same shape (``path``)."""

    def __init__(self, task: Optional[str] = None, path: Optional[Union[str, os.PathLike]] = None):
        self._ptr: Optional[c_void_p] = None
        out = c_void_p()
        if path is not None:
            check(lib.gc_prompts_load(os.fspath(path).encode(), byref(out)), "prompts")
        elif task is not None:
            check(lib.gc_prompts_for_task(task.encode(), byref(out)), "prompts")
        else:
            raise InvalidArgumentError("give a task or a prompt-set path", "GC_ERR_INVALID_ARG")
        self._ptr = out

    def _h(self) -> c_void_p:
        if self._ptr is None:
            raise ClosedError("the prompt set is closed")
        return self._ptr

    def close(self) -> None:
        if self._ptr is not None:
            lib.gc_prompts_free(self._ptr)
            self._ptr = None

    @property
    def family(self) -> str:
        return lib.gc_prompts_family(self._h()).decode()

    @property
    def roles(self) -> List[Tuple[str, str]]:
        """The graph section's roles: (name, description) pairs."""
        h = self._h()
        return [(lib.gc_prompts_role_name(h, i).decode(), lib.gc_prompts_role_description(h, i).decode())
                for i in range(lib.gc_prompts_n_roles(h))]

    def role_adjacency(self, n_agents: int) -> np.ndarray:
        """(n, n) role-connection graph over n agents (roles cycled)."""
        a = np.zeros((n_agents, n_agents), dtype=np.float64)
        lib.gc_prompts_role_adjacency(self._h(), n_agents, a.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
        return a
