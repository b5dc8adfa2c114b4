"""The release protocol every object that owns C memory shares."""
from typing import Any, Self


class Closeable:
    """Owns a C handle: `close()` frees it (idempotent), `with obj:` closes on
    leaving the block, and garbage collection closes as a last resort (errors
    there are swallowed, as Python requires of __del__). Subclasses define
    close()."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
