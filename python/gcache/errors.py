"""Exceptions: every failing gc_ call raises a GcacheError subclass chosen by
its gc_status, carrying the library's message (gc_last_error)."""
from __future__ import annotations

from . import _lib


class GcacheError(Exception):
    """A gcache call failed. ``status`` is the C status name ("GC_ERR_FORMAT"),
    ``message`` the library's text (it names the file / field / tensor)."""

    def __init__(self, message: str, status: str = "GC_ERR_INTERNAL"):
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.status})"


class GcacheIOError(GcacheError, OSError):
    """GC_ERR_IO: a file is missing, unreadable, or a write failed."""


class FormatError(GcacheError, ValueError):
    """GC_ERR_FORMAT: a malformed or corrupt file, JSON or dataset."""


class UnsupportedError(GcacheError):
    """GC_ERR_UNSUPPORTED: valid input gcache does not handle (dtype, architecture, a device not built in)."""


class InvalidArgumentError(GcacheError, ValueError):
    """GC_ERR_INVALID_ARG: a bad argument (an id out of range, a bad option)."""


class OutOfMemoryError(GcacheError, MemoryError):
    """GC_ERR_OOM: an allocation failed or the KV pool is exhausted."""


class RangeError(GcacheError, IndexError):
    """GC_ERR_RANGE: a prompt past the context, an index past the end."""


class InternalError(GcacheError):
    """GC_ERR_INTERNAL: an invariant of the library failed (a bug)."""


class DeviceError(GcacheError):
    """GC_ERR_DEVICE: a CUDA / accelerator failure."""


class ClosedError(GcacheError, ValueError):
    """An object was used after it, or the model it belongs to, was closed."""

    def __init__(self, message: str):
        super().__init__(message, "closed")

    def __str__(self) -> str:
        return self.message


_BY_STATUS = {1: GcacheIOError, 2: FormatError, 3: UnsupportedError, 4: InvalidArgumentError, 5: OutOfMemoryError,
              6: RangeError, 7: InternalError, 8: DeviceError}


def error_for(status: int, context: str | None = None) -> GcacheError:
    """The exception for a failed call's status, with gc_last_error()'s text
    (read right after the call, on the same thread)."""
    raw = _lib.lib.gc_last_error()
    msg = raw.decode("utf-8", errors="replace") if raw else ""
    if not msg:
        msg = "gcache call failed"
    if context:
        msg = f"{context}: {msg}"
    name = (_lib.lib.gc_status_name(status) or b"GC_ERR_?").decode()
    return _BY_STATUS.get(status, GcacheError)(msg, name)


def check(status: int, context: str | None = None) -> None:
    """Raises the matching GcacheError when status is not GC_OK."""
    if status != _lib.GC_OK:
        raise error_for(status, context)
