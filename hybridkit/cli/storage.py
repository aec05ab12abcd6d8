"""``hybridkit storage``: the storage manager from a shell, shaped like ``supabase storage``.

Remote paths are written ``ss:///bucket/path`` (as in the Supabase CLI); anything
else is a local path::

    hybridkit storage ls [-r] [ss:///bucket/prefix]
    hybridkit storage cp [-r] [-j JOBS] [--cache-control N] [--content-type T]
                         [--deadline SECONDS] [--bwlimit RATE] [--resumable | --standard]
                         SRC DST
    hybridkit storage mv [-r] ss:///bucket/a ss:///bucket/b
    hybridkit storage rm [-r] ss:///bucket/path ...
    hybridkit storage buckets list|create|update|empty|delete ...

Progress bars appear on a terminal and stay quiet when output is piped; a one-line
summary goes to stderr; the exit status is 1 when anything failed, 2 for bad input
(a bad bucket name, path or option: nothing was done). Ctrl-C during
``cp`` stops the transfers at their next block, prints what was done and exits
with 130 (a cancelled resumable upload resumes when the command is run again); a
second Ctrl-C abandons them at once. With ``--deadline`` the job ends by then:
files not done are named with their reason and the exit status is 1 (run the
command again to complete them; what landed is skipped, resumable uploads resume).
While the server is unreachable, transfers wait for it and a line says so.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from hybridkit.cli._common import add_command, add_yes, error_text, target_settings
from hybridkit.cli.sync import add_backup_parsers, add_sync_parser, run_backup, run_sync
from hybridkit.errors import CancelledError, ConfigError, HybridError, InvalidInputError
from hybridkit.progress import ProgressCallback, TqdmProgress
from hybridkit.storage import StorageManager, TransferReport
from hybridkit.storage.pace import parse_rate
from hybridkit.target import profile_settings

__all__ = ["add_parser", "run"]

SCHEME = "ss://"
INTERRUPTED = 130  # the shell's status for a process stopped by SIGINT
T = TypeVar("T")


@dataclass(frozen=True)
class Remote:
    """A parsed ``ss:///bucket/path`` or ``ss://<profile>/bucket/path``."""

    bucket: str
    path: str
    profile: str | None = None

    def __str__(self) -> str:
        return f"{SCHEME}{self.profile or ''}/{self.bucket}/{self.path}"


def parse_location(text: str) -> Remote | None:
    """Like :func:`parse_remote`, but the bucket may be left out (a whole project).

    Example:
        >>> parse_location("ss://prod/")
        Remote(bucket='', path='', profile='prod')
    """
    if not text.startswith(SCHEME):
        return None
    rest = text[len(SCHEME) :]
    profile, _, rest = rest.partition("/")
    bucket, _, path = rest.partition("/")
    return Remote(bucket, path, profile or None)


def parse_remote(text: str) -> Remote | None:
    """``ss:///bucket/a/b`` -> Remote (default project); ``ss://prod/bucket/a/b`` names
    the profile ``prod``; a local path -> None.

    Example:
        >>> parse_remote("ss:///photos/2026/cat.jpg")
        Remote(bucket='photos', path='2026/cat.jpg', profile=None)
        >>> parse_remote("./cat.jpg") is None
        True
    """
    remote = parse_location(text)
    if remote is not None and not remote.bucket:
        raise InvalidInputError(
            f"{text!r}: name a bucket, as in ss:///bucket/path (or ss://<profile>/bucket/path)"
        )
    return remote


def add_parser(commands: Any) -> None:
    """Register ``storage`` and its actions on the top-level subparsers."""
    parser = add_command(
        commands,
        "storage",
        "list, copy, move and remove objects; manage buckets",
        "Storage objects and buckets, addressed as ss:///bucket/path "
        "(like `supabase storage`). Uses SUPABASE_URL and a key from the environment.",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="the project of actions without an ss:// path (buckets ...; `hybridkit profiles`)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = actions.add_parser("ls", help="list buckets, or objects under ss:///bucket/prefix")
    ls.add_argument("path", nargs="?", default=None, help="ss:///bucket[/prefix]")
    ls.add_argument("-r", "--recursive", action="store_true", help="list every level")
    ls.add_argument("-l", "--long", action="store_true", help="show size and modification time")
    ls.set_defaults(handler=run)

    cp = actions.add_parser("cp", help="copy: local -> ss://, ss:// -> local, ss:// -> ss://")
    cp.add_argument("src")
    cp.add_argument("dst")
    cp.add_argument("-r", "--recursive", action="store_true", help="copy folders / prefixes")
    cp.add_argument("-j", "--jobs", type=int, default=4, help="parallel transfers (default 4)")
    cp.add_argument("--cache-control", default=None, help="seconds, e.g. 3600")
    cp.add_argument("--content-type", default=None, help="default: guessed from the name")
    cp.add_argument("--upsert", action="store_true", help="overwrite existing objects")
    cp.add_argument(
        "--bwlimit",
        default=None,
        metavar="RATE",
        help="cap the upload's bytes/s, as rclone's --bwlimit: 10M, 512k (a bare number is KiB/s)",
    )
    cp.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="end the job after this long: no new attempt starts, files not done are "
        "reported and the exit status is 1 (default: SUPABASE_JOB_DEADLINE, else none)",
    )
    kind = cp.add_mutually_exclusive_group()
    kind.add_argument(
        "--resumable",
        dest="resumable",
        action="store_const",
        const=True,
        default=None,
        help="upload every file with TUS (resumable), whatever its size",
    )
    kind.add_argument(
        "--standard",
        dest="resumable",
        action="store_const",
        const=False,
        help="start every upload as one request (a file over 1 MiB whose request "
        "fails goes on as resumable)",
    )
    cp.set_defaults(handler=run)

    mv = actions.add_parser("mv", help="move objects within or between buckets")
    mv.add_argument("src")
    mv.add_argument("dst")
    mv.add_argument("-r", "--recursive", action="store_true", help="move a whole prefix")
    mv.set_defaults(handler=run)

    rm = actions.add_parser("rm", help="remove objects")
    rm.add_argument("paths", nargs="+", metavar="ss:///bucket/path")
    rm.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="remove whole prefixes (asks first on a terminal; --yes in a script)",
    )
    rm.add_argument(
        "--dry-run", action="store_true", help="list what -r would remove, remove nothing"
    )
    add_yes(rm, help="remove prefixes without asking")
    rm.set_defaults(handler=run)

    add_sync_parser(actions).set_defaults(handler=run)
    for sub in add_backup_parsers(actions):
        sub.set_defaults(handler=run)

    buckets = actions.add_parser("buckets", help="list, create, update, empty, delete buckets")
    verbs = buckets.add_subparsers(dest="verb", metavar="VERB", required=True)
    verbs.add_parser("list", help="list buckets").set_defaults(handler=run)
    for verb in ("create", "update"):
        sub = verbs.add_parser(verb, help=f"{verb} a bucket")
        sub.add_argument("name")
        sub.add_argument("--public", action=argparse.BooleanOptionalAction, default=None)
        sub.add_argument("--file-size-limit", default=None, help="bytes or e.g. 50MB")
        sub.add_argument(
            "--allowed-mime-types", default=None, help="comma-separated, e.g. image/png,image/*"
        )
        sub.set_defaults(handler=run)
    empty = verbs.add_parser("empty", help="delete every object in a bucket")
    empty.add_argument("name")
    add_yes(empty)
    empty.set_defaults(handler=run)
    delete = verbs.add_parser("delete", help="delete a bucket")
    delete.add_argument("name")
    delete.add_argument("--force", action="store_true", help="empty it first")
    add_yes(delete)
    delete.set_defaults(handler=run)


def run(args: argparse.Namespace, *, manager: StorageManager | None = None) -> int:
    """Run one ``storage`` action; returns the exit status (2 for bad input, before any change)."""
    try:
        return _run(args, manager)
    except (InvalidInputError, ConfigError) as exc:
        # A bad name, path, option or profile is the caller's to fix: 2, as argparse
        # and `hybridkit run` exit for a bad parameter (1 stays for what failed).
        _say(error_text(exc))
        return 2


def _run(args: argparse.Namespace, manager: StorageManager | None) -> int:
    if args.action == "sync":
        return run_sync(args, parse=parse_location, cancellable=_cancellable, report=_report)
    if args.action in ("backup", "verify", "restore"):
        return run_backup(args, parse=parse_location, report=_report)
    with _manager(manager, _profile_of(args), getattr(args, "jobs", 4)) as storage:
        if args.action == "ls":
            return _ls(storage, args)
        if args.action == "cp":
            return _cp(storage, args)
        if args.action == "mv":
            return _mv(storage, args)
        if args.action == "rm":
            return _rm(storage, args)
        return _buckets(storage, args)


def _profile_of(args: argparse.Namespace) -> str | None:
    """The one profile the action's ss:// paths name (``None``: the default project)."""
    texts = [getattr(args, n, None) for n in ("path", "src", "dst")] + list(
        getattr(args, "paths", None) or ()
    )
    named = {r.profile for t in texts if t and (r := parse_location(t)) is not None}
    if len(named) > 1:
        raise InvalidInputError(
            "these paths name different projects: use `hybridkit storage sync` between projects"
        )
    return named.pop() if named else getattr(args, "profile", None)


@contextmanager
def _manager(
    given: StorageManager | None, profile: str | None = None, jobs: int = 4
) -> Iterator[StorageManager]:
    if given is not None:
        yield given
        return
    settings = target_settings() if profile is None else profile_settings(profile)
    # A folder job may grow to twice its jobs (see upload_folder): room for all of them.
    with StorageManager(settings, max_connections=max(16, 2 * jobs + 2)) as storage:
        yield storage


def _tty() -> bool:
    return sys.stderr.isatty()


def _bar(label: str) -> TqdmProgress | None:
    return TqdmProgress(label, file=sys.stderr) if _tty() else None


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _confirm(args: argparse.Namespace, what: str) -> bool:
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        _say(f"refusing to {what} without --yes (no terminal to ask on)")
        return False
    answer = input(f"{what}? Type the bucket name to confirm: ")
    return bool(answer.strip() == args.name)


# --------------------------------------------------------------------------- actions


def _ls(storage: StorageManager, args: argparse.Namespace) -> int:
    remote = parse_location(args.path) if args.path else None
    if args.path and remote is None:
        raise InvalidInputError(f"{args.path!r}: ls takes ss:///bucket[/prefix]")
    if remote is None or not remote.bucket:
        for bucket in storage.list_buckets():
            print(f"{bucket.id}/" + ("  (public)" if args.long and bucket.public else ""))
        return 0
    prefix = remote.path
    if prefix and not prefix.endswith("/") and not args.recursive:
        # `ls ss:///b/dir` lists the folder, as the Supabase CLI does.
        prefix += "/"
    for obj in storage.iter_objects(remote.bucket, prefix, recursive=args.recursive):
        name = obj.name if args.recursive else obj.name[len(prefix) :]
        if args.long and not obj.is_folder:
            stamp = obj.updated_at.strftime("%Y-%m-%d %H:%M") if obj.updated_at else "-"
            print(f"{obj.size:>12}  {stamp}  {name}")
        else:
            print(name)
    return 0


def _cancellable(
    work: Callable[[threading.Event], T], watch: Callable[[], None] | None = None
) -> T:
    """Run ``work(cancel)`` in a worker thread; Ctrl-C sets ``cancel`` and waits for it.

    The main thread only waits, on an event rather than ``Thread.join`` (a join cut
    by Ctrl-C can report a live thread as finished); the transfer stops at its next
    block and returns its report or raises CancelledError. A second Ctrl-C raises
    KeyboardInterrupt and abandons it.
    """
    cancel = threading.Event()
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(cancel)
        except BaseException as exc:  # handed to the main thread below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="hybridkit-cp", daemon=True).start()
    try:
        while not done.wait(0.2):
            if watch is not None:
                watch()
    except KeyboardInterrupt:
        cancel.set()
        _say("cancelling: stopping at the next block (Ctrl-C again to abandon)")
        while not done.wait(0.2):
            pass
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])


def _with_bar(
    label: str,
    work: Callable[[ProgressCallback | None, threading.Event], T],
    watch: Callable[[], None] | None = None,
) -> T:
    """Run ``work(progress, cancel)`` as :func:`_cancellable` does, behind a progress bar
    labelled ``label`` (on a terminal), closed whatever the outcome."""
    bar = _bar(label)
    try:
        return _cancellable(lambda cancel: work(bar, cancel), watch)
    finally:
        if bar:
            bar.close()


def _breaker_watch(storage: StorageManager) -> Callable[[], None]:
    """Say when the server becomes unreachable (and how many wait) and when it is back."""
    shown: dict[str, Any] = {"state": "closed", "at": 0.0}

    def watch() -> None:
        status = storage.breaker.status()
        now = time.monotonic()
        if status.state != "closed":
            if shown["state"] == "closed" or now - shown["at"] >= 10.0:
                _say(status.describe())
                shown["at"] = now
        elif shown["state"] != "closed":
            _say("server reachable again: resuming")
        shown["state"] = status.state

    return watch


def _deadline(args: argparse.Namespace) -> float | None:
    deadline: float | None = getattr(args, "deadline", None)
    if deadline is not None and deadline <= 0:
        raise InvalidInputError("--deadline must be a positive number of seconds")
    return deadline


def _report(report: TransferReport, verb: str) -> int:
    for failure in report.failed:
        landed = ""
        if failure.landed and "on the server" not in failure.reason:
            landed = f" ({failure.landed} of {failure.size} bytes on the server)"
        _say(f"failed: {failure.source} -> {failure.target}: {failure.reason}{landed}")
    _say(f"{verb}: {report.summary()}")
    if report.failed:
        return 1
    return INTERRUPTED if report.cancelled else 0


def _cp(storage: StorageManager, args: argparse.Namespace) -> int:
    src, dst = parse_remote(args.src), parse_remote(args.dst)
    if args.jobs < 1:
        raise InvalidInputError("--jobs must be at least 1")
    if src is None and dst is None:
        raise InvalidInputError("cp needs at least one ss:///bucket/path (use cp for local files)")
    if src is None and dst is not None:
        return _upload(storage, args, Path(args.src), dst)
    if src is not None and dst is None:
        return _download(storage, args, src, Path(args.dst))
    assert src is not None and dst is not None
    return _copy_remote(storage, args, src, dst, move=False)


def _upload(storage: StorageManager, args: argparse.Namespace, local: Path, dst: Remote) -> int:
    # The cp flags a file and a folder upload share.
    shared: dict[str, Any] = {
        "upsert": args.upsert,
        "cache_control": args.cache_control,
        "deadline": _deadline(args),
        "resumable": getattr(args, "resumable", None),
        "bwlimit": parse_rate(args.bwlimit) if getattr(args, "bwlimit", None) else None,
    }
    if local.is_dir():
        if not args.recursive:
            raise InvalidInputError(f"{local} is a folder: use cp -r")
        report = _with_bar(
            str(local),
            lambda progress, cancel: storage.upload_folder(
                local,
                dst.bucket,
                dst.path,
                jobs=args.jobs,
                progress=progress,
                cancel=cancel,
                **shared,
            ),
            _breaker_watch(storage),
        )
        return _report(report, "uploaded")
    key = dst.path
    if not key or key.endswith("/"):
        key += local.name
    try:
        result = _with_bar(
            local.name,
            lambda progress, cancel: storage.upload(
                local,
                dst.bucket,
                key,
                content_type=args.content_type,
                progress=progress,
                cancel=cancel,
                **shared,
            ),
            _breaker_watch(storage),
        )
    except CancelledError:
        _say(
            f"cancelled: {local} -> {SCHEME}/{dst.bucket}/{key} was not stored "
            "(a resumable upload resumes when this command is run again)"
        )
        return INTERRUPTED
    resumed = f", resumed at {_human(result.resumed_from)}" if result.resumed_from else ""
    _say(
        f"uploaded {local} -> {SCHEME}/{dst.bucket}/{key} ({_human(result.size)}, "
        f"{result.method}{resumed}, {result.retries} retries, {result.duration:.1f}s)"
    )
    return 0


def _download(storage: StorageManager, args: argparse.Namespace, src: Remote, local: Path) -> int:
    if args.recursive:
        prefix = src.path if not src.path or src.path.endswith("/") else src.path + "/"
        try:
            report = _with_bar(
                str(src),
                lambda progress, cancel: storage.download_prefix(
                    src.bucket,
                    prefix,
                    local,
                    jobs=args.jobs,
                    progress=progress,
                    cancel=cancel,
                    deadline=_deadline(args),
                ),
                _breaker_watch(storage),
            )
        except CancelledError:
            _say(f"cancelled: {src} before any file was downloaded")
            return INTERRUPTED
        return _report(report, "downloaded")
    if not src.path:
        raise InvalidInputError(f"{src}: name an object, or use cp -r for a whole bucket")
    try:
        result = _with_bar(
            src.path.rsplit("/", 1)[-1],
            lambda progress, cancel: storage.download(
                src.bucket, src.path, local, progress=progress, cancel=cancel
            ),
        )
    except CancelledError:
        _say(f"cancelled: {src} was not downloaded (running this again resumes it)")
        return INTERRUPTED
    _say(f"downloaded {src} -> {result.path} ({_human(result.size)}, {result.retries} retries)")
    return 0


def _pairs(
    storage: StorageManager, src: Remote, dst: Remote, recursive: bool
) -> list[tuple[str, str]]:
    if not recursive:
        target = dst.path
        if not target or target.endswith("/"):
            target += src.path.rsplit("/", 1)[-1]
        return [(src.path, target)]
    prefix = src.path if not src.path or src.path.endswith("/") else src.path + "/"
    base = dst.path if not dst.path or dst.path.endswith("/") else dst.path + "/"
    return [
        (o.name, base + o.name[len(prefix) :])
        for o in storage.iter_objects(src.bucket, prefix)
        if not o.is_folder
    ]


def _copy_remote(
    storage: StorageManager, args: argparse.Namespace, src: Remote, dst: Remote, *, move: bool
) -> int:
    pairs = _pairs(storage, src, dst, args.recursive)
    failures = 0
    for source, target in pairs:
        try:
            if move:
                storage.move(src.bucket, source, target, dest_bucket=dst.bucket)
            else:
                storage.copy(src.bucket, source, target, dest_bucket=dst.bucket, upsert=args.upsert)
        except HybridError as error:
            failures += 1
            _say(f"failed: {SCHEME}/{src.bucket}/{source}: {error}")
    verb = "moved" if move else "copied"
    _say(f"{verb} {len(pairs) - failures} object(s), {failures} failed")
    return 1 if failures else 0


def _mv(storage: StorageManager, args: argparse.Namespace) -> int:
    src, dst = parse_remote(args.src), parse_remote(args.dst)
    if src is None or dst is None:
        raise InvalidInputError("mv works on ss:///bucket/path on both sides")
    args.upsert = False
    return _copy_remote(storage, args, src, dst, move=True)


def _rm(storage: StorageManager, args: argparse.Namespace) -> int:
    remotes = []
    for text in args.paths:
        remote = parse_remote(text)
        if remote is None:
            raise InvalidInputError(f"{text!r}: rm takes ss:///bucket/path")
        remotes.append(remote)
    if args.dry_run and not args.recursive:
        raise InvalidInputError("--dry-run goes with rm -r", hint="add -r, or drop --dry-run")
    if args.recursive:
        return _rm_prefixes(storage, args, remotes)
    removed = 0
    missing = 0
    for remote in remotes:
        keys = storage.remove(remote.bucket, [remote.path])
        if not keys:
            missing += 1
            _say(f"not found: {remote}")
        removed += len(keys)
    _say(f"removed {removed} object(s)")
    return 1 if missing else 0


def _rm_prefixes(storage: StorageManager, args: argparse.Namespace, remotes: list[Any]) -> int:
    """``rm -r``: every object under each prefix (and the object named by the path
    itself), listed first; a dry run prints them, otherwise a terminal is asked and a
    script must say --yes, as ``buckets empty`` does."""
    doomed: list[tuple[str, list[str]]] = []
    for remote in remotes:
        path = remote.path
        prefix = path if not path or path.endswith("/") else path + "/"
        keys = [o.name for o in storage.iter_objects(remote.bucket, prefix) if not o.is_folder]
        if path and not path.endswith("/") and storage.exists(remote.bucket, path):
            keys.append(path)
        doomed.append((remote.bucket, keys))
    count = sum(len(keys) for _, keys in doomed)
    if args.dry_run:
        for bucket, keys in doomed:
            for key in keys:
                print(f"would remove ss:///{bucket}/{key}")
        _say(f"dry run: {count} object(s) would be removed; nothing was changed")
        return 0
    if count and not args.yes:
        what = f"remove {count} object(s) under {', '.join(args.paths)}"
        if not sys.stdin.isatty():
            _say(
                f"refusing to {what} without --yes (no terminal to ask on); "
                "see them first with --dry-run. Nothing was changed."
            )
            return 2
        if input(f"{what}? [y/N] ").strip().lower() not in ("y", "yes"):
            _say("nothing was changed")
            return 1
    removed = sum(len(storage.remove(bucket, keys)) for bucket, keys in doomed if keys)
    _say(f"removed {removed} object(s)")
    return 0


def _buckets(storage: StorageManager, args: argparse.Namespace) -> int:
    verb = args.verb
    if verb == "list":
        for bucket in storage.list_buckets():
            shown_limit = bucket.file_size_limit if bucket.file_size_limit is not None else "-"
            shown_mimes = ",".join(bucket.allowed_mime_types or ()) or "-"
            visibility = "public" if bucket.public else "private"
            print(f"{bucket.id}\t{visibility}\t{shown_limit}\t{shown_mimes}")
        return 0
    name = args.name
    if verb in ("create", "update"):
        mimes = (
            [m.strip() for m in args.allowed_mime_types.split(",") if m.strip()]
            if args.allowed_mime_types is not None
            else None
        )
        limit: Any = args.file_size_limit
        if isinstance(limit, str) and limit.isdigit():
            limit = int(limit)
        if verb == "create":
            storage.create_bucket(
                name, public=bool(args.public), file_size_limit=limit, allowed_mime_types=mimes
            )
            _say(f"created bucket {name}")
        else:
            options: dict[str, Any] = {}
            if args.public is not None:
                options["public"] = args.public
            if limit is not None:
                options["file_size_limit"] = limit
            if mimes is not None:
                options["allowed_mime_types"] = mimes
            storage.update_bucket(name, **options)
            _say(f"updated bucket {name}")
        return 0
    if verb == "empty":
        if not _confirm(args, f"empty bucket {name}"):
            return 1
        storage.empty_bucket(name)
        _say(f"emptied bucket {name}")
        return 0
    if not _confirm(args, f"delete bucket {name}"):
        return 1
    storage.delete_bucket(name, force=args.force)
    _say(f"deleted bucket {name}")
    return 0
