"""Run one runbook headless with papermill and leave a record that explains itself.

Pipeline: resolve the runbook → typed parameters → papermill (nbclient) in a
headless kernel → redact any secret that slipped into the output → name the
output notebook by time and outcome → write the JSON record beside it.

Outputs go to ``runs/<runbook>/<runbook>-<UTC time>-<run id>-<outcome>.ipynb``
and ``.json``. The kernel inherits the environment (that is where settings and
secrets come from), plus ``HYBRIDKIT_INTERACTIVE=0``, ``HYBRIDKIT_RUN_ID`` and
``HYBRIDKIT_RUNBOOK``.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybridkit import __version__
from hybridkit.errors import ConfigError
from hybridkit.redact import redact
from hybridkit.run._catalog import (
    Runbook,
    known_secrets,
    require_papermill,
    resolve_parameters,
)
from hybridkit.run._live import LiveProgress
from hybridkit.run._preflight import preflight
from hybridkit.runbook._display import SUMMARY_MIME, TARGET_MIME

__all__ = ["TARGET_MIME", "RunResult", "redact", "run_runbook"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_env_lock = threading.Lock()


@dataclass(frozen=True)
class RunResult:
    """What one run did and where its record is.

    Attributes:
        outcome: ``ok``, ``warning`` (every cell ran; the summary found something to
            look at), ``failed`` (a cell raised, or the summary says FAILED), ``timeout``,
            ``kernel-died`` or ``error`` (the run could not start, e.g. no kernel).
        notebook: the output notebook.
        record: the JSON record beside it.
        error: one line saying what went wrong, or ``None``.
        failed_cell: the failing cell as the output notebook labels it (``In [3]``).
        failure: what the output notebook says about the failure, in plain lines (the
            message, "Nothing was changed." when so, the hint); empty for a good run.
        summaries: the runbook's summary tables (``rb.summary``), as data.
        secrets_redacted: how many secret strings were found in the output and removed
            (always 0 for a well-behaved runbook).
    """

    runbook: str
    run_id: str
    outcome: str
    notebook: Path
    record: Path
    started_at: str
    ended_at: str
    duration: float
    parameters: Mapping[str, Any]
    error: str | None = None
    failed_cell: str | None = None
    failure: tuple[str, ...] = ()
    summaries: tuple[Mapping[str, Any], ...] = ()
    target: Mapping[str, Any] = field(default_factory=dict)
    secrets_redacted: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when the run did what it was asked (``ok`` or ``warning``): exit 0."""
        return self.outcome in ("ok", "warning")

    @property
    def duration_s(self) -> float:
        """``duration`` rounded to milliseconds, as the record keeps it."""
        return round(self.duration, 3)

    def as_json(self) -> dict[str, Any]:
        """The JSON record (paths as strings, tuples as lists), in ``_RECORD_KEYS``' order."""
        record = {key: _plain(getattr(self, key)) for key in _RECORD_KEYS}
        return {**record, "user": _user(), "hybridkit": __version__}


#: The run record's keys taken from the result, in the record's order (``user`` and
#: ``hybridkit`` follow). ``record`` itself is not one: the record is that file.
_RECORD_KEYS = (
    "runbook",
    "run_id",
    "outcome",
    "ok",
    "started_at",
    "ended_at",
    "duration_s",
    "parameters",
    "dry_run",
    "error",
    "failed_cell",
    "failure",
    "summaries",
    "target",
    "notebook",
    "secrets_redacted",
)


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it: a path as its text, a mapping as a dict, a tuple as a list."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _user() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return ""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@contextlib.contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the kernel papermill starts (it inherits ``os.environ``)."""
    with _env_lock:
        saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _local_stack_env() -> dict[str, str]:
    """The local stack's settings, when a runbook may have connected to it (no SUPABASE_URL)."""
    try:
        from hybridkit.local import LocalStack
        from hybridkit.target import local_stack_dir

        stack = LocalStack(dir=local_stack_dir())
        if not stack.paths.config.exists():
            return {}
        env = {
            "SUPABASE_ANON_KEY": stack.anon_key,
            "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
            "SUPABASE_JWT_SECRET": stack.jwt_secret,
            "SUPABASE_ACCESS_TOKEN": stack.access_token,
        }
        with contextlib.suppress(Exception):
            env["SUPABASE_DB_URL"] = stack.db_url
    except Exception:
        return {}
    return {k: v for k, v in env.items() if v}


def _collect(nb: Mapping[str, Any], mime: str) -> list[Mapping[str, Any]]:
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if mime in data and isinstance(data[mime], dict):
                found.append(data[mime])
    return found


def _failure(nb: Mapping[str, Any]) -> tuple[str | None, str | None, tuple[str, ...]]:
    """Where the run failed (``In [3]``), ``ename: evalue``, and the block a reader needs.

    The block is what the output notebook shows for a :class:`RunbookError` — the
    message, "Nothing was changed." when so, the hint — in plain text; for any other
    exception, its one line.
    """
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                ename = output.get("ename", "Error")
                evalue = _ANSI.sub("", str(output.get("evalue", ""))).strip()
                count = cell.get("execution_count")
                where = f"In [{count}]" if count is not None else None
                block: tuple[str, ...] = (f"{ename}: {evalue}",)
                if ename == "RunbookError":
                    lines = [_ANSI.sub("", str(t)) for t in output.get("traceback") or []]
                    lines = [ln.removeprefix("RUNBOOK FAILED: ") for ln in lines if ln.strip()]
                    block = tuple(lines) or (evalue,)
                return where, f"{ename}: {evalue}", block
    return None, None, ()


def _verdict(summaries: list[Mapping[str, Any]]) -> tuple[str, str | None]:
    """The run's verdict from its summary tables: ``ok``, ``warning`` or ``failed``."""
    verdicts = [
        (s.get("verdict") or ("ok" if s.get("ok", True) else "failed"), s) for s in summaries
    ]
    for verdict, table in verdicts:
        if verdict == "failed":
            return "failed", f"{table.get('title', 'summary')}: FAILED (see its table)"
    if any(verdict == "warning" for verdict, _ in verdicts):
        return "warning", None
    return "ok", None


def _dry_run(runbook: Runbook, typed: Mapping[str, Any]) -> bool:
    """Whether the run was a dry run: the passed ``dry_run``, else the runbook's default."""
    if "dry_run" in typed:
        return bool(typed["dry_run"])
    spec = runbook.param("dry_run")
    return spec is not None and spec.default.strip() == "True"


def _write_notebook(path: Path, nb: Mapping[str, Any]) -> None:
    # The layout nbformat.write produces, so diffs of output notebooks stay small.
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise ConfigError(
            f"no Jupyter kernel named {name!r} is installed for this Python; run: "
            f"{sys.executable} -m ipykernel install --sys-prefix"
        ) from None
    argv0 = spec.argv[0] if spec.argv else ""
    if os.path.isabs(argv0) and Path(argv0).parent != Path(sys.executable).parent:
        print(
            f"warning: kernel {name!r} runs {argv0}, not this environment's Python "
            f"({sys.executable}); if the runbook cannot import hybridkit, run: "
            f"{sys.executable} -m ipykernel install --sys-prefix",
            file=sys.stderr,
        )


def run_runbook(
    runbook: Runbook,
    parameters: Mapping[str, Any] | None = None,
    *,
    output_dir: str | os.PathLike[str] = "runs",
    timeout: float | None = None,
    kernel_name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    progress_bar: bool = False,
    live_progress: bool = False,
    on_start: Callable[[], None] | None = None,
) -> RunResult:
    """Run ``runbook`` headless; never raises for a failing runbook (see ``.outcome``).

    Args:
        runbook: from :func:`~hybridkit.run.find_runbook`.
        parameters: name → value; text is converted to the declared types, unknown
            or secret-looking names are refused.
        output_dir: the runs folder; the notebook goes to ``output_dir/<runbook>/``.
        timeout: seconds per cell (``None``: no limit).
        kernel_name: the Jupyter kernel (default: the notebook's, ``python3``).
        env: extra environment for the kernel (settings such as ``SUPABASE_URL``).
        cwd: the kernel's working folder (default: the current one).
        progress_bar: show papermill's cell progress bar on stderr.
        live_progress: draw the runbook's own progress bars (bytes, files) live on
            stderr, a terminal (see :mod:`hybridkit.run._live`); replaces the cell bar.
        on_start: called once the parameters were accepted, just before the kernel
            starts (the CLI's "running …" line: never printed for a refused run).

    Raises:
        InvalidInputError: bad parameters — an unknown name, a wrong type, or a value
            the runbook's own ``validate`` cell refuses (nothing was run).
        ConfigError: no such kernel (nothing was run).
    """
    papermill = require_papermill()
    from papermill.exceptions import PapermillExecutionError  # type: ignore[import-untyped,unused-ignore]

    merged_env = {**os.environ, **(env or {})}
    typed = resolve_parameters(runbook, parameters or {}, env=merged_env)
    preflight(runbook, typed, cwd=cwd)
    kernel = kernel_name or "python3"
    _check_kernel(kernel)
    if on_start is not None:
        on_start()

    run_id = uuid.uuid4().hex[:8]
    started = datetime.now(UTC)
    folder = Path(output_dir) / runbook.name
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{runbook.name}-{_stamp(started)}-{run_id}"
    running = folder / f"{base}-running.ipynb"
    kernel_env = {
        **(env or {}),
        "HYBRIDKIT_INTERACTIVE": "0",
        "HYBRIDKIT_RUN_ID": run_id,
        "HYBRIDKIT_RUNBOOK": runbook.name,
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }

    outcome, error = "ok", None
    t0 = time.monotonic()
    live = LiveProgress() if live_progress else None
    try:
        with (
            live or contextlib.nullcontext(),
            _environment({**kernel_env, **(live.env() if live else {})}),
        ):
            papermill.execute_notebook(
                str(runbook.path),
                str(running),
                parameters=typed,
                kernel_name=kernel,
                progress_bar=progress_bar and not live,
                cwd=str(cwd) if cwd is not None else None,
                execution_timeout=timeout,
                # One stream output per cell instead of one per write.
                coalesce_streams=True,
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as exc:
        outcome, error = "failed", f"{exc.ename}: {_ANSI.sub('', str(exc.evalue))}"
    except Exception as exc:
        kind = type(exc).__name__
        if kind == "DeadKernelError":
            outcome, error = "kernel-died", f"the kernel died: {exc}"
        elif kind in ("CellTimeoutError", "TimeoutError"):
            outcome, error = "timeout", f"a cell ran longer than {timeout} s"
        else:
            outcome, error = "error", f"{kind}: {exc}"
    duration = time.monotonic() - t0
    ended = datetime.now(UTC)

    secrets = known_secrets(merged_env) + known_secrets(_local_stack_env())
    failed_cell: str | None = None
    failure: tuple[str, ...] = ()
    summaries: list[Mapping[str, Any]] = []
    target: Mapping[str, Any] = {}
    redacted = 0
    nb: Any = None
    if running.exists():
        nb, redacted = redact(json.loads(running.read_text(encoding="utf-8")), secrets)
        failed_cell, cell_error, failure = _failure(nb)
        if outcome == "failed" and cell_error:
            error = cell_error
        summaries = _collect(nb, SUMMARY_MIME)
        targets = _collect(nb, TARGET_MIME)
        target = targets[0] if targets else {}
        if outcome == "ok":  # every cell ran: the summary's verdict is the run's
            outcome, error = _verdict(summaries)
            if error:
                failure = (error,)
        running.unlink()
    final = folder / f"{base}-{outcome}.ipynb"
    _write_notebook(
        final, nb or {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )  # an empty notebook when papermill failed before writing one (no kernel)
    if error is not None:
        error, n = redact(error, secrets)
        redacted += n

    result = RunResult(
        runbook=runbook.name,
        run_id=run_id,
        outcome=outcome,
        notebook=final,
        record=final.with_suffix(".json"),
        started_at=_iso(started),
        ended_at=_iso(ended),
        duration=duration,
        parameters=typed,
        error=error,
        failed_cell=failed_cell,
        failure=failure,
        summaries=tuple(summaries),
        target=target,
        secrets_redacted=redacted,
        dry_run=_dry_run(runbook, typed),
    )
    record, _ = redact(result.as_json(), secrets)
    result.record.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return result
