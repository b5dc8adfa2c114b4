"""Running methods on questions, and training the learned topology.

The C library has no single call for a whole ``gcache run``: the CLI's
driver (src/cli/cmd_run.c, run_gcache.c) composes the library's pieces:
dataset → graph of each question (gc_mas_build / gc_graph_build) → the
batched scheduler (gc_sched_run) → scoring → a record. This module composes
the same pieces in the same order with the same seeds, so :func:`run` returns
the records ``gcache run`` writes to results.jsonl (timing fields aside), and
:func:`train` performs the CLI's policy-training iterations (same questions,
RNG draws, utilities and checkpoint bytes). What the CLI adds on top —
results.jsonl / summary.json files, --resume, progress bars, API answers
(--gen-mode) — is not part of this module.
"""
from __future__ import annotations

import ctypes
import math
import os
import time
from ctypes import POINTER, byref, c_int, c_uint8
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _lib
from ._lib import lib
from .errors import InvalidArgumentError, check
from .evaluate import _KINDS, Dataset, Prompts, _task_id
from .learn import Policy, Sample, topology_dict
from .model import Model

Record = Dict[str, Any]
_U64 = (1 << 64) - 1
_MAS_METHODS = ("single", "textmas", "latentmas")


def _enum(fn, name: str, what: str) -> int:
    out = c_int()
    check(fn(name.encode(), byref(out)), what)
    return out.value


def _question_seed(seed: int, qi: int) -> int:
    return (seed * 1000003 + qi) & _U64


@dataclass
class _Job:
    """What one run or training needs: model, questions, prompts, scheduler parameters."""
    model: Model
    ds: Dataset
    ps: Prompts
    sp: _lib.gc_sched_params
    own_ds: bool

    def close(self) -> None:
        self.ps.close()
        if self.own_ds:
            self.ds.close()


def _open(model: Model, task: str, questions, dataset, prompts, strict: bool, seed: int, temperature: float,
          top_p: float, top_k: int, realign: Optional[bool]) -> _Job:
    model._need_tokenizer()
    own = not isinstance(dataset, Dataset)
    if dataset is not None and questions is not None:
        raise InvalidArgumentError("give questions or dataset, not both", "GC_ERR_INVALID_ARG")
    if isinstance(dataset, Dataset):
        if dataset.task != task:
            raise InvalidArgumentError(f"the dataset is for task '{dataset.task}', not '{task}'", "GC_ERR_INVALID_ARG")
        ds = dataset
    elif dataset is not None:
        ds = Dataset(task, path=dataset, strict=strict, seed=seed)
    elif questions is not None:
        ds = Dataset(task, records=questions, strict=strict, seed=seed)
    else:
        raise InvalidArgumentError("give questions (a list of records) or dataset (a path)", "GC_ERR_INVALID_ARG")
    try:
        ps = Prompts(path=prompts) if prompts is not None else Prompts(task=task)
    except Exception:
        if own:
            ds.close()
        raise
    sp = _lib.gc_sched_params()
    sp.sampling = lib.gc_sampler_default_params()
    sp.sampling.temperature = temperature
    sp.sampling.top_p = top_p
    sp.sampling.top_k = top_k
    if realign is not None:
        sp.realign = model._realign_handle(realign)
    return _Job(model, ds, ps, sp, own)


def _sched(job: _Job, graphs: Sequence[_lib.gc_qgraph]) -> None:
    m = job.model
    ptrs = (POINTER(_lib.gc_qgraph) * len(graphs))(*[ctypes.pointer(g) for g in graphs])
    with m._lock:
        m._check()
        check(lib.gc_sched_run(m._e, m._tok, ptrs, len(graphs), byref(job.sp)), "scheduler")


def _text(node: _lib.gc_node) -> str:
    return node.text.decode("utf-8", errors="replace") if node.text else ""


def _record(job: _Job, qi: int, g: _lib.gc_qgraph, method: str, wall_s: float, batch_s: float, nb: int) -> Record:
    """The record of one question, field for field as the CLI's run_record."""
    q = job.ds[qi]
    text = _text(g.nodes[g.output])
    rec: Record = {"id": q.id, "question": q.question, "gold": "" if job.ds.kind == "code" else q.gold}
    sc = job.ds.score(qi, text)
    if "sandbox" in sc:
        rec["sandbox"] = sc["sandbox"]
    rec["prediction"] = sc["prediction"]
    rec["correct"] = sc["correct"]
    rec["output"] = text
    rec["method"] = method
    agents = []
    tin = tout = lat = 0
    for i in range(g.n_nodes):
        nd = g.nodes[i]
        agents.append({"role": (nd.role or b"").decode(), "prompt_tokens": nd.prompt_tokens,
                       "out_tokens": nd.out_tokens, "latent_steps": nd.latent_done, "cache_in": nd.cache_in_len,
                       "cache_out": nd.cache_out_len, "cache_out_bytes": nd.cache_out_bytes})
        tin += nd.prompt_tokens
        tout += nd.out_tokens
        lat += nd.latent_done
    rec["tokens_in"] = tin
    rec["output_tokens"] = tout
    rec["latent_steps"] = lat
    rec["wall_s"] = wall_s
    rec["seconds"] = batch_s / nb
    rec["agents"] = agents
    out = g.nodes[g.output]
    if out.score_tokens > 0:
        rec["answer_logp"] = out.score_logp / out.score_tokens
    return rec


def _batches(job: _Job, idx: Sequence[int], batch: int, build: Callable[[int, int, _lib.gc_qgraph], None],
             add: Callable[[int, int, Record], None], method: str,
             on_record: Optional[Callable[[Record], None]]) -> List[Record]:
    """Runs the graphs of questions idx in batches (build(k, qi, graph) fills
    one); returns their records (add(k, qi, record) adds method fields)."""
    records: List[Record] = []
    for b0 in range(0, len(idx), batch):
        chunk = list(idx[b0:b0 + batch])
        graphs = [_lib.gc_qgraph() for _ in chunk]
        try:
            for k, qi in enumerate(chunk):
                build(b0 + k, qi, graphs[k])
            t0 = time.monotonic()
            _sched(job, graphs)
            t_batch = time.monotonic() - t0
            for k, qi in enumerate(chunk):
                rec = _record(job, qi, graphs[k], method, graphs[k].t_done, t_batch, len(chunk))
                add(b0 + k, qi, rec)
                records.append(rec)
                if on_record:
                    on_record(rec)
        finally:
            for g in graphs:
                lib.gc_mas_clear(byref(g))
    return records


def _select(n_total: int, offset: int, max_samples: Optional[int]) -> List[int]:
    count = n_total if max_samples is None else max_samples
    return list(range(offset, min(n_total, offset + count)))


def _set_score(job: _Job, qi: int, g: _lib.gc_qgraph, score: bool) -> None:
    """Teacher-forced scoring of the gold answer on the decision node (CLI's set_score)."""
    gold = "" if job.ds.kind == "code" else job.ds[qi].gold
    if not score or not gold:
        return
    out = g.nodes[g.output]
    out.score_prefix = b"The final answer is \\boxed{"
    out.score_text = gold.encode()


@dataclass
class GraphOptions:
    """The agent graph of ``method="gcache"`` (``gcache run --topology ...``)."""
    agents: int = 4
    rounds: int = 1
    text_mode: bool = False
    fuse: str = "concat"
    pass_mode: Optional[str] = None
    latent_steps: int = 10
    max_tokens: int = 512
    agent_max_tokens: int = 256
    think: bool = False

    def params(self, model: Model) -> _lib.gc_graph_params:
        gp = lib.gc_graph_default_params()
        if self.fuse not in ("concat", "wsum"):
            raise InvalidArgumentError(f"unknown fusion '{self.fuse}' (concat, wsum)", "GC_ERR_INVALID_ARG")
        if self.pass_mode is not None:
            setattr(gp, "pass", _enum(lib.gc_pass_from_name, self.pass_mode, "pass"))
        gp.fuse = 1 if self.fuse == "wsum" else 0
        gp.n_agents = self.agents
        gp.rounds = self.rounds
        gp.cache_mode = not self.text_mode
        gp.latent_steps = self.latent_steps
        gp.max_tokens = self.max_tokens
        gp.agent_max_tokens = self.agent_max_tokens
        gp.think = self.think
        gp.style = model._style
        return gp


class _Learned:
    """Node features and per-question samples of the learned topology (CLI's `learned`)."""

    def __init__(self, job: _Job, policy: Policy, gp: _lib.gc_graph_params):
        self.job, self.policy, self.gp = job, policy, gp
        n = gp.n_agents
        if lib.gc_prompts_n_roles(job.ps._h()) < 1:
            raise InvalidArgumentError(f"prompt set '{job.ps.family}' has no graph roles", "GC_ERR_INVALID_ARG")
        self.role_emb = np.stack([job.model.embed(lib.gc_prompts_role_description(job.ps._h(), i).decode())
                                  for i in range(n)])
        self.samples: Dict[int, Sample] = {}

    def features(self, qi: int) -> np.ndarray:
        q = self.job.model.embed(self.job.ds[qi].question)
        return np.concatenate([self.role_emb, np.broadcast_to(q, self.role_emb.shape)], axis=1)

    def build(self, k: int, qi: int, g: _lib.gc_qgraph, choice: str, score: bool,
              x: Optional[np.ndarray] = None) -> None:
        """choice: "train" (sampled with dropout), "greedy" or "sample" (seeded evaluation draw)."""
        x = self.features(qi) if x is None else x
        smp = self.samples.setdefault(k, Sample())
        seed = _question_seed(self._seed, qi)
        if choice == "greedy":
            self.policy.greedy(x, into=smp)
        elif choice == "sample":
            self.policy.sample_seeded(x, seed, into=smp)
        else:
            self.policy.sample(x, train=True, into=smp)
        fc = _lib.gc_fuser_choice()
        if self.gp.cache_mode:
            fc.gate = ctypes.cast(smp._s.gate, POINTER(c_uint8))
        fc.fuse_w = ctypes.cast(smp._s.fuse_w, POINTER(ctypes.c_double * _lib.MAX_AGENTS))
        check(lib.gc_graph_build(self.job.ps._h(), byref(self.gp), byref(smp._s.topo), byref(fc),
                                 self.job.ds[qi].question.encode(), seed, byref(g)), "graph")
        _set_score(self.job, qi, g, score)

    _seed = 0

    def add(self, k: int, rec: Record, choice: str) -> None:
        smp = self.samples[k]
        rec["topology"] = smp.topology()
        rec["topology_kind"] = "Learned"
        rec["mode"] = "cache" if self.gp.cache_mode else "text"
        rec["fuser"] = {"gates": smp.gates, "logp": smp.logp, "eval_policy": choice}

    def close(self) -> None:
        for s in self.samples.values():
            s.close()


def run(model: Model, method: str, task: str, *, questions: Optional[Sequence[Mapping[str, Any]]] = None,
        dataset: Union[str, os.PathLike, Dataset, None] = None, max_samples: Optional[int] = None, offset: int = 0,
        batch: int = 8, seed: int = 0, max_tokens: int = 512, temperature: float = 0.6, top_p: float = 0.95,
        top_k: int = 0, think: bool = False, prompts: Optional[str] = None, strict: bool = False,
        mode: str = "sequential", latent_steps: int = 10, realign: bool = True, pass_mode: Optional[str] = None,
        agent_max_tokens: int = 256, topology: str = "FullConnected", agents: int = 4, rounds: int = 1,
        text_mode: bool = False, fuse: str = "concat", score_answer: bool = False,
        policy: Optional[Policy] = None, eval_policy: str = "greedy",
        on_record: Optional[Callable[[Record], None]] = None) -> List[Record]:
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
    ``fuse`` concat | wsum, ``score_answer``). questions: records in the task's dataset format
    (e.g. gsm8k {"question", "answer"}); or dataset: a file path or a
    :class:`Dataset`. Questions [offset, offset + max_samples) run, ``batch``
    at a time in one scheduler batch. Defaults are the CLI's (temperature 0.6,
    top_p 0.95, max_tokens 512). on_record(record) is called as each finishes."""
    if method not in _MAS_METHODS + ("gcache",):
        raise InvalidArgumentError(f"unknown method '{method}' (single, textmas, latentmas, gcache)",
                                   "GC_ERR_INVALID_ARG")
    if batch < 1:
        raise InvalidArgumentError("batch must be >= 1", "GC_ERR_INVALID_ARG")
    if max_samples is not None and max_samples < 1:
        raise InvalidArgumentError("max_samples must be >= 1 (None: all questions)", "GC_ERR_INVALID_ARG")
    if eval_policy not in ("greedy", "sample"):
        raise InvalidArgumentError(f"unknown eval_policy '{eval_policy}' (greedy, sample)", "GC_ERR_INVALID_ARG")
    if method == "gcache":
        go = GraphOptions(agents=agents, rounds=rounds, text_mode=text_mode, fuse=fuse, pass_mode=pass_mode,
                          latent_steps=latent_steps, max_tokens=max_tokens, agent_max_tokens=agent_max_tokens,
                          think=think)
        return _run_graph(model, task, go, topology, questions, dataset, max_samples, offset, batch, seed,
                          temperature, top_p, top_k, prompts, strict, realign, score_answer, policy, eval_policy,
                          on_record)
    mp = lib.gc_mas_default_params()
    mp.method = _enum(lib.gc_method_from_name, method, "method")
    mp.mode = _enum(lib.gc_mas_mode_from_name, mode, "mode")
    if pass_mode is not None:
        setattr(mp, "pass", _enum(lib.gc_pass_from_name, pass_mode, "pass"))
    mp.latent_steps = latent_steps
    mp.think = think
    mp.max_tokens = max_tokens
    mp.agent_max_tokens = agent_max_tokens
    mp.style = model._style
    job = _open(model, task, questions, dataset, prompts, strict, seed, temperature, top_p, top_k,
                realign if method == "latentmas" else None)
    try:
        def build(_k: int, qi: int, g: _lib.gc_qgraph) -> None:
            check(lib.gc_mas_build(job.ps._h(), byref(mp), job.ds[qi].question.encode(), _question_seed(seed, qi),
                                   byref(g)), "graph")
        return _batches(job, _select(len(job.ds), offset, max_samples), batch, build, lambda k, qi, r: None,
                        method, on_record)
    finally:
        job.close()


def _check_score(task: str, score: bool) -> None:
    if score and _KINDS[lib.gc_task_answer_kind(_task_id(task))] == "code":
        raise InvalidArgumentError("likelihood reward / score_answer need a task with a short gold answer "
                                   "(not code tasks)", "GC_ERR_INVALID_ARG")


def _run_graph(model: Model, task: str, go: GraphOptions, topology: str, questions, dataset, max_samples, offset,
               batch, seed, temperature, top_p, top_k, prompts, strict, realign, score, policy, eval_policy,
               on_record) -> List[Record]:
    topo = _enum(lib.gc_topology_from_name, topology, "topology")
    learned = topo == 8  # GC_TOPO_LEARNED
    if learned and policy is None:
        raise InvalidArgumentError("topology Learned needs a policy (gcache.train, or Policy.load of a checkpoint)",
                                   "GC_ERR_INVALID_ARG")
    _check_score(task, score)
    gp = go.params(model)
    job = _open(model, task, questions, dataset, prompts, strict, seed, temperature, top_p, top_k,
                realign if gp.cache_mode else None)
    mode = "cache" if gp.cache_mode else "text"
    try:
        idx = _select(len(job.ds), offset, max_samples)
        if learned:
            L = _Learned(job, policy, gp)  # type: ignore[arg-type]
            L._seed = seed
            try:
                # One batch at a time, as the CLI's evaluation keeps sample k for question k of the batch.
                return _batches(job, idx, batch, lambda k, qi, g: L.build(k % batch, qi, g, eval_policy, score),
                                lambda k, qi, r: L.add(k % batch, r, eval_policy), "gcache", on_record)
            finally:
                L.close()

        def build(_k: int, qi: int, g: _lib.gc_qgraph) -> None:
            t = _lib.gc_topo()
            s = _question_seed(seed, qi)
            check(lib.gc_topology_fixed(topo, gp.n_agents, s, byref(t)), "topology")
            check(lib.gc_graph_build(job.ps._h(), byref(gp), byref(t), None, job.ds[qi].question.encode(), s,
                                     byref(g)), "graph")
            _set_score(job, qi, g, score)

        def add(_k: int, qi: int, rec: Record) -> None:
            t = _lib.gc_topo()
            if lib.gc_topology_fixed(topo, gp.n_agents, _question_seed(seed, qi), byref(t)) == _lib.GC_OK:
                rec["topology"] = topology_dict(t)
            rec["topology_kind"] = lib.gc_topology_name(topo).decode()
            rec["mode"] = mode
        return _batches(job, idx, batch, build, add, "gcache", on_record)
    finally:
        job.close()


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


def train(model: Model, task: str, *, questions: Optional[Sequence[Mapping[str, Any]]] = None,
          dataset: Union[str, os.PathLike, Dataset, None] = None, iters: int = 10, batch_size: int = 4,
          offset: int = 0, lr: float = 0.1, edge_temperature: float = 1.0, baseline: bool = True,
          reward: str = "correct", seed: int = 0, max_tokens: int = 512, temperature: float = 0.6,
          top_p: float = 0.95, top_k: int = 0, think: bool = False, prompts: Optional[str] = None,
          strict: bool = False, latent_steps: int = 10, realign: bool = True, pass_mode: Optional[str] = None,
          agent_max_tokens: int = 256, agents: int = 4, rounds: int = 1, text_mode: bool = False,
          fuse: str = "concat", policy: Optional[Policy] = None, checkpoint: Union[str, os.PathLike, None] = None,
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
    policy.ckpt). Evaluate afterwards with ``run(..., method="gcache",
    topology="Learned", policy=result.policy, offset=result.next_offset)``."""
    if reward not in ("correct", "likelihood"):
        raise InvalidArgumentError(f"unknown reward '{reward}' (correct, likelihood)", "GC_ERR_INVALID_ARG")
    likelihood = reward == "likelihood"
    _check_score(task, likelihood)
    go = GraphOptions(agents=agents, rounds=rounds, text_mode=text_mode, fuse=fuse, pass_mode=pass_mode,
                      latent_steps=latent_steps, max_tokens=max_tokens, agent_max_tokens=agent_max_tokens,
                      think=think)
    gp = go.params(model)
    if batch_size < 1 or iters < 0:
        raise InvalidArgumentError("batch_size must be >= 1 and iters >= 0", "GC_ERR_INVALID_ARG")
    job = _open(model, task, questions, dataset, prompts, strict, seed, temperature, top_p, top_k,
                realign if gp.cache_mode else None)
    N, D, Ln = gp.n_agents, model.hidden_size, model.n_layers
    own_policy = policy is None
    try:
        if policy is None:
            policy = Policy(N, 2 * D, Ln, adjacency=job.ps.role_adjacency(N), lr=lr, temperature=edge_temperature,
                            use_baseline=baseline, learn_gates=bool(gp.cache_mode),
                            learn_fuse=bool(gp.cache_mode) and gp.fuse == 1, learn_temporal=gp.rounds > 1, seed=seed)
        L = _Learned(job, policy, gp)
        L._seed = seed
        roles = [lib.gc_prompts_role_name(job.ps._h(), i).decode() for i in range(N)]
        B, total = batch_size, len(job.ds)
        train_n = min(iters * B, total - offset)
        result = Training(policy=policy, next_offset=offset + max(train_n, 0))
        try:
            for it in range(policy.step, iters):
                if train_n <= 0:
                    break
                idx = [offset + (it * B + k) % train_n for k in range(B)]
                graphs = [_lib.gc_qgraph() for _ in idx]
                edge_mean = np.zeros((N, N))
                try:
                    for k, qi in enumerate(idx):
                        x = L.features(qi)
                        L.build(k, qi, graphs[k], "train", score=likelihood, x=x)
                        edge_mean += policy.edge_probs(x) / B
                    _sched(job, graphs)
                    u = []
                    for k, qi in enumerate(idx):
                        out = graphs[k].nodes[graphs[k].output]
                        sc = job.ds.score(qi, _text(out))
                        if likelihood:
                            if out.score_tokens < 1:
                                raise InvalidArgumentError(f"question {qi}: no gold answer to score",
                                                           "GC_ERR_INVALID_ARG")
                            u.append(math.exp(out.score_logp / out.score_tokens))
                        else:
                            u.append(1.0 if sc["correct"] else 0.0)
                    st = policy.update([L.samples[k] for k in range(B)], u)
                    if checkpoint is not None:
                        policy.save(checkpoint)
                finally:
                    for g in graphs:
                        lib.gc_mas_clear(byref(g))
                entry = {"iter": it, "utility": st["mean_utility"], "loss": st["loss"], "baseline": st["baseline"],
                         "grad_norm": st["grad_norm"], "mean_logp": st["mean_logp"],
                         "edge_probs": edge_mean.tolist(), "temporal_probs": policy.temporal_probs().tolist(),
                         "gate_probs": policy.gate_probs().tolist(), "roles": roles}
                result.log.append(entry)
                if on_iter:
                    on_iter(entry)
        finally:
            L.close()
        return result
    except BaseException:
        if own_policy and policy is not None:
            policy.close()
        raise
    finally:
        job.close()
