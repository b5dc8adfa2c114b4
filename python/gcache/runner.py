"""Running methods on questions, and training the learned topology.

Both are the library's own calls (gcache/run.h), the ones ``gcache run``
makes: :func:`run` opens a run (gc_run_open) on the model you hold and
executes it (gc_run_execute), so it returns the records ``gcache run``
writes to results.jsonl (timing fields aside); :func:`train` steps the
library's REINFORCE loop (gc_train_step), so it takes the CLI's training
iterations (same questions, RNG draws, utilities, log lines and checkpoint
bytes). What the CLI adds on top — results.jsonl / summary.json / run.json
files, --resume, progress bars, API answers (--gen-mode) — is the same
library run with an output folder; here records come back as dicts.
"""
from __future__ import annotations

import json
import os
from ctypes import byref, c_bool, c_void_p
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _lib
from ._lib import lib
from .errors import InvalidArgumentError, check
from .evaluate import Dataset
from .learn import Policy
from .model import Model

Record = Dict[str, Any]
_U64 = (1 << 64) - 1
_MAS_METHODS = ("single", "textmas", "latentmas")
_GATES = {"learned": 0, "on": 1, "off": 2}
_TIMING = ("wall_s", "seconds")


@dataclass
class GraphOptions:
    """The agent graph of ``method="gcache"`` (``gcache run --topology ...``):
    the keyword options :func:`run` and :func:`train` take for it."""
    agents: int = 4
    rounds: int = 1
    text_mode: bool = False
    fuse: str = "concat"
    pass_mode: Optional[str] = None
    latent_steps: int = 10
    max_tokens: int = 512
    agent_max_tokens: int = 256
    think: bool = False
    gates: str = "learned"


class _Params:
    """A gc_run_params for `model` and keyword options (the CLI's names),
    and the objects its pointers refer to while the run is opened."""

    def __init__(self, model: Model, method: str, task: str, questions, dataset, strict: bool, seed: int,
                 realign: bool, gates: str, **fields: Any):
        model._need_tokenizer()
        if dataset is not None and questions is not None:
            raise InvalidArgumentError("give questions or dataset, not both", "GC_ERR_INVALID_ARG")
        if gates not in _GATES:
            raise InvalidArgumentError(f"unknown gates '{gates}' (learned, on, off)", "GC_ERR_INVALID_ARG")
        self.p = lib.gc_run_default_params()
        self._keep: List[Any] = []
        self._own_ds: Optional[Dataset] = None
        self.str("method", method)
        self.str("task", task)
        if isinstance(dataset, Dataset):
            if dataset.task != task:
                raise InvalidArgumentError(f"the dataset is for task '{dataset.task}', not '{task}'",
                                           "GC_ERR_INVALID_ARG")
            self.p.questions = dataset._h()
            self.str("dataset", dataset.name)
        elif dataset is not None:
            self.str("dataset", os.fspath(dataset))
        elif questions is not None:
            self._own_ds = Dataset(task, records=questions, strict=strict, seed=seed)
            self.p.questions = self._own_ds._h()
            self.str("dataset", self._own_ds.name)
        else:
            raise InvalidArgumentError("give questions (a list of records) or dataset (a path)", "GC_ERR_INVALID_ARG")
        self.p.strict = strict
        self.p.seed = seed & _U64
        self.p.realign = realign
        self.p.gates = _GATES[gates]
        for k, v in fields.items():
            if isinstance(v, str) or v is None or isinstance(v, os.PathLike):
                self.str(k, v)
            else:
                setattr(self.p, k, v)
        self.p.model_handle = model._m
        self.p.engine_handle = model._e
        self.str("model", model.path)
        uses_realign = method == "latentmas" or (method == "gcache" and not fields.get("text_mode", False))
        if uses_realign:
            self.p.realignment = model._realign_handle(realign)

    def str(self, name: str, value: Union[str, os.PathLike, None]) -> None:
        b = None if value is None else os.fspath(value).encode()
        self._keep.append(b)
        setattr(self.p, name, b)

    def close(self) -> None:
        if self._own_ds is not None:
            self._own_ds.close()


class _Run:
    """An opened gc_run whose records come back as dicts (on_record is called
    as each question finishes; an exception there stops the run and is raised)."""

    def __init__(self, model: Model, params: _Params, on_record: Optional[Callable[[Record], None]] = None):
        self.model, self.params = model, params
        self.records: List[Record] = []
        self._failure: List[BaseException] = []

        def record(_user: Any, line: bytes) -> bool:
            try:
                rec = json.loads(line.decode("utf-8"))
                for k in _TIMING:   # cJSON writes a whole number without ".0"
                    if k in rec:
                        rec[k] = float(rec[k])
                self.records.append(rec)
                if on_record:
                    on_record(rec)
                return True
            except BaseException as e:  # raised again after the C call returns
                self._failure.append(e)
                return False

        self._cb = _lib.gc_run_record_fn(record)
        params.p.on_record = self._cb
        self.h = c_void_p()
        with model._lock:
            model._check()
            check(lib.gc_run_open(byref(params.p), byref(self.h)), "run")

    def call(self, status: int, what: str) -> None:
        if self._failure:
            raise self._failure[0]
        check(status, what)

    def close(self) -> None:
        if self.h:
            lib.gc_run_free(self.h)
            self.h = c_void_p()
        self.params.close()


def run(model: Model, method: str, task: str, *, questions: Optional[Sequence[Mapping[str, Any]]] = None,
        dataset: Union[str, os.PathLike, Dataset, None] = None, max_samples: Optional[int] = None, offset: int = 0,
        batch: int = 8, seed: int = 0, max_tokens: int = 512, temperature: float = 0.6, top_p: float = 0.95,
        top_k: int = 0, think: bool = False, prompts: Optional[str] = None, strict: bool = False,
        mode: str = "sequential", latent_steps: int = 10, realign: bool = True, pass_mode: Optional[str] = None,
        agent_max_tokens: int = 256, topology: str = "FullConnected", agents: int = 4, rounds: int = 1,
        text_mode: bool = False, fuse: str = "concat", score_answer: bool = False,
        policy: Optional[Policy] = None, eval_policy: str = "greedy", gates: str = "learned",
        prefill_rows: int = 0, on_record: Optional[Callable[[Record], None]] = None) -> List[Record]:
    """Runs a method on questions and returns one record per question, the
    records ``gcache run`` writes to results.jsonl (same fields and values;
    "wall_s" and "seconds" are this run's timings).

    method: "single", "textmas", "latentmas" (``mode`` sequential |
    hierarchical, ``latent_steps``, ``pass_mode`` whole | own | latent,
    ``realign``), or "gcache": the agent graph (``topology`` DirectAnswer
    FullConnected Chain Star Layered Mesh Debate Random, or Learned with a
    trained ``policy``, whose choice per question is ``eval_policy`` "greedy"
    (every yes/no choice taken when p ≥ 1/2) or "sample" (drawn, seeded by
    ``seed`` and the question's index); ``agents``, ``rounds``, ``text_mode``,
    ``fuse`` concat | wsum, ``score_answer``, ``gates`` learned | on | off:
    the layer gates of every received cache as chosen, or forced).
    questions: records in the task's dataset format (e.g. gsm8k {"question",
    "answer"}); or dataset: a file path or a :class:`Dataset`. Questions
    [offset, offset + max_samples) run, ``batch`` at a time in one scheduler
    batch; an engine step feeds at most ``prefill_rows`` prompt rows (0: the
    device's default, 512 on the CPU and 4096 on CUDA). Defaults are the CLI's
    (temperature 0.6, top_p 0.95, max_tokens 512). on_record(record) is called
    as each finishes."""
    if method not in _MAS_METHODS + ("gcache",):
        raise InvalidArgumentError(f"unknown method '{method}' (single, textmas, latentmas, gcache)",
                                   "GC_ERR_INVALID_ARG")
    if max_samples is not None and max_samples < 1:
        raise InvalidArgumentError("max_samples must be >= 1 (None: all questions)", "GC_ERR_INVALID_ARG")
    if method == "gcache" and topology.lower() == "learned" and policy is None:
        raise InvalidArgumentError("topology Learned needs a policy (gcache.train, or Policy.load of a checkpoint)",
                                   "GC_ERR_INVALID_ARG")
    params = _Params(model, method, task, questions, dataset, strict, seed, realign, gates,
                     max_samples=-1 if max_samples is None else max_samples, offset=offset, batch=batch,
                     max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, think=think,
                     prompts=prompts, mode=mode, latent_steps=latent_steps, agent_max_tokens=agent_max_tokens,
                     topology=topology, agents=agents, rounds=rounds, text_mode=text_mode, fuse=fuse,
                     score_answer=score_answer, eval_policy=eval_policy, prefill_rows=prefill_rows,
                     **{"pass": pass_mode})
    if policy is not None and method == "gcache":
        params.p.policy = policy._h()
    r = None
    try:
        r = _Run(model, params, on_record)
        with model._lock:
            model._check()
            r.call(lib.gc_run_execute(r.h), "run")
        return r.records
    finally:
        if r is not None:
            r.close()
        else:
            params.close()


@dataclass
class Training:
    """What :func:`train` returns: the trained policy (the caller closes it),
    one log entry per iteration (``gcache run``'s train_log.jsonl lines:
    iter, utility, loss, baseline, grad_norm, mean_logp, edge_probs,
    temporal_probs, gate_probs, roles), and the training range's end (the
    offset the CLI evaluates from)."""
    policy: Policy
    log: List[Dict[str, Any]] = field(default_factory=list)
    next_offset: int = 0


def _policy_from(ptr: int) -> Policy:
    pol = Policy.__new__(Policy)
    pol._ptr = c_void_p(ptr)
    return pol


def train(model: Model, task: str, *, questions: Optional[Sequence[Mapping[str, Any]]] = None,
          dataset: Union[str, os.PathLike, Dataset, None] = None, iters: int = 10, batch_size: int = 4,
          offset: int = 0, lr: float = 0.1, edge_temperature: float = 1.0, baseline: bool = True,
          reward: str = "correct", seed: int = 0, max_tokens: int = 512, temperature: float = 0.6,
          top_p: float = 0.95, top_k: int = 0, think: bool = False, prompts: Optional[str] = None,
          strict: bool = False, latent_steps: int = 10, realign: bool = True, pass_mode: Optional[str] = None,
          agent_max_tokens: int = 256, agents: int = 4, rounds: int = 1, text_mode: bool = False,
          fuse: str = "concat", gates: str = "learned", policy: Optional[Policy] = None,
          checkpoint: Union[str, os.PathLike, None] = None,
          on_iter: Optional[Callable[[Dict[str, Any]], None]] = None) -> Training:
    """Trains the learned topology (and, in cache mode, the layer gates and,
    with ``fuse="wsum"``, the fusion weights) with REINFORCE, as
    ``gcache run --method gcache --topology Learned`` does before evaluating:
    iteration ``it`` samples a graph for each of ``batch_size`` questions
    offset + (it·B + k) mod n_train, runs them, scores them (``reward``:
    "correct" 1/0, or "likelihood": the decision node's per-token probability
    of the gold answer), and takes one Adam step. ``policy``: continue training
    it (from its step on, as --resume does), else a fresh one seeded by
    ``seed``. ``checkpoint``: a file rewritten after every step (the CLI's
    policy.ckpt). ``gates`` "on" / "off" force the layer gates of the graphs
    that run (the policy is trained the same). Evaluate afterwards with
    ``run(..., method="gcache", topology="Learned", policy=result.policy,
    offset=result.next_offset)``."""
    params = _Params(model, "gcache", task, questions, dataset, strict, seed, realign, gates, topology="Learned",
                     train_iters=iters, batch_size=batch_size, offset=offset, lr=lr,
                     edge_temperature=edge_temperature, baseline=baseline, reward=reward, max_tokens=max_tokens,
                     temperature=temperature, top_p=top_p, top_k=top_k, think=think, prompts=prompts,
                     latent_steps=latent_steps, agent_max_tokens=agent_max_tokens, agents=agents, rounds=rounds,
                     text_mode=text_mode, fuse=fuse, **{"pass": pass_mode})
    r = None
    t = c_void_p()
    try:
        r = _Run(model, params)
        with model._lock:
            model._check()
            check(lib.gc_train_open(r.h, None if policy is None else policy._h(), byref(t)), "training")
        result = Training(policy=policy if policy is not None else _policy_from(lib.gc_train_policy(t)),
                          next_offset=int(lib.gc_train_next_offset(t)))
        if policy is None:
            lib.gc_train_take_policy(t)   # the Policy object owns it from here on
        try:
            while True:
                it = _lib.gc_train_iter()
                took = c_bool(False)
                with model._lock:
                    model._check()
                    check(lib.gc_train_step(t, byref(it), byref(took)), "training step")
                if not took.value:
                    break
                entry = json.loads(it.log_line.decode("utf-8"))
                if checkpoint is not None:
                    result.policy.save(checkpoint)
                result.log.append(entry)
                if on_iter:
                    on_iter(entry)
        except BaseException:
            if policy is None:
                result.policy.close()
            raise
        return result
    finally:
        if t:
            lib.gc_train_free(t)
        if r is not None:
            r.close()
        else:
            params.close()
