"""The context-manager protocol of the kit's closeable objects (clients, managers, bars)."""

from __future__ import annotations

from typing import Self

__all__ = ["Closing"]


class Closing:
    """A mixin: ``with obj:`` hands back ``obj`` and calls its ``close()`` at the end.

    Example:
        >>> class Pool(Closing):
        ...     def close(self) -> None:
        ...         print("closed")
        >>> with Pool() as pool:
        ...     pass
        closed
    """

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
