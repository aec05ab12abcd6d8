"""Check a runbook's parameters with the runbook's own rules before a kernel starts.

A runbook validates its parameters in the cell tagged ``validate`` (right after the
cell tagged ``parameters``): ``p = rb.validate(globals(), jobs=rb.between(1, 32))``
and cross-checks that ``rb.fail(..., nothing_changed=True)``. That cell must be
free of side effects, so the runner can execute it here, in this process, on the
parameters cell's defaults overlaid with the values given: a value out of range, a
missing required one or a contradiction is then refused as bad usage (exit 2)
before anything runs — with the very message the notebook would show.

Runbooks without a ``validate`` cell (a user's own) are checked only by type.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

from hybridkit.errors import InvalidInputError
from hybridkit.run._catalog import Runbook

__all__ = ["VALIDATE_TAG", "preflight"]

VALIDATE_TAG = "validate"


def _source(cell: Mapping[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _tagged(cells: list[Mapping[str, Any]], tag: str) -> list[str]:
    return [_source(c) for c in cells if tag in (c.get("metadata", {}).get("tags") or [])]


def preflight(
    runbook: Runbook, typed: Mapping[str, Any], *, cwd: str | os.PathLike[str] | None = None
) -> None:
    """Run the runbook's ``validate`` cell on ``typed`` over its defaults.

    Args:
        cwd: the folder the kernel will run in, which relative paths are checked
            against (default: the current one).

    Raises:
        InvalidInputError: the runbook's own validation refused the values; the
            message is the notebook's (what is wrong, the hint), nothing was run.
    """
    from hybridkit.runbook._errors import RunbookError

    try:
        cells = json.loads(runbook.path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return  # papermill will say what is wrong with the file
    checks = _tagged(cells, VALIDATE_TAG)
    defaults = _tagged(cells, "parameters")
    if not checks or len(defaults) != 1:
        return
    namespace: dict[str, Any] = {"__name__": f"hybridkit_preflight_{runbook.name}"}
    exec(compile(defaults[0], f"{runbook.name}:parameters", "exec"), namespace)
    namespace.update(typed)
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            for code in checks:
                exec(compile(code, f"{runbook.name}:validate", "exec"), namespace)
    except RunbookError as exc:
        lines = [f"invalid parameters for runbook {runbook.name}:"]
        message = exc.message.removeprefix("invalid parameters:\n")
        lines += [
            f"  {line}" if line.startswith("- ") else f"  - {line}" for line in message.splitlines()
        ]
        if exc.hint:
            lines.append(f"  hint: {exc.hint}")
        raise InvalidInputError("\n".join(lines)) from None
