"""gcache: graph-guided KV-cache communication between LLM agents, from Python.

A thin ctypes binding over libgcache (the C library behind the ``gcache``
command): models and generation, KV caches as values, latent steps and
hidden states as numpy arrays, the multi-agent methods and the learned
topology.

>>> import gcache
>>> with gcache.Model(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf") as m:
...     print(m.generate("What is the capital of France?", max_tokens=32))
"""
from .errors import (ClosedError, DeviceError, FormatError, GcacheError, GcacheIOError, InternalError,
                     InvalidArgumentError, OutOfMemoryError, RangeError, UnsupportedError)
from .evaluate import Dataset, Prompts, Question, task_names
from .learn import Policy, Sample
from .model import Cache, Completion, Forward, Model, concat, cuda_available, weighted_sum
from .runner import GraphOptions, Training, run, train

__version__ = "0.1.0"

__all__ = ["Cache", "ClosedError", "Completion", "Dataset", "DeviceError", "FormatError", "Forward", "GcacheError",
           "GcacheIOError", "GraphOptions", "InternalError", "InvalidArgumentError", "Model", "OutOfMemoryError",
           "Policy", "Prompts", "Question", "RangeError", "Sample", "Training", "UnsupportedError", "concat",
           "cuda_available", "run", "task_names", "train", "weighted_sum"]
