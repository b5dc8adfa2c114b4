"""The learned communication policy (gcache/learn.h): GDesigner's topology
plus G-cache's fuser (layer gates, fusion weights), trained by REINFORCE.
A policy is plain CPU memory, independent of any model: it outlives models
and is freed by ``close()`` (or a ``with`` block)."""
from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, byref, c_double, c_void_p
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _lib
from ._lib import lib
from .errors import ClosedError, InvalidArgumentError, check
from ._handle import Closeable


def _dp(a: np.ndarray):
    return a.ctypes.data_as(POINTER(c_double))


def _features(x: np.ndarray, n: int, f: int) -> np.ndarray:
    a = np.ascontiguousarray(x, dtype=np.float64)
    if a.shape != (n, f):
        raise InvalidArgumentError(f"features must be ({n}, {f}), got {a.shape}", "GC_ERR_INVALID_ARG")
    return a


class Sample:
    """One sampled (or greedy) topology and fuser choice for one question.
    Owns the C sample's buffers (released by close() / garbage collection)."""

    def __init__(self) -> None:
        self._s = _lib.gc_sample()
        self._ptr = ctypes.pointer(self._s)

    def close(self) -> None:
        if self._s is not None:
            lib.gc_sample_clear(self._ptr)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def n_agents(self) -> int:
        return int(self._s.topo.n)

    @property
    def spatial(self) -> np.ndarray:
        """(N, N) 0/1: edge i→j within a round."""
        n = self.n_agents
        return np.array([[self._s.topo.spatial[i][j] for j in range(n)] for i in range(n)], dtype=np.uint8)

    @property
    def temporal(self) -> np.ndarray:
        """(N, N) 0/1: edge from agent i in round r−1 to agent j in round r."""
        n = self.n_agents
        return np.array([[self._s.topo.temporal[i][j] for j in range(n)] for i in range(n)], dtype=np.uint8)

    @property
    def gates(self) -> List[int]:
        """Per-layer gates of the received caches (1 = kept)."""
        return [int(self._s.gate[i]) for i in range(self._s.n_layers)]

    @property
    def fuse_weights(self) -> np.ndarray:
        """(N, N): weight of agent i's cache at agent j."""
        n = self.n_agents
        return np.array([[self._s.fuse_w[i][j] for j in range(n)] for i in range(n)])

    @property
    def logp(self) -> float:
        return float(self._s.logp)

    def topology(self) -> Dict[str, Any]:
        """{"agents", "spatial": [[i, j], ...], "temporal": [[i, j], ...]} as in run records."""
        return topology_dict(self._s.topo)


def topology_dict(t: _lib.gc_topo) -> Dict[str, Any]:
    sp, tp = [], []
    for i in range(t.n):
        for j in range(t.n):
            if t.spatial[i][j]:
                sp.append([i, j])
            if t.temporal[i][j]:
                tp.append([i, j])
    return {"agents": t.n, "spatial": sp, "temporal": tp}


class Policy(Closeable):
    """GCN + MLP edge policy and cache fuser (see gcache/learn.h).

    ``Policy(n_agents, feat_dim, n_layers, adjacency=None, **params)`` makes a
    fresh one; params are gc_policy_params' fields (hidden, code_dim,
    temperature, gate_temperature, fuse_sigma, lr, clip_norm, baseline_beta,
    use_baseline, learn_temporal, learn_gates, learn_fuse, dropout, seed).
    :meth:`load` reads a checkpoint (``gcache run``'s policy.ckpt too)."""

    def __init__(self, n_agents: int, feat_dim: int, n_layers: int, adjacency: Optional[np.ndarray] = None,
                 **params: Any):
        self._ptr: Optional[c_void_p] = None
        p = lib.gc_policy_default_params()
        p.n_nodes, p.feat_dim, p.n_layers = n_agents, feat_dim, n_layers
        for k, v in params.items():
            if k not in dict(_lib.gc_policy_params._fields_) or k in ("n_nodes", "feat_dim", "n_layers"):
                raise InvalidArgumentError(f"unknown policy parameter {k!r}", "GC_ERR_INVALID_ARG")
            setattr(p, k, v)
        adj = None
        if adjacency is not None:
            adj = np.ascontiguousarray(adjacency, dtype=np.float64)
            if adj.shape != (n_agents, n_agents):
                raise InvalidArgumentError(f"adjacency must be ({n_agents}, {n_agents})", "GC_ERR_INVALID_ARG")
        out = c_void_p()
        check(lib.gc_policy_new(byref(p), None if adj is None else _dp(adj), byref(out)), "policy")
        self._ptr = out

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Policy":
        """A policy from a checkpoint file (refused when corrupt, truncated or foreign)."""
        out = c_void_p()
        check(lib.gc_policy_load(os.fspath(path).encode(), None, byref(out)), f"loading policy {path}")
        self = cls.__new__(cls)
        self._ptr = out
        return self

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes a checkpoint (config, parameters, Adam moments, step,
        baseline, RNG state; atomic): a loaded copy continues exactly."""
        check(lib.gc_policy_save(self._h(), os.fspath(path).encode()), f"saving policy {path}")

    def close(self) -> None:
        if self._ptr is not None:
            lib.gc_policy_free(self._ptr)
            self._ptr = None

    def _h(self) -> c_void_p:
        if self._ptr is None:
            raise ClosedError("the policy is closed")
        return self._ptr

    @property
    def config(self) -> Dict[str, Any]:
        p = lib.gc_policy_get_config(self._h())
        return {f: getattr(p, f) for f, _ in _lib.gc_policy_params._fields_}

    @property
    def step(self) -> int:
        """Adam steps taken."""
        return int(lib.gc_policy_step(self._h()))

    @property
    def baseline(self) -> float:
        return float(lib.gc_policy_baseline(self._h()))

    def parameters(self) -> np.ndarray:
        """The flat parameter vector (a copy; see gcache/learn.h for its layout)."""
        h = self._h()
        out = np.empty(lib.gc_policy_n_params(h), dtype=np.float64)
        lib.gc_policy_get_params(h, _dp(out))
        return out

    def _nf(self):
        c = self.config
        return c["n_nodes"], c["feat_dim"], c["n_layers"]

    def sample(self, features: np.ndarray, train: bool = True, into: Optional[Sample] = None) -> Sample:
        """Draws a topology and fuser choice for node features (N, F); ``train``
        applies dropout."""
        n, f, _ = self._nf()
        x = _features(features, n, f)
        s = into or Sample()
        check(lib.gc_policy_sample(self._h(), _dp(x), train, s._ptr), "policy sample")
        return s

    def sample_seeded(self, features: np.ndarray, seed: int, into: Optional[Sample] = None) -> Sample:
        """An evaluation draw: no dropout, every choice drawn from a generator
        seeded with ``seed`` alone (the policy's own RNG is not touched)."""
        n, f, _ = self._nf()
        x = _features(features, n, f)
        s = into or Sample()
        check(lib.gc_policy_sample_seeded(self._h(), _dp(x), seed & ((1 << 64) - 1), s._ptr), "policy sample")
        return s

    def greedy(self, features: np.ndarray, into: Optional[Sample] = None) -> Sample:
        """The evaluation choice: every yes/no choice taken when p ≥ 1/2, fusion weights at their means."""
        n, f, _ = self._nf()
        x = _features(features, n, f)
        s = into or Sample()
        check(lib.gc_policy_greedy(self._h(), _dp(x), s._ptr), "policy greedy")
        return s

    def edge_probs(self, features: np.ndarray) -> np.ndarray:
        """(N, N) spatial edge probabilities (no dropout)."""
        n, f, _ = self._nf()
        x = _features(features, n, f)
        out = np.zeros((n, n))
        lib.gc_policy_edge_probs(self._h(), _dp(x), _dp(out))
        return out

    def temporal_probs(self) -> np.ndarray:
        n, _, _ = self._nf()
        out = np.zeros((n, n))
        lib.gc_policy_temporal_probs(self._h(), _dp(out))
        return out

    def gate_probs(self) -> np.ndarray:
        _, _, L = self._nf()
        out = np.zeros(L)
        lib.gc_policy_gate_probs(self._h(), _dp(out))
        return out

    def fuse_means(self) -> np.ndarray:
        n, _, _ = self._nf()
        out = np.zeros((n, n))
        lib.gc_policy_fuse_means(self._h(), _dp(out))
        return out

    def update(self, samples: Sequence[Sample], utilities: Sequence[float]) -> Dict[str, float]:
        """One REINFORCE + Adam step on samples drawn from this policy and their
        utilities. Returns the step's stats: step, loss, mean_utility, baseline,
        mean_logp, grad_norm."""
        u = np.ascontiguousarray(utilities, dtype=np.float64)
        if u.size != len(samples) or not samples:
            raise InvalidArgumentError(f"{len(samples)} samples but {u.size} utilities", "GC_ERR_INVALID_ARG")
        arr = (POINTER(_lib.gc_sample) * len(samples))(*[s._ptr for s in samples])
        st = _lib.gc_train_stats()
        check(lib.gc_policy_update(self._h(), arr, _dp(u), len(samples), byref(st)), "policy update")
        return {f: getattr(st, f) for f, _ in _lib.gc_train_stats._fields_}

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<gcache.Policy (closed)>"
        n, f, L = self._nf()
        return f"<gcache.Policy agents={n} features={f} layers={L} step={self.step}>"
