"""What a runbook run would do, judged before it runs: does it write, is it destructive.

Runbooks keep their own dry-run defaults; the server only decides whether a call may
go ahead. The kit's runbooks are known by name; any other runbook (a project's own,
in ``HYBRIDKIT_RUNBOOKS``) counts as writing unless it declares ``dry_run`` and the
call leaves it on, and every run of one that writes needs a confirmation.

Local paths among the parameters (an upload's ``source``, a download's ``dest``, a
folder of migrations) are confined to the server's root like ``upload_file``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridkit.run import Runbook

__all__ = ["PATH_PARAMETERS", "RunbookEffect", "judge"]

# Parameters that name a local file or folder, per runbook ("*": any runbook).
PATH_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "upload": ("source",),
    "download": ("dest",),
    "migration_check": ("migrations_dir",),
    "storage_sync": ("source", "destination"),  # when not an ss:// path
    "restore_drill": ("backup_dir",),
    "storage_inventory": ("runs_dir",),
}


@dataclass(frozen=True)
class RunbookEffect:
    """The verdict on one call.

    Attributes:
        writes: the run may change the project (or the local files outside a dry run).
        destructive: it may delete or overwrite data, or change the schema: it needs the
            confirmation step.
        summary: one sentence for the plan.
    """

    writes: bool
    destructive: bool
    summary: str


def _flag(typed: Mapping[str, Any], runbook: Runbook, name: str) -> bool:
    """A bool parameter as the run will see it: the passed value, else the declared default."""
    if name in typed:
        return bool(typed[name])
    spec = runbook.param(name)
    return spec is not None and spec.default.strip() == "True"


def _text(typed: Mapping[str, Any], runbook: Runbook, name: str) -> str:
    if name in typed:
        return str(typed[name])
    spec = runbook.param(name)
    return spec.default.strip().strip("\"'") if spec is not None else ""


def judge(runbook: Runbook, typed: Mapping[str, Any]) -> RunbookEffect:
    """What running ``runbook`` with ``typed`` (resolved, typed parameters) would do."""
    name = runbook.name
    dry = _flag(typed, runbook, "dry_run")
    if name == "health_check":
        return RunbookEffect(False, False, "probes the services; changes nothing")
    if name == "download":
        return RunbookEffect(False, False, "downloads objects into a local folder")
    if name == "migration_check":
        if _flag(typed, runbook, "apply") and not dry:
            return RunbookEffect(True, True, "APPLIES the pending migrations to the database")
        return RunbookEffect(False, False, "checks the migrations; changes nothing")
    if name == "bucket_admin":
        action = _text(typed, runbook, "action") or "list"
        bucket = _text(typed, runbook, "bucket")
        if action == "list" or dry:
            return RunbookEffect(False, False, f"{action} (a dry run); changes nothing")
        destructive = action in ("empty", "delete", "update")
        return RunbookEffect(True, destructive, f"{action.upper()} bucket {bucket!r}")
    if name == "storage_cleanup":
        if dry:
            return RunbookEffect(False, False, "lists what a clean-up would remove (a dry run)")
        bucket = _text(typed, runbook, "bucket")
        return RunbookEffect(True, True, f"REMOVES the matching objects from bucket {bucket!r}")
    if name == "upload":
        upsert = _flag(typed, runbook, "upsert")
        bucket = _text(typed, runbook, "bucket")
        what = "uploads files to" + (" (overwriting changed objects in)" if upsert else "")
        return RunbookEffect(True, upsert, f"{what} bucket {bucket!r}")
    if name in ("restore_drill", "storage_inventory"):
        return RunbookEffect(False, False, f"{name} reads the project; changes nothing in it")
    if name == "storage_sync":
        if dry:
            return RunbookEffect(False, False, "plans a storage sync (a dry run)")
        where = _text(typed, runbook, "destination")
        deletes = _flag(typed, runbook, "delete")
        return RunbookEffect(
            True,
            deletes,
            f"SYNCS storage into {where!r}"
            + (" and DELETES what the source lacks" if deletes else ""),
        )
    if runbook.param("dry_run") is not None and dry:
        return RunbookEffect(False, False, f"runs {name} as a dry run")
    return RunbookEffect(True, True, f"runs {name}, which may change the project")
