"""How a runbook fails: loudly, at the failing cell, with a message that says what to do.

A :class:`RunbookError` renders in a notebook as its message and hint only (no
library traceback), in red, and still counts as an error output, so papermill
marks the cell, writes its banner into the output notebook and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from hybridkit.errors import HybridError

__all__ = ["RunbookError", "call", "check", "fail"]

T = TypeVar("T")

_RED = "\x1b[1;31m"
_DIM = "\x1b[2m"
_RESET = "\x1b[0m"


class RunbookError(HybridError):
    """A runbook stopped on purpose: bad parameters, a refused confirmation, a failed step.

    Attributes:
        hint: what to do about it (shown under the message), or ``""``.
        nothing_changed: True when the runbook stopped before changing anything.
    """

    def __init__(self, message: str, *, hint: str = "", nothing_changed: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.nothing_changed = nothing_changed

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback: the reader of an
        # output notebook needs the reason and the fix, not our stack frames.
        lines = [
            f"{_RED}RUNBOOK FAILED{_RESET}: {line}" if i == 0 else f"  {line}"
            for i, line in enumerate(self.message.splitlines() or [""])
        ]
        if self.nothing_changed:
            lines.append("  Nothing was changed.")
        if self.hint:
            lines.extend(f"  {_DIM}hint:{_RESET} {line}" for line in self.hint.splitlines())
        return lines


def fail(message: str, *, hint: str = "", nothing_changed: bool = False) -> NoReturn:
    """Stop the runbook here; papermill reports this cell and exits non-zero.

    Example:
        >>> fail("bucket 'logs' is not empty", hint="set empty_first = True")
        Traceback (most recent call last):
        ...
        hybridkit.runbook._errors.RunbookError: bucket 'logs' is not empty
    """
    raise RunbookError(message, hint=hint, nothing_changed=nothing_changed)


def check(result: Any, what: str) -> Any:
    """Return ``result.data`` of a successful ``HybridOperationResult``, else fail loudly.

    Args:
        result: what a manager call returned (anything with ``success``, ``data``, ``error``).
        what: the step in words, for the message (``"create bucket 'logs'"``).
    """
    if getattr(result, "success", False):
        return result.data
    error = getattr(result, "error", None)
    kind = type(error).__name__ if isinstance(error, BaseException) else "error"
    fail(f"{what} failed: {kind}: {error}")


def call(fn: Callable[[], T], what: str) -> T:
    """Run a library step that raises (migrations, checks); a ``HybridError`` fails loudly.

    Example:
        >>> call(lambda: 42, "compute the answer")
        42
    """
    try:
        return fn()
    except HybridError as exc:
        fail(f"{what} failed: {type(exc).__name__}: {exc}")
