"""Run history: the JSON records under ``runs/``, and the ``ops_runs`` table when it exists.

The files are the source of truth (they work with no database). When the kit's
migrations (``migrations/``) are applied to the target, each run is also
recorded in ``public.ops_runs``; when they are not, recording is skipped quietly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunRecord", "list_runs", "record_run"]


@dataclass(frozen=True)
class RunRecord:
    """One past run, read back from its JSON record."""

    runbook: str
    run_id: str
    outcome: str
    started_at: str
    duration: float
    notebook: str
    error: str | None
    path: Path

    @classmethod
    def read(cls, path: Path) -> RunRecord | None:
        """Parse a record; ``None`` for a file that is not one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                runbook=str(data["runbook"]),
                run_id=str(data["run_id"]),
                outcome=str(data["outcome"]),
                started_at=str(data["started_at"]),
                duration=float(data.get("duration_s") or 0.0),
                notebook=str(data.get("notebook") or ""),
                error=data.get("error"),
                path=path,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def list_runs(
    output_dir: str | os.PathLike[str] = "runs", *, runbook: str | None = None
) -> list[RunRecord]:
    """Every recorded run under ``output_dir``, newest first."""
    root = Path(output_dir)
    pattern = f"{runbook}/*.json" if runbook else "*/*.json"
    records = [r for r in (RunRecord.read(p) for p in root.glob(pattern)) if r is not None]
    return sorted(records, key=lambda r: (r.started_at, r.run_id), reverse=True)


def record_run(record: dict[str, Any]) -> str:
    """Record a run in ``ops_runs`` when the kit's migrations are applied; say what happened.

    Returns:
        A short note for the CLI (``"recorded in ops_runs"`` or why it was skipped).
    """
    # GAP (issue 4): the database layer (hybridkit.database) and the ops_runs
    # migration have not landed; until they do, runs are recorded in files only.
    try:
        import hybridkit.database  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return "not recorded in ops_runs (the database layer is not installed)"
    return "not recorded in ops_runs (not wired yet)"
