"""``hybridkit run``, ``hybridkit runbooks`` and ``hybridkit runs``: runbooks from a shell.

Exit codes of ``hybridkit run``: 0 the runbook ran to the end; 1 it failed (the
output notebook shows where and why); 2 bad usage (unknown runbook or parameter,
a value of the wrong type, a secret passed as a parameter) — nothing was run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from hybridkit.errors import InvalidInputError
from hybridkit.redact import known_secrets, redact_text

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a runbook headless (papermill) and save its output notebook",
        description="Run a runbook notebook headless with papermill. Parameters are converted to "
        "the types the runbook declares; secrets come only from the environment. The output "
        "notebook and a JSON record go to OUTPUT/<runbook>/.",
    )
    run.add_argument("runbook", metavar="RUNBOOK", help="a runbook name (see `hybridkit runbooks`)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter (repeatable); VALUE is converted to the declared type",
    )
    run.add_argument(
        "-f", "--parameters-file", metavar="FILE", help="a YAML file of name: value parameters"
    )
    run.add_argument("--output", metavar="DIR", default="runs", help="runs folder (default: runs)")
    run.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="limit per cell"
    )
    run.add_argument("--kernel", default=None, help="Jupyter kernel (default: the notebook's)")
    run.set_defaults(handler=_run)

    books = commands.add_parser(
        "runbooks", help="list the runbooks with their parameters, types, defaults and help"
    )
    books.add_argument("name", nargs="?", help="show only this runbook")
    books.add_argument("--json", action="store_true", help="print JSON")
    books.set_defaults(handler=_runbooks)

    runs = commands.add_parser("runs", help="list past runbook runs, newest first")
    runs.add_argument("runbook", nargs="?", help="only runs of this runbook")
    runs.add_argument("--output", metavar="DIR", default="runs", help="runs folder (default: runs)")
    runs.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    runs.add_argument("--json", action="store_true", help="print JSON")
    runs.set_defaults(handler=_runs)


def _run(args: argparse.Namespace) -> int:
    from hybridkit.run import find_runbook, load_parameters_file, record_run, run_runbook

    try:
        runbook = find_runbook(args.runbook)
        values: dict[str, Any] = {}
        if args.parameters_file:
            values.update(load_parameters_file(args.parameters_file))
        for name, value in args.parameter:
            values[name] = value
        print(f"running {runbook.name} ({runbook.path})", file=sys.stderr)
        result = run_runbook(
            runbook,
            values,
            output_dir=args.output,
            timeout=args.timeout,
            kernel_name=args.kernel,
            progress_bar=sys.stderr.isatty(),
        )
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    note = redact_text(record_run(result.as_json()), known_secrets(os.environ))[0]
    _add_to_record(result.record, {"ops_runs": note})
    for summary in result.summaries:
        print(f"\n{summary.get('title', 'summary')}: {'OK' if summary.get('ok') else 'FAILED'}")
        values_ = summary.get("values") or {}
        order = [k for k in summary.get("order") or [] if k in values_] or list(values_)
        width = max((len(str(k)) for k in order), default=0)
        for key in order:
            print(f"  {str(key).ljust(width)}  {values_[key]}")
    print(file=sys.stderr)
    if result.ok:
        print(
            f"ok: {runbook.name} ran in {result.duration:.1f} s (run {result.run_id})",
            file=sys.stderr,
        )
    else:
        where = f" at {result.failed_cell}" if result.failed_cell is not None else ""
        print(f"FAILED ({result.outcome}){where}: {result.error}", file=sys.stderr)
        print("the output notebook shows where and why:", file=sys.stderr)
    print(f"  notebook: {result.notebook}", file=sys.stderr)
    print(f"  record:   {result.record}", file=sys.stderr)
    print(f"  history:  {note}", file=sys.stderr)
    if result.secrets_redacted:
        print(
            f"warning: {result.secrets_redacted} secret value(s) were found in the output and "
            "redacted; the runbook should not print them",
            file=sys.stderr,
        )
    return 0 if result.ok else 1


def _add_to_record(path: Path, extra: dict[str, Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(extra)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _runbooks(args: argparse.Namespace) -> int:
    from hybridkit.run import find_runbook, list_runbooks

    books = [find_runbook(args.name)] if args.name else list_runbooks()
    if args.json:
        data = [
            {
                "name": b.name,
                "title": b.title,
                "path": str(b.path),
                "parameters": [vars(p) for p in b.parameters],
            }
            for b in books
        ]
        print(json.dumps(data, indent=2))
        return 0
    if not books:
        print("no runbooks found (set HYBRIDKIT_RUNBOOKS to their folder)", file=sys.stderr)
        return 1
    for book in books:
        print(f"{book.name} — {book.title}")
        rows = [(p.name, p.type, p.default, p.help) for p in book.parameters]
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
        for name, kind, default, help_ in rows:
            print(
                f"  {name.ljust(widths[0])}  {kind.ljust(widths[1])}  "
                f"{default.ljust(widths[2])}  {help_}".rstrip()
            )
        print()
    folder = books[0].path.parent
    print(f"run one with: hybridkit run RUNBOOK -p NAME VALUE ...  (runbooks in {folder})")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from hybridkit.run import list_runs

    records = list_runs(Path(args.output), runbook=args.runbook)[: max(0, args.limit)]
    if args.json:
        print(json.dumps([json.loads(r.path.read_text()) for r in records], indent=2))
        return 0
    if not records:
        print(f"no runs recorded in {args.output}/", file=sys.stderr)
        return 0
    header = ("started (UTC)", "runbook", "outcome", "duration", "run id", "notebook")
    rows = [
        (r.started_at, r.runbook, r.outcome, f"{r.duration:.1f} s", r.run_id, r.notebook)
        for r in records
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print(
            "  ".join(str(v).ljust(w) for v, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
        )
    return 0
