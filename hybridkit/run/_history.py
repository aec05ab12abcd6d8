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

from hybridkit.config import environment

__all__ = ["RunRecord", "list_runs", "prune_runs", "record_run"]


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


def _settings() -> Any:
    """Where the run went: the environment's project, else a running local stack, else None."""
    from hybridkit.config import Settings

    settings = Settings.load()
    if settings.supabase_url is not None:
        return settings
    from hybridkit.local import LocalStack
    from hybridkit.target import local_stack_dir

    stack = LocalStack(dir=local_stack_dir())
    status = stack.status()
    if not status.running:
        return None
    env = environment()
    env.update(stack.env())
    return Settings.load(env=env, env_file=None)


def record_run(record: dict[str, Any]) -> str:
    """Insert a run into ``public.ops_runs`` when the kit's migrations are applied.

    Skipped quietly (the note says why) when there is no table, no key allowed to
    write it, or no database layer. Never raises.

    Returns:
        A short note for the CLI and the JSON record.
    """
    from hybridkit.errors import HybridError

    try:
        from hybridkit.database import Database
    except ImportError:
        return "not recorded in ops_runs (the database layer is not installed)"
    try:
        settings = _settings()
        if settings is None or settings.service_role_key is None:
            return "not recorded in ops_runs (no project with a service role key configured)"
        row = {
            "runbook": record["runbook"],
            "status": "succeeded" if record.get("ok") else "failed",
            "dry_run": bool(record.get("dry_run")),
            "parameters": record.get("parameters") or {},
            "summary": {
                "run_id": record.get("run_id"),
                "outcome": record.get("outcome"),
                "notebook": record.get("notebook"),
                "summaries": record.get("summaries") or [],
            },
            "error": record.get("error"),
            "started_by": record.get("user") or None,
            "created_at": record.get("started_at"),
            "finished_at": record.get("ended_at"),
        }
        stored = Database(settings).insert("ops_runs", row)
    except HybridError as exc:
        text = str(exc)
        if exc.code in ("42P01", "PGRST205", "PGRST202") or "does not exist" in text:
            return (
                "not recorded in ops_runs (the kit's migrations are not applied; apply them "
                "with: hybridkit run migration_check -p apply true -p dry_run false)"
            )
        return f"not recorded in ops_runs ({type(exc).__name__}: {text[:160]})"
    run_id = stored[0].get("id") if stored else None
    return f"recorded in ops_runs (id {run_id})"


def prune_runs(
    output_dir: str | os.PathLike[str] = "runs",
    *,
    keep: int | None = None,
    older_than_days: float | None = None,
    runbook: str | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> list[RunRecord]:
    """Remove old run artefacts: each run's JSON record, notebook and files beside them.

    A run is removed when it is beyond the ``keep`` newest of its runbook, or older
    than ``older_than_days`` — either rule alone, or both (a run goes when either
    says so). Files that are not run records are never touched.

    Args:
        dry_run: only return what would be removed.
        now: the current time (seconds since the epoch), for tests.

    Returns:
        The runs removed (or that would be), newest first.

    Raises:
        InvalidInputError: neither rule given, or a negative value.
    """
    import time
    from datetime import datetime

    from hybridkit.errors import InvalidInputError

    if keep is None and older_than_days is None:
        raise InvalidInputError("say what to prune: --keep N and/or --older-than DAYS")
    if (keep is not None and keep < 0) or (older_than_days is not None and older_than_days < 0):
        raise InvalidInputError("--keep and --older-than must be 0 or more")
    records = list_runs(output_dir, runbook=runbook)
    cutoff = None
    if older_than_days is not None:
        cutoff = (time.time() if now is None else now) - older_than_days * 86400
    seen: dict[str, int] = {}
    doomed: list[RunRecord] = []
    for record in records:  # newest first
        seen[record.runbook] = seen.get(record.runbook, 0) + 1
        beyond_keep = keep is not None and seen[record.runbook] > keep
        too_old = False
        if cutoff is not None:
            try:
                started = datetime.fromisoformat(record.started_at.replace("Z", "+00:00"))
                too_old = started.timestamp() < cutoff
            except ValueError:
                too_old = False
        if beyond_keep or too_old:
            doomed.append(record)
    if not dry_run:
        for record in doomed:
            for path in _artefacts(record):
                path.unlink(missing_ok=True)
    return doomed


def _artefacts(record: RunRecord) -> list[Path]:
    """A run's files: ``<base>.json``, ``<base>.ipynb`` and ``<base>*`` beside them."""
    base = record.path.with_suffix("")
    return [p for p in record.path.parent.glob(f"{base.name}*") if p.is_file()]
