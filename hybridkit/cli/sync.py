"""``hybridkit storage sync SRC DEST``: one project's storage into another's, or a folder.

Each side is a folder or an ``ss://`` path: ``ss://<profile>/`` (a whole project),
``ss://<profile>/bucket`` or ``ss://<profile>/bucket/prefix``; ``ss:///...`` is the
default project. Exit status: 0 done, 1 something failed (each named on stderr;
run it again to continue), 130 interrupted — as ``storage cp``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from hybridkit.errors import InvalidInputError
from hybridkit.progress import ProgressCallback, TqdmProgress
from hybridkit.storage import StorageManager, TransferReport
from hybridkit.storage.sync import Remote, SyncReport, sync
from hybridkit.target import profile_settings

__all__ = ["add_backup_parsers", "add_sync_parser", "run_backup", "run_sync"]


def add_sync_parser(actions: Any) -> argparse.ArgumentParser:
    """Register ``storage sync`` on the storage actions; returns its parser."""
    parser: argparse.ArgumentParser = actions.add_parser(
        "sync",
        help="make DEST hold what SRC holds (project to project, folder <-> project)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("src", help="a folder, or ss://<profile>/[bucket[/prefix]]")
    parser.add_argument("dst", help="a folder, or ss://<profile>/[bucket[/prefix]]")
    parser.add_argument("--delete", action="store_true", help="remove what SRC does not hold")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("-j", "--jobs", type=int, default=4, help="objects at once (default 4)")
    parser.add_argument(
        "--with-policies",
        action="store_true",
        help="also copy the RLS policies on storage.objects/buckets (both profiles need DB_URL)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="end the job after this long; what is not done is named (exit 1; run again)",
    )
    return parser


def add_backup_parsers(actions: Any) -> list[argparse.ArgumentParser]:
    """Register ``storage backup``, ``verify`` and ``restore``; returns their parsers."""
    bak: argparse.ArgumentParser = actions.add_parser(
        "backup", help="back up a project (or a bucket) into a folder, incrementally"
    )
    bak.add_argument("src", help="ss://<profile>/ or ss://<profile>/bucket")
    bak.add_argument("dir", type=Path)
    bak.add_argument("-j", "--jobs", type=int, default=4)
    ver: argparse.ArgumentParser = actions.add_parser(
        "verify", help="re-hash a backup against its manifest (exit 1 naming what differs)"
    )
    ver.add_argument("dir", type=Path)
    ver.add_argument("--against", default=None, help="also compare with ss://<profile>/[bucket]")
    ver.add_argument(
        "--deep", action="store_true", help="with --against, also compare user metadata"
    )
    rst: argparse.ArgumentParser = actions.add_parser(
        "restore", help="put a backup back (buckets included), skipping what is identical"
    )
    rst.add_argument("dir", type=Path)
    rst.add_argument("dst", help="ss://<profile>/ or ss://<profile>/bucket")
    rst.add_argument("-j", "--jobs", type=int, default=4)
    return [bak, ver, rst]


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback | None]:
    """One bar for the whole job on a terminal (as ``storage cp``'s); nothing when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with TqdmProgress(label, file=sys.stderr) as bar:
        yield bar


def run_backup(
    args: argparse.Namespace,
    *,
    parse: Callable[[str], Any],
    report: Callable[[TransferReport, str], int],
) -> int:
    """Run ``storage backup``, ``verify`` or ``restore``; returns the exit status."""
    from hybridkit.storage.backup import backup, restore, verify_backup

    with ExitStack() as stack:
        if args.action == "verify":
            against = _side(args.against, parse, stack) if args.against else None
            if isinstance(against, Path):
                raise InvalidInputError("--against takes an ss:// path")
            check = verify_backup(args.dir, against=against, deep=args.deep)
            for problem in check.problems:
                print(problem)
            _say(
                f"verify: {check.checked} object(s) in the manifest, {len(check.problems)} "
                f"problem(s); taken at {check.taken_at or 'unknown'}"
            )
            return 1 if check.problems else 0
        text = args.src if args.action == "backup" else args.dst
        side = _side(text, parse, stack)
        if isinstance(side, Path):
            raise InvalidInputError(f"{text!r}: {args.action} takes an ss:// path")
        with _progress(args.action) as bar:
            if args.action == "backup":
                done = backup(side, args.dir, jobs=args.jobs, progress=bar)
            else:
                done = restore(args.dir, side, jobs=args.jobs, progress=bar)
        return report(done, "backed up" if args.action == "backup" else "restored")


def _say(text: str) -> None:
    print(text, file=sys.stderr)


class _Location(Protocol):
    bucket: str
    path: str
    profile: str | None


def _side(text: str, parse: Callable[[str], _Location | None], stack: ExitStack) -> Remote | Path:
    remote = parse(text)
    if remote is None:
        return Path(text)
    settings = profile_settings(remote.profile)
    storage = stack.enter_context(StorageManager(settings))
    return Remote(storage, remote.bucket or None, remote.path, f"ss://{remote.profile or ''}")


def run_sync(
    args: argparse.Namespace,
    *,
    parse: Callable[[str], Any],
    cancellable: Callable[..., Any],
    report: Callable[[TransferReport, str], int],
) -> int:
    """Run ``storage sync``; returns the exit status.

    ``storage``'s path parser, its Ctrl-C wrapper and its report printer are passed in,
    so both commands speak alike without importing each other.
    """
    if args.jobs < 1:
        raise InvalidInputError("--jobs must be at least 1")
    if args.deadline is not None and args.deadline <= 0:
        raise InvalidInputError("--deadline must be a positive number of seconds")
    with ExitStack() as stack:
        src, dst = _side(args.src, parse, stack), _side(args.dst, parse, stack)
        bar = stack.enter_context(_progress("sync")) if not args.dry_run else None
        outcome: SyncReport = cancellable(
            lambda cancel: sync(
                src,
                dst,
                delete=args.delete,
                dry_run=args.dry_run,
                jobs=args.jobs,
                deadline=args.deadline,
                cancel=cancel,
                progress=bar,
            )
        )
    if getattr(args, "with_policies", False):
        _policies(src, dst, dry_run=args.dry_run)
    if args.dry_run:
        for step in outcome.steps:
            if step.action == "skip":
                continue  # counted in the summary
            arrow = f"{step.source} -> " if step.source else ""
            why = f" ({step.reason})" if step.reason else ""
            print(f"{step.action}\t{arrow}{step.target}{why}")
        _say(outcome.summary())
        return 0
    for name in outcome.buckets_created:
        _say(f"created bucket {name}")
    for key in outcome.deleted:
        _say(f"deleted {key}")
    status = report(outcome.transfer, "synced")
    _say(f"sync: {len(outcome.deleted)} deleted, {len(outcome.buckets_created)} bucket(s) created")
    return status


def _policies(src: Remote | Path, dst: Remote | Path, *, dry_run: bool) -> None:
    """``--with-policies``: print the SQL (dry run) or apply it on the destination."""
    from hybridkit.database import Database
    from hybridkit.storage.policies import apply_policies, plan_policies

    if not isinstance(src, Remote) or not isinstance(dst, Remote):
        raise InvalidInputError("--with-policies copies between two projects (ss:// on both sides)")
    for side in (src, dst):
        if side.storage.settings.db_url is None:
            raise InvalidInputError(
                f"--with-policies needs a database URL for {side.label or 'ss://'}: set "
                "HYBRIDKIT_PROFILE_<NAME>_DB_URL (or db_url_env in the profiles file)"
            )
    target = Database(dst.storage.settings)
    plan = plan_policies(Database(src.storage.settings), target)
    if dry_run:
        for statement in plan.statements:
            print(statement + ";")
    else:
        apply_policies(plan, target)
    _say(plan.summary())
