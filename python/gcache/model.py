"""Models, generation and KV caches.

Ownership, in one place:

* A :class:`Model` owns the C model (mapped weights), its engine (with the KV
  block pool) and the realignment matrices it made. ``close()`` frees them,
  after first freeing every :class:`Cache` still open on the model; any later
  use of the model or of those caches raises :class:`~gcache.errors.ClosedError`.
* A :class:`Cache` owns one C KV-cache value (a list of refcounted spans over
  the pool's blocks). ``close()`` (or leaving its ``with`` block) releases it at
  once; ``__del__`` is only a fallback.
* Arrays returned by :meth:`Cache.feed`, :meth:`Cache.latent` and
  :meth:`Cache.read` are ordinary numpy arrays that the engine wrote into
  directly (allocated by numpy, filled by C: no copy). They belong to the
  caller and stay valid after the cache or model is closed.
* Arrays of a :meth:`Model.trace` view C memory without copying; that memory
  is freed when the last array viewing it is gone.

A model and its caches are not thread-safe in C; this wrapper serialises
every call on one model with a lock, so they may be shared by threads.
"""
from __future__ import annotations

import ctypes
import os
import queue
import threading
import weakref
from ctypes import POINTER, byref, c_float, c_int32, c_size_t, c_uint8, c_void_p
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _lib
from ._lib import lib
from .errors import ClosedError, GcacheError, InvalidArgumentError, check
from ._handle import Closeable

Tokens = Union[str, Sequence[int], np.ndarray]
Messages = Union[str, Sequence[Mapping[str, str]]]

_FINISH = {0: "length", 1: "eos", 2: "stop"}
_DEVICES = {"cpu": 0, "cuda": 1}
_KV_DTYPES = {"default": 0, "f32": 1, "bf16": 2, "q8": 3}   # gc_kv_dtype


def cuda_available() -> bool:
    """True when this build has the CUDA backend and a CUDA device is present."""
    return bool(lib.gc_engine_cuda_available())


def _f32p(a: np.ndarray):
    return a.ctypes.data_as(POINTER(c_float))


def _i32p(a: np.ndarray):
    return a.ctypes.data_as(POINTER(c_int32))


@dataclass
class Completion:
    """One generation: ``text`` (stop string and end-of-turn token excluded),
    the generated ``ids``, why it ended (``finish``: "eos", "stop" or "length"),
    the number of prompt tokens, and ``unfed``: the last sampled id that was not
    appended to the cache (the stop token, or the final token), or -1."""
    text: str
    ids: List[int]
    finish: str
    prompt_tokens: int
    unfed: int
    prefill_s: float
    decode_s: float


@dataclass
class Forward:
    """What one :meth:`Cache.feed` returns: logits (V,) for the last position
    or (n, V) for every position, and final-norm hidden states (D,) or (n, D)."""
    logits: Optional[np.ndarray]
    hidden: Optional[np.ndarray]


class Model(Closeable):
    """A model (HF folder or GGUF file) with its engine.

    >>> with gcache.Model(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf") as m:
    ...     print(m.generate("What is 2+2?", max_tokens=16))

    ``device``: "cpu" (default), "cuda" (needs a CUDA build and a GPU) or
    "auto" (cuda when available). ``threads``: CPU threads of the engine
    (None: the library's default). ``kv_pool_bytes``: cap on KV-block memory
    (0: no cap). ``exact``: the CPU's exact f32 path instead of the default
    fast one (int8 activations on the quantized weight blocks). ``kv``: how
    the KV cache is stored, "default" (the device's own: f32 on the CPU,
    bf16 on CUDA) or "q8" (int8 with a scale per position and KV head).
    """

    def __init__(self, path: Union[str, os.PathLike], device: str = "cpu", threads: Optional[int] = None,
                 kv_pool_bytes: int = 0, exact: bool = False, kv: str = "default"):
        self._closed = True
        self._lock = threading.RLock()
        self._caches: "weakref.WeakSet[Cache]" = weakref.WeakSet()
        self._streams: "weakref.WeakSet[_Stream]" = weakref.WeakSet()
        self._realign: Dict[bool, int] = {}
        self._m = c_void_p()
        self._e = c_void_p()
        self.path = os.fspath(path)
        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        if device not in _DEVICES:
            raise InvalidArgumentError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}", "GC_ERR_INVALID_ARG")
        if kv not in _KV_DTYPES:
            raise InvalidArgumentError(f"kv must be one of {', '.join(_KV_DTYPES)}, got {kv!r}", "GC_ERR_INVALID_ARG")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidArgumentError(f"threads must be a positive integer or None, got {threads!r}",
                                       "GC_ERR_INVALID_ARG")
        check(lib.gc_model_load(self.path.encode(), byref(self._m)), f"loading {self.path}")
        p = lib.gc_engine_default_params()
        p.device = _DEVICES[device]
        if threads is not None:
            p.n_threads = threads
        p.kv_pool_bytes = kv_pool_bytes
        p.exact = bool(exact)
        p.kv_dtype = _KV_DTYPES[kv]
        st = lib.gc_engine_new(self._m, byref(p), byref(self._e))
        if st != _lib.GC_OK:
            err = _error(st, "creating the engine")
            lib.gc_model_free(self._m)
            raise err
        self._closed = False
        info = _lib.gc_model_info()
        lib.gc_model_get_info(self._m, byref(info))
        self._info = {f: getattr(info, f) for f, _ in _lib.gc_model_info._fields_}
        for k in ("arch", "source", "weight_dtype"):
            self._info[k] = (self._info[k] or b"").decode()
        self._tok = lib.gc_model_tokenizer(self._m)
        tmpl = lib.gc_tokenizer_chat_template(self._tok) if self._tok else None
        self._style = lib.gc_chat_detect(tmpl)
        self.device = device

    # ---- lifetime -----------------------------------------------------------
    def close(self) -> None:
        """Frees the engine and the model, after every cache still open on it
        (those become closed too). Running streams are stopped first. Safe to
        call twice."""
        if self._closed:
            return
        for s in list(self._streams):
            s.stop()
        with self._lock:
            if self._closed:
                return
            for c in list(self._caches):
                c._release()
            for r in self._realign.values():
                lib.gc_realign_free(r)
            self._realign.clear()
            lib.gc_engine_free(self._e)
            lib.gc_model_free(self._m)
            self._e = c_void_p()
            self._m = c_void_p()
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def _check(self) -> None:
        if self._closed:
            raise ClosedError(f"the model {self.path} is closed")

    def _need_tokenizer(self) -> None:
        self._check()
        if not self._tok:
            raise InvalidArgumentError(f"model {self.path} has no tokenizer", "GC_ERR_INVALID_ARG")

    # ---- facts --------------------------------------------------------------
    @property
    def info(self) -> Dict[str, Any]:
        """Architecture and sizes: arch, source, vocab_size, hidden_size, n_layers,
        n_heads, n_kv_heads, head_dim, max_position, weight_dtype, n_params, ..."""
        return dict(self._info)

    @property
    def vocab_size(self) -> int:
        return int(self._info["vocab_size"])

    @property
    def hidden_size(self) -> int:
        return int(self._info["hidden_size"])

    @property
    def n_layers(self) -> int:
        return int(self._info["n_layers"])

    @property
    def chat_style(self) -> str:
        """The chat template family: "chatml", "smollm2", "qwen2.5", "qwen3" or "unknown"."""
        return lib.gc_chat_style_name(self._style).decode()

    @property
    def eos_ids(self) -> List[int]:
        self._check()
        n = ctypes.c_int()
        p = lib.gc_model_eos_ids(self._m, byref(n))
        return [p[i] for i in range(n.value)]

    @property
    def has_tokenizer(self) -> bool:
        return bool(self._tok)

    @property
    def live_blocks(self) -> int:
        """KV blocks currently held by the caches of this model's engine."""
        self._check()
        return int(lib.gc_engine_kv_live_blocks(self._e))

    # ---- text ---------------------------------------------------------------
    def tokenize(self, text: str, special: bool = False) -> List[int]:
        """Token ids of ``text`` (no BOS/EOS added). ``special``: parse special
        tokens such as ``<|im_start|>`` (else they are plain text)."""
        self._need_tokenizer()
        raw = text.encode("utf-8")
        ids = POINTER(c_int32)()
        n = c_size_t()
        with self._lock:
            check(lib.gc_tokenizer_encode(self._tok, raw, len(raw), special, byref(ids), byref(n)), "tokenize")
        try:
            return ids[:n.value]
        finally:
            _lib.libc_free(ctypes.cast(ids, c_void_p))

    def detokenize(self, ids: Sequence[int], skip_special: bool = False) -> str:
        """Text of ``ids`` (bytes that are not valid UTF-8 become U+FFFD)."""
        self._need_tokenizer()
        arr = np.ascontiguousarray(ids, dtype=np.int32)
        out = c_void_p()
        n = c_size_t()
        with self._lock:
            check(lib.gc_tokenizer_decode(self._tok, _i32p(arr), arr.size, skip_special, byref(out), byref(n)),
                  "detokenize")
        try:
            return ctypes.string_at(out, n.value).decode("utf-8", errors="replace")
        finally:
            _lib.libc_free(out)

    def chat_prompt(self, messages: Messages, system: Optional[str] = None, think: bool = True,
                    add_generation_prompt: bool = True) -> str:
        """The model's chat template applied to ``messages`` (a user message as a
        string, or a list of {"role", "content"} dicts); ``system`` is put first."""
        self._need_tokenizer()
        msgs: List[Mapping[str, str]] = [{"role": "user", "content": messages}] if isinstance(messages, str) \
            else list(messages)
        if system is not None:
            msgs = [{"role": "system", "content": system}] + msgs
        arr = (_lib.gc_chat_msg * max(1, len(msgs)))()
        for i, msg in enumerate(msgs):
            arr[i].role = str(msg["role"]).encode()
            arr[i].content = str(msg["content"]).encode()
        opts = _lib.gc_chat_opts(add_generation_prompt, think)
        out = c_void_p()
        check(lib.gc_chat_format(self._style, arr, len(msgs), byref(opts), byref(out), None), "chat template")
        return _lib.take_string(out.value)

    def _prompt_ids(self, prompt: Messages, chat: bool, system: Optional[str], think: bool) -> List[int]:
        if chat:
            ids = self.tokenize(self.chat_prompt(prompt, system=system, think=think), special=True)
        else:
            if not isinstance(prompt, str):
                raise InvalidArgumentError("a list of messages needs chat=True", "GC_ERR_INVALID_ARG")
            ids = self.tokenize(prompt)
        if not ids:
            raise InvalidArgumentError("the prompt encodes to no tokens", "GC_ERR_INVALID_ARG")
        return ids

    # ---- generation ---------------------------------------------------------
    def generate(self, prompt: Messages, max_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                 top_k: int = 0, seed: int = 0, stop: Optional[Sequence[str]] = None, chat: bool = True,
                 system: Optional[str] = None, think: bool = True, ignore_eos: bool = False) -> str:
        """Generates a reply to ``prompt`` on a fresh cache and returns its text.

        ``chat``: wrap the prompt in the model's chat template (a string is one
        user message; a list of {"role", "content"} dicts is a conversation).
        Sampling as ``gcache generate``: temperature 0 is greedy; top-k then
        top-p filter; ``seed`` makes a sampled reply reproducible; ``stop``: up to
        8 strings that end the reply (not included)."""
        ids = self._prompt_ids(prompt, chat, system, think)
        with self.cache() as c:
            return c.generate(ids, max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                              seed=seed, stop=stop, ignore_eos=ignore_eos).text

    def stream(self, prompt: Messages, max_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
               top_k: int = 0, seed: int = 0, stop: Optional[Sequence[str]] = None, chat: bool = True,
               system: Optional[str] = None, think: bool = True, ignore_eos: bool = False) -> Iterator[str]:
        """Like :meth:`generate`, but yields the text piece by piece as it becomes
        final (complete UTF-8, never part of a possible stop string). The pieces
        join to exactly what :meth:`generate` returns. Closing the iterator early
        (``break``) stops the generation."""
        ids = self._prompt_ids(prompt, chat, system, think)
        cache = self.cache()
        params = _gen_params(max_tokens, temperature, top_p, top_k, seed, stop, ignore_eos)
        return _Stream(self, cache, ids, params).pieces()

    # ---- caches -------------------------------------------------------------
    def cache(self) -> "Cache":
        """A new empty KV cache on this model's pool."""
        self._check()
        out = c_void_p()
        with self._lock:
            check(lib.gc_kv_new(self._e, byref(out)), "new cache")
        return Cache(self, out)

    def load_cache(self, path: Union[str, os.PathLike]) -> "Cache":
        """A cache saved with :meth:`Cache.save` (refused when corrupt, or saved
        from a model of other shapes)."""
        self._check()
        out = c_void_p()
        with self._lock:
            check(lib.gc_kv_load(self._e, os.fspath(path).encode(), byref(out)), f"loading cache {path}")
        return Cache(self, out)

    def _realign_handle(self, enabled: bool) -> int:
        """W_a (enabled) or identity, with the embedding-norm rescaling (cached
        per model; freed by close)."""
        self._check()
        if enabled not in self._realign:
            r = c_void_p()
            with self._lock:
                check(lib.gc_realign_new(self._m, enabled, lib.gc_engine_n_threads(self._e), byref(r)), "realignment matrix")
            self._realign[enabled] = r.value
        return self._realign[enabled]

    def embed(self, text: str) -> np.ndarray:
        """The mean final-norm hidden state of ``text`` on a fresh cache,
        L2-normalised (hidden_size float64): the node features of the learned
        topology."""
        self._need_tokenizer()
        out = np.empty(self.hidden_size, dtype=np.float64)
        with self._lock:
            check(lib.gc_text_embed_model(self._e, self._tok, text.encode(),
                                          out.ctypes.data_as(POINTER(ctypes.c_double))), "embed")
        return out

    # ---- conformance probe ----------------------------------------------------
    def trace(self, program: str, realign: bool = True) -> List[Dict[str, Any]]:
        """Runs a trace program (``gcache trace``'s, e.g. "ids:3,17,42;latent:4;greedy:5")
        on a fresh cache. One dict per segment, as the CLI's JSON: "ids" →
        logits (n, V), hidden_last (D,); "latent" → hidden (n, D), logits_last
        (V,); "greedy" → ids; every segment has cache_len. The arrays view the
        C result without copying (freed with the last of them)."""
        self._check()
        opts = _lib.gc_trace_opts(realign)
        out = POINTER(_lib.gc_trace)()
        with self._lock:
            check(lib.gc_trace_run(self._e, program.encode(), byref(opts), byref(out)), "trace")
        owner = _TraceMemory(out)
        t = out.contents
        V, D = t.vocab, t.dim
        segs: List[Dict[str, Any]] = []
        kinds = ["ids", "latent", "greedy", "save", "reset", "concat", "keep", "wsum"]
        for i in range(t.n_segs):
            s = t.segs[i]
            d: Dict[str, Any] = {"type": kinds[s.type], "cache_len": int(s.cache_len)}
            if s.type == 0:
                d["logits"] = _view(owner, s.logits, (s.n, V), np.float32)
                d["hidden_last"] = _view(owner, s.hidden, (D,), np.float32)
            elif s.type == 1:
                d["hidden"] = _view(owner, s.hidden, (s.n, D), np.float32)
                d["logits_last"] = _view(owner, s.logits_last, (V,), np.float32)
            elif s.type == 2:
                d["ids"] = [int(x) for x in _view(owner, s.ids, (s.n,), np.int32)]
            segs.append(d)
        return segs

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._info['arch']}, {self.device}"
        return f"<gcache.Model {self.path!r} ({state})>"


class _TraceMemory:
    """Owns a gc_trace; freed when the last array viewing it is gone."""

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self) -> None:
        lib.gc_trace_free(self.ptr)


def _view(owner: object, ptr, shape, dtype) -> np.ndarray:
    n = int(np.prod(shape))
    ctype = c_float if dtype == np.float32 else c_int32
    buf = (ctype * n).from_address(ctypes.addressof(ptr.contents))
    buf._owner = owner  # the array's base keeps the C memory alive
    arr = np.frombuffer(buf, dtype=dtype).reshape(shape)
    arr.flags.writeable = False
    return arr


def _error(status: int, context: str) -> GcacheError:
    from .errors import error_for
    return error_for(status, context)


def _gen_params(max_tokens: int, temperature: float, top_p: float, top_k: int, seed: int,
                stop: Optional[Sequence[str]], ignore_eos: bool) -> _lib.gc_gen_params:
    p = lib.gc_gen_default_params()
    if max_tokens < 0:
        raise InvalidArgumentError("max_tokens must be >= 0", "GC_ERR_INVALID_ARG")
    p.max_tokens = max_tokens
    p.sampling.temperature = temperature
    p.sampling.top_p = top_p
    p.sampling.top_k = top_k
    p.sampling.seed = seed
    p.ignore_eos = ignore_eos
    stops = list(stop or [])
    if len(stops) > _lib.MAX_STOP:
        raise InvalidArgumentError(f"at most {_lib.MAX_STOP} stop strings", "GC_ERR_INVALID_ARG")
    for i, s in enumerate(stops):
        p.stop[i] = s.encode()
    return p


class Cache(Closeable):
    """A KV cache value on a model's block pool: an agent's working memory.

    Make one with :meth:`Model.cache`; fork / concat / slice share blocks
    (zero-copy), :func:`weighted_sum` materialises new ones. Release it with
    ``close()`` or a ``with`` block; the pool's block count
    (:attr:`Model.live_blocks`) drops as the last value referencing a block goes.

    The cache remembers the final-norm hidden state of the last position fed
    (needed by :meth:`latent`); operations that rebuild the sequence (concat,
    slice, keep_last, weighted_sum, load) forget it, so feed a token first.
    """

    def __init__(self, model: Model, ptr: c_void_p):
        self._model = model
        self._ptr: Optional[c_void_p] = ptr
        self._last_hidden: Optional[np.ndarray] = None
        model._caches.add(self)

    # ---- lifetime -------------------------------------------------------------
    def _release(self) -> None:
        if self._ptr is not None:
            lib.gc_kv_free(self._ptr)
            self._ptr = None

    def close(self) -> None:
        """Releases the cache's blocks now. Safe to call twice, and after the model was closed."""
        if self._ptr is None:
            return
        with self._model._lock:
            self._release()

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __del__(self) -> None:   # a cache of a closed model was freed with it
        try:
            if self._ptr is not None and not self._model._closed:
                self.close()
        except Exception:
            pass

    def _h(self) -> c_void_p:
        if self._model._closed:
            raise ClosedError(f"this cache's model ({self._model.path}) is closed")
        if self._ptr is None:
            raise ClosedError("the cache is closed")
        return self._ptr

    def _same_model(self, other: "Cache") -> None:
        if other._model is not self._model:
            raise InvalidArgumentError("caches of different models cannot be combined", "GC_ERR_INVALID_ARG")

    @property
    def model(self) -> Model:
        return self._model

    # ---- facts ------------------------------------------------------------------
    def __len__(self) -> int:
        return int(lib.gc_kv_len(self._h()))

    @property
    def nbytes(self) -> int:
        """Bytes of K and V the value covers (len × layers × 2 × kv_heads × head_dim × 4)."""
        return int(lib.gc_kv_bytes(self._h()))

    @property
    def block_bytes(self) -> int:
        """Bytes of the blocks this value references (whole blocks, each once)."""
        return int(lib.gc_kv_block_bytes(self._h()))

    @property
    def last_hidden(self) -> Optional[np.ndarray]:
        """Final-norm hidden state (D,) of the last position fed, or None when unknown."""
        return None if self._last_hidden is None else self._last_hidden.copy()

    def __repr__(self) -> str:
        if self._ptr is None or self._model._closed:
            return "<gcache.Cache (closed)>"
        return f"<gcache.Cache len={len(self)}>"

    # ---- forward ------------------------------------------------------------------
    def _run(self, ids: Optional[np.ndarray], embeds: Optional[np.ndarray], all_logits: bool, logits: bool,
             all_hidden: bool) -> Forward:
        h = self._h()
        n = len(ids) if ids is not None else len(embeds)  # type: ignore[arg-type]
        if n < 1:
            raise InvalidArgumentError("nothing to feed", "GC_ERR_INVALID_ARG")
        V, D = self._model.vocab_size, self._model.hidden_size
        lg = np.empty((n if all_logits else 1, V), dtype=np.float32) if logits else None
        hd = np.empty((n if all_hidden else 1, D), dtype=np.float32)
        st = _lib.gc_seq_step()
        st.kv = h
        st.n = n
        if ids is not None:
            st.ids = _i32p(ids)
        else:
            st.embeds = _f32p(embeds)  # type: ignore[arg-type]
        if lg is not None:
            st.logits = _f32p(lg)
            st.logits_all = all_logits
        st.hidden = _f32p(hd)
        st.hidden_all = all_hidden
        with self._model._lock:
            check(lib.gc_engine_forward(self._model._e, byref(st), 1), "forward")
        self._last_hidden = hd[-1].copy()
        return Forward(None if lg is None else (lg if all_logits else lg[0]), hd if all_hidden else hd[0])

    def feed(self, tokens: Tokens, all_logits: bool = False, all_hidden: bool = False,
             special: bool = False) -> Forward:
        """Appends tokens (ids, or text that is tokenized; ``special`` parses
        special tokens in it) and returns the logits and final-norm hidden
        states: of the last position, or of every one with ``all_logits`` /
        ``all_hidden``."""
        if isinstance(tokens, str):
            tokens = self._model.tokenize(tokens, special=special)
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        V = self._model.vocab_size
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise InvalidArgumentError(f"token id out of range [0, {V})", "GC_ERR_INVALID_ARG")
        return self._run(ids, None, all_logits, True, all_hidden)

    def feed_embeddings(self, embeds: np.ndarray, all_hidden: bool = False, logits: bool = True) -> Forward:
        """Appends positions given as input embeddings (n, D) instead of tokens."""
        e = np.ascontiguousarray(embeds, dtype=np.float32)
        if e.ndim == 1:
            e = e.reshape(1, -1)
        if e.ndim != 2 or e.shape[1] != self._model.hidden_size:
            raise InvalidArgumentError(f"embeddings must be (n, {self._model.hidden_size}), got {embeds.shape}",
                                       "GC_ERR_INVALID_ARG")
        if not np.all(np.isfinite(e)):
            raise InvalidArgumentError("embeddings must be finite", "GC_ERR_INVALID_ARG")
        return self._run(None, e, False, logits, all_hidden)

    def realign(self, hidden: np.ndarray, realign: bool = True) -> np.ndarray:
        """The input embedding LatentMAS feeds back for hidden state(s) h: h·W_a
        (or h with ``realign=False``) rescaled to the mean input-embedding norm.
        (n, D) or (D,) in, the same shape out."""
        h = np.ascontiguousarray(hidden, dtype=np.float32)
        rows = h.reshape(-1, self._model.hidden_size)
        out = np.empty_like(rows)
        self._h()
        ra = self._model._realign_handle(realign)
        with self._model._lock:
            check(lib.gc_realign_apply_rows(ra, self._model._e, _f32p(rows), rows.shape[0], _f32p(out)), "realign")
        return out.reshape(h.shape)

    def latent(self, steps: int, realign: bool = True) -> np.ndarray:
        """Runs ``steps`` latent steps (LatentMAS): the last position's hidden
        state h becomes e = realign(h), fed as the next input embedding. Returns
        the hidden state of each step, (steps, D); the cache grows by ``steps``."""
        if steps < 0:
            raise InvalidArgumentError("steps must be >= 0", "GC_ERR_INVALID_ARG")
        self._h()
        if self._last_hidden is None:
            raise InvalidArgumentError("latent steps need the hidden state of a position fed to this cache "
                                       "(feed a token first)", "GC_ERR_INVALID_ARG")
        D = self._model.hidden_size
        out = np.empty((steps, D), dtype=np.float32)
        ra = self._model._realign_handle(realign)
        e = np.empty(D, dtype=np.float32)
        h = self._last_hidden
        for k in range(steps):
            with self._model._lock:
                check(lib.gc_realign_apply_rows(ra, self._model._e, _f32p(h), 1, _f32p(e)), "realign")
                st = _lib.gc_seq_step()
                st.kv = self._h()
                st.n = 1
                st.embeds = _f32p(e)
                st.hidden = _f32p(out[k])
                check(lib.gc_engine_forward(self._model._e, byref(st), 1), "latent step")
            h = out[k]
        if steps:
            self._last_hidden = out[-1].copy()
        return out

    def generate(self, prompt: Tokens, max_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                 top_k: int = 0, seed: int = 0, stop: Optional[Sequence[str]] = None, ignore_eos: bool = False,
                 special: bool = True) -> Completion:
        """Appends ``prompt`` (ids, or text: special tokens parsed when
        ``special``) to this cache and generates from there. Afterwards the cache
        holds the prompt and every generated token except ``unfed``."""
        self._model._need_tokenizer()
        if isinstance(prompt, str):
            prompt = self._model.tokenize(prompt, special=special)
        ids = np.ascontiguousarray(prompt, dtype=np.int32).reshape(-1)
        p = _gen_params(max_tokens, temperature, top_p, top_k, seed, stop, ignore_eos)
        return _generate(self, ids, p, None)

    # ---- cache operations (gcache/kv.h) ------------------------------------------
    def _new(self, ptr: c_void_p, keep_state: bool = False) -> "Cache":
        c = Cache(self._model, ptr)
        if keep_state and self._last_hidden is not None:
            c._last_hidden = self._last_hidden.copy()
        return c

    def fork(self) -> "Cache":
        """A new value sharing this one's blocks (zero-copy); appending to either
        never changes the other."""
        out = c_void_p()
        with self._model._lock:
            check(lib.gc_kv_fork(self._h(), byref(out)), "fork")
        return self._new(out, keep_state=True)

    def clone(self) -> "Cache":
        """A deep copy in fresh blocks."""
        out = c_void_p()
        with self._model._lock:
            check(lib.gc_kv_clone(self._h(), byref(out)), "clone")
        return self._new(out, keep_state=True)

    def slice(self, start: int, end: Optional[int] = None) -> "Cache":
        """Positions [start, end) as a new value (zero-copy); negative indices
        count from the end, as in Python."""
        n = len(self)
        s, e, step = slice(start, end).indices(n)
        if step != 1 or e < s:
            raise InvalidArgumentError(f"bad slice [{start}:{end}] of a cache of length {n}", "GC_ERR_INVALID_ARG")
        out = c_void_p()
        with self._model._lock:
            check(lib.gc_kv_slice(self._h(), s, e, byref(out)), "slice")
        return self._new(out)

    def __getitem__(self, key: slice) -> "Cache":
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a cache is indexed by a slice of positions (cache[a:b])")
        return self.slice(0 if key.start is None else key.start, key.stop)

    def keep_last(self, n: int) -> "Cache":
        """Keeps only the last n positions, in place; returns self."""
        if n < 0:
            raise InvalidArgumentError("keep_last needs n >= 0", "GC_ERR_INVALID_ARG")
        with self._model._lock:
            check(lib.gc_kv_keep_last(self._h(), n), "keep_last")
        self._last_hidden = None
        return self

    def scale(self, start: int = 0, end: Optional[int] = None, k_scale: Optional[Sequence[float]] = None,
              v_scale: Optional[Sequence[float]] = None, gate: Optional[Sequence[int]] = None) -> "Cache":
        """Per-layer factors on K and V of positions [start, end), and layer
        gates (gate[l] = 0 hides those positions from attention in layer l).
        Metadata only (zero-copy), composing with earlier scales; in place,
        returns self. Each array has one entry per layer; None means 1."""
        L = self._model.n_layers
        end = len(self) if end is None else end

        def arr(x, dtype, name):
            if x is None:
                return None
            a = np.ascontiguousarray(x, dtype=dtype).reshape(-1)
            if a.size != L:
                raise InvalidArgumentError(f"{name} needs {L} entries (one per layer), got {a.size}",
                                           "GC_ERR_INVALID_ARG")
            return a
        ks, vs, g = arr(k_scale, np.float32, "k_scale"), arr(v_scale, np.float32, "v_scale"), \
            arr(gate, np.uint8, "gate")
        with self._model._lock:
            check(lib.gc_kv_scale(self._h(), start, end, None if ks is None else _f32p(ks),
                                  None if vs is None else _f32p(vs),
                                  None if g is None else g.ctypes.data_as(POINTER(c_uint8))), "scale")
        return self

    def read(self, layer: int, pos: int):
        """Keys and values of position ``pos`` in ``layer``, scales applied:
        two (kv_heads, head_dim) float32 arrays."""
        info = self._model._info
        k = np.empty((info["n_kv_heads"], info["head_dim"]), dtype=np.float32)
        v = np.empty_like(k)
        with self._model._lock:
            check(lib.gc_kv_read(self._h(), layer, pos, _f32p(k), _f32p(v)), "read")
        return k, v

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the cache to ``path`` (versioned, checksummed, atomic)."""
        with self._model._lock:
            check(lib.gc_kv_save(self._h(), os.fspath(path).encode()), f"saving cache {path}")


def _ptr_array(caches: Sequence[Cache]):
    if not caches:
        raise InvalidArgumentError("need at least one cache", "GC_ERR_INVALID_ARG")
    for c in caches[1:]:
        caches[0]._same_model(c)
    arr = (c_void_p * len(caches))()
    for i, c in enumerate(caches):
        arr[i] = c._h()
    return arr


def concat(caches: Sequence[Cache]) -> Cache:
    """caches[0] ‖ caches[1] ‖ … along the sequence, as a new value (zero-copy).
    Every position keeps the rotary position it was computed at."""
    caches = list(caches)
    arr = _ptr_array(caches)
    out = c_void_p()
    with caches[0]._model._lock:
        check(lib.gc_kv_concat(arr, len(caches), byref(out)), "concat")
    return Cache(caches[0]._model, out)


def weighted_sum(caches: Sequence[Cache], weights: Sequence[float]) -> Cache:
    """Σ w_i · cache_i over the last L = min_i len(cache_i) positions of each,
    element-wise on K and V of every layer, materialised into new blocks."""
    caches = list(caches)
    w = np.ascontiguousarray(weights, dtype=np.float32).reshape(-1)
    if w.size != len(caches):
        raise InvalidArgumentError(f"{len(caches)} caches but {w.size} weights", "GC_ERR_INVALID_ARG")
    arr = _ptr_array(caches)
    out = c_void_p()
    with caches[0]._model._lock:
        check(lib.gc_kv_wsum(arr, _f32p(w), len(caches), byref(out)), "weighted_sum")
    return Cache(caches[0]._model, out)


# ---- generation on a cache, streamed or not -------------------------------------
def _generate(cache: Cache, ids: np.ndarray, p: _lib.gc_gen_params, on_piece) -> Completion:
    """gc_generate on cache; on_piece(str) -> bool (continue) receives the stream."""
    m = cache._model
    res = _lib.gc_gen_result()
    cb = _lib.gc_gen_stream_fn(
        (lambda _u, txt, n: bool(on_piece(ctypes.string_at(txt, n).decode("utf-8", errors="replace"))))
        if on_piece else 0)
    with m._lock:
        h = cache._h()
        st = lib.gc_generate(m._e, h, m._tok, _i32p(ids), ids.size, byref(p), cb, None, byref(res))
        try:
            text = ctypes.string_at(res.text, res.text_len).decode("utf-8", errors="replace") if res.text else ""
            out = Completion(text=text, ids=res.ids[:res.n_ids] if res.ids else [], finish=_FINISH[res.finish],
                             prompt_tokens=int(res.n_prompt), unfed=int(res.unfed), prefill_s=res.prefill_s,
                             decode_s=res.decode_s)
        finally:
            lib.gc_gen_result_free(byref(res))
        check(st, "generate")
    cache._last_hidden = None
    return out


class _Stream:
    """Runs gc_generate in a worker thread; pieces pass through a queue to the
    consuming iterator. stop() makes the callback ask the library to stop."""

    _END = object()

    def __init__(self, model: Model, cache: Cache, ids: List[int], params: _lib.gc_gen_params):
        self.model = model
        self.cache = cache
        self.ids = np.asarray(ids, dtype=np.int32)
        self.params = params
        self.q: "queue.Queue[Any]" = queue.Queue()
        self.stopping = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()

    def _work(self) -> None:
        try:
            _generate(self.cache, self.ids, self.params, self._piece)
            self.q.put(self._END)
        except BaseException as e:  # handed to the consumer
            self.q.put(e)
        finally:
            self.cache.close()

    def _piece(self, text: str) -> bool:
        if self.stopping.is_set():
            return False
        self.q.put(text)
        return True

    def pieces(self) -> Iterator[str]:
        self.model._streams.add(self)
        self.thread = threading.Thread(target=self._work, name="gcache-stream", daemon=True)
        self.thread.start()
        try:
            while True:
                item = self.q.get()
                if item is self._END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop()
