"""``hybridkit run``, ``hybridkit runbooks`` and ``hybridkit runs``: runbooks from a shell.

Exit codes of ``hybridkit run``: 0 the runbook ran to the end; 1 it failed (the
output notebook shows where and why); 2 bad usage (unknown runbook or parameter,
a value of the wrong type, a secret passed as a parameter) — nothing was run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from hybridkit._tables import text_table
from hybridkit.cli._common import add_yes, confirm, redacted
from hybridkit.errors import InvalidInputError

__all__ = ["add_arguments", "add_listings"]


def add_arguments(run: Any) -> None:
    """The options of ``hybridkit run`` (registered in :mod:`hybridkit.cli`)."""
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
    run.add_argument(
        "--notify",
        metavar="URL",
        help="post a short JSON summary (Slack-compatible `text`) to this webhook",
    )
    run.add_argument(
        "--notify-on",
        choices=("failure", "always"),
        default="failure",
        help="when to post to --notify (default: failure)",
    )
    run.set_defaults(handler=_run)


def add_listings(commands: Any) -> None:
    """Register ``runbooks`` and ``runs`` on the top-level subparsers."""
    books = commands.add_parser(
        "runbooks", help="list the runbooks with their parameters, types, defaults and help"
    )
    books.add_argument("name", nargs="?", help="show only this runbook")
    books.add_argument("--json", action="store_true", help="print JSON")
    books.add_argument(
        "--copy",
        metavar="DIR",
        help="put editable copies of the shipped runbooks in DIR (e.g. notebooks, for "
        "JupyterLab; `hybridkit run` prefers ./notebooks)",
    )
    books.add_argument(
        "--overwrite", action="store_true", help="with --copy: replace runbooks already in DIR"
    )
    books.set_defaults(handler=_runbooks)

    runs = commands.add_parser(
        "runs",
        help="list past runbook runs, newest first; `runs prune` removes old ones",
        usage="hybridkit runs [RUNBOOK] [-n N] [--json]\n"
        "       hybridkit runs prune [RUNBOOK] (--keep N | --older-than DAYS) [--dry-run] [--yes]",
    )
    runs.add_argument(
        "words", nargs="*", metavar="RUNBOOK", help="only runs of this runbook; or: prune [RUNBOOK]"
    )
    runs.add_argument("--output", metavar="DIR", default="runs", help="runs folder (default: runs)")
    runs.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    runs.add_argument("--json", action="store_true", help="print JSON")
    prune = runs.add_argument_group("prune")
    prune.add_argument(
        "--keep", type=_count, metavar="N", help="keep the N newest runs per runbook"
    )
    prune.add_argument(
        "--older-than", type=_days, metavar="DAYS", help="remove runs older than DAYS days"
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed")
    add_yes(prune)
    runs.set_defaults(handler=_runs)


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"--keep must be a whole number of runs, got {text!r}")
    return int(text)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not math.isfinite(days) or days < 0:
        raise argparse.ArgumentTypeError(
            f"--older-than must be a number of days >= 0, got {text!r}"
        )
    return days


def _run(args: argparse.Namespace) -> int:
    from hybridkit.run import find_runbook, load_parameters_file, record_run, run_runbook

    try:
        webhook = None
        if args.notify:
            from hybridkit.run._notify import check_webhook

            webhook = check_webhook(args.notify)
        runbook = find_runbook(args.runbook)
        values: dict[str, Any] = {}
        if args.parameters_file:
            values.update(load_parameters_file(args.parameters_file))
        for name, value in args.parameter:
            values[name] = value
        result = run_runbook(
            runbook,
            values,
            output_dir=args.output,
            timeout=args.timeout,
            kernel_name=args.kernel,
            live_progress=sys.stderr.isatty(),
            on_start=lambda: print(f"running {runbook.name} ({runbook.path})", file=sys.stderr),
        )
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    note = redacted(record_run(result.as_json()))
    _add_to_record(result.record, {"ops_runs": note})
    for summary in result.summaries:
        verdict = summary.get("verdict") or ("ok" if summary.get("ok") else "failed")
        print(f"\n{summary.get('title', 'summary')}: {verdict.upper()}")
        values_ = summary.get("values") or {}
        order = [k for k in summary.get("order") or [] if k in values_] or list(values_)
        width = max((len(str(k)) for k in order), default=0)
        for key in order:
            print(f"  {str(key).ljust(width)}  {values_[key]}")
    print(file=sys.stderr)
    if result.ok:
        print(
            f"{result.outcome}: {runbook.name} ran in {result.duration:.1f} s "
            f"(run {result.run_id})",
            file=sys.stderr,
        )
    else:
        lines = list(result.failure) or [result.error or result.outcome]
        print(f"FAILED: {runbook.name}: {lines[0]}", file=sys.stderr)
        for line in lines[1:]:
            print(f"  {line.strip()}", file=sys.stderr)
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
    if webhook is not None:
        from hybridkit.run._notify import notify, should_notify

        if should_notify(result.ok, args.notify_on):
            record = json.loads(result.record.read_text(encoding="utf-8"))  # already redacted
            print(f"  notify:   {notify(webhook, record)}", file=sys.stderr)
    return 0 if result.ok else 1


def _add_to_record(path: Path, extra: dict[str, Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(extra)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _runbooks(args: argparse.Namespace) -> int:
    from hybridkit.run import copy_runbooks, find_runbook, list_runbooks

    if args.copy:
        try:
            copied = copy_runbooks(args.copy, overwrite=args.overwrite)
        except InvalidInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for path in copied:
            print(path)
        print(
            f"copied {len(copied)} runbook(s) to {args.copy}; open them with `jupyter lab "
            f"{args.copy}`",
            file=sys.stderr,
        )
        return 0
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

    words = list(args.words)
    if words[:1] == ["prune"]:
        return _prune(args, words[1:])
    if len(words) > 1:
        print(f"error: one runbook at most, got {' '.join(words)}", file=sys.stderr)
        return 2
    if args.keep is not None or args.older_than is not None or args.dry_run or args.yes:
        print(
            "error: --keep, --older-than, --dry-run and --yes go with `runs prune`", file=sys.stderr
        )
        return 2
    runbook = words[0] if words else None
    records = list_runs(Path(args.output), runbook=runbook)[: max(0, args.limit)]
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
    print("\n".join(text_table(header, [[str(v) for v in row] for row in rows], rule=False)))
    return 0


def _prune(args: argparse.Namespace, words: list[str]) -> int:
    from hybridkit.run import prune_runs

    if len(words) > 1:
        print(f"error: one runbook at most, got {' '.join(words)}", file=sys.stderr)
        return 2
    runbook = words[0] if words else None
    rules = dict(keep=args.keep, older_than_days=args.older_than, runbook=runbook)
    try:
        planned = prune_runs(args.output, dry_run=True, **rules)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for record in planned:
        print(f"{'would remove' if args.dry_run else 'remove'}  {record.path.with_suffix('')}")
    if not planned:
        print(f"nothing to prune in {args.output}/", file=sys.stderr)
        return 0
    if args.dry_run:
        print(f"dry run: {len(planned)} run(s) would be removed; nothing changed", file=sys.stderr)
        return 0
    refusal = InvalidInputError(
        f"{len(planned)} run(s) would be removed; pass --yes to remove them "
        "(or --dry-run to only list them)"
    )
    question = f"Remove {len(planned)} run(s) and their notebooks?"
    try:
        confirmed = args.yes or confirm(question, refusal)
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not confirmed:
        print("prune cancelled; nothing changed", file=sys.stderr)
        return 1
    removed = prune_runs(args.output, **rules)  # type: ignore[arg-type]
    print(f"removed {len(removed)} run(s) from {args.output}/", file=sys.stderr)
    return 0
