"""Run runbooks headless: ``hybridkit run``, ``hybridkit runbooks``, ``hybridkit runs``.

Modules follow the data's route: ``_catalog`` (find a runbook, read its declared
parameters, convert values to their types) → ``_execute`` (papermill, then the
output notebook and its JSON record) → ``_history`` (past runs).

Example:
    >>> from hybridkit.run import find_runbook, run_runbook   # doctest: +SKIP
    >>> result = run_runbook(find_runbook("health_check"), {"fail_on_problem": "true"})
    >>> result.outcome, result.notebook
    ('ok', PosixPath('runs/health_check/health_check-20261122T101500Z-1a2b3c4d-ok.ipynb'))
"""

from __future__ import annotations

from hybridkit.run._catalog import (
    ParamSpec,
    Runbook,
    copy_runbooks,
    find_runbook,
    known_secrets,
    list_runbooks,
    load_parameters_file,
    packaged_runbooks_dir,
    resolve_parameters,
    runbooks_dir,
)
from hybridkit.run._execute import TARGET_MIME, RunResult, redact, run_runbook
from hybridkit.run._history import RunRecord, list_runs, prune_runs, record_run

__all__ = [
    "TARGET_MIME",
    "ParamSpec",
    "RunRecord",
    "RunResult",
    "Runbook",
    "copy_runbooks",
    "find_runbook",
    "known_secrets",
    "list_runbooks",
    "list_runs",
    "load_parameters_file",
    "packaged_runbooks_dir",
    "prune_runs",
    "record_run",
    "redact",
    "resolve_parameters",
    "run_runbook",
    "runbooks_dir",
]
