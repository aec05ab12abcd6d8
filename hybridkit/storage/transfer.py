"""Byte-level helpers for transfers: sources, counting readers, hashes, globs, names.

Private to hybridkit; :mod:`hybridkit.storage` is the public face.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mimetypes
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol
from urllib.parse import quote

from hybridkit.errors import CancelledError, InvalidInputError

READ_BLOCK = 1024 * 1024  # large blocks: per-block Python overhead caps throughput
FINGERPRINT_BLOCK = 64 * 1024

# storage-api.md §5: what the Storage API accepts in bucket names and object keys.
_BUCKET_RE = re.compile(r"^[A-Za-z0-9_!.*'() &$=@;:+,?-]{1,100}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_/!.*'() &$=@;:+,?-]+$")
_MD5_ETAG = re.compile(r'^(?:W/)?"?([0-9a-fA-F]{32})"?$')
# Characters kept literal in a URL path segment (as yarl does for storage3).
_SEGMENT_SAFE = "!$&'()*+,;=:@"


def check_bucket(bucket: str) -> str:
    """Return ``bucket`` or raise InvalidInputError before any request is sent."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket) or bucket != bucket.strip():
        raise InvalidInputError(
            f"invalid bucket name {bucket!r}: use 1-100 characters from letters, digits and "
            "_!.*'() &$=@;:+,?- without leading or trailing spaces"
        )
    if bucket in (".", ".."):
        # A URL path segment of its own: normalised away, it would reach another bucket.
        raise InvalidInputError(f"invalid bucket name {bucket!r}: '.' and '..' are not names")
    return bucket


def check_key(key: str) -> str:
    """Return ``key`` or raise InvalidInputError before any request is sent."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError("an object key must be a non-empty string")
    if not _KEY_RE.match(key):
        bad = sorted({c for c in key if not _KEY_RE.match(c)})
        raise InvalidInputError(
            f"invalid object key {key!r}: the Storage API refuses the character(s) "
            f"{''.join(bad)!r} (allowed: letters, digits and _/!.*'() &$=@;:+,?-)"
        )
    segments = key.split("/")
    if "." in segments or ".." in segments:
        raise InvalidInputError(
            f"invalid object key {key!r}: '.' and '..' segments are not allowed"
        )
    if len(key.encode()) > 1024:
        raise InvalidInputError(f"invalid object key: longer than 1024 bytes ({key[:40]!r}...)")
    return key


def raise_if_cancelled(cancel: threading.Event | None, context: str) -> None:
    """Raise CancelledError when the caller's ``cancel`` event is set."""
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"{context}: cancelled")


def url_path(*segments: str) -> str:
    """Join path segments, percent-encoding each (``/`` inside a key splits it)."""
    parts: list[str] = []
    for segment in segments:
        parts.extend(quote(p, safe=_SEGMENT_SAFE) for p in segment.split("/"))
    return "/".join(parts)


def md5_from_etag(etag: str | None) -> str | None:
    """The MD5 hex digest an ETag carries, or ``None`` (multipart or mtime ETags)."""
    if not etag:
        return None
    match = _MD5_ETAG.match(etag.strip())
    return match.group(1).lower() if match else None


def guess_content_type(name: str) -> str:
    """A content type from the file name; ``application/octet-stream`` when unknown."""
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if encoding == "gzip":
        return "application/gzip"
    if encoding is not None:
        return "application/octet-stream"
    return guessed or "application/octet-stream"


def cache_control_seconds(value: str | int | None) -> str:
    """storage3's ``cacheControl`` field wants seconds; accept ``max-age=N`` too."""
    if value is None:
        return "3600"
    text = str(value).strip()
    match = re.fullmatch(r"(?:max-age=)?(\d+)", text)
    if not match:
        raise InvalidInputError(
            f"cache_control must be a number of seconds or 'max-age=N', got {value!r}"
        )
    return match.group(1)


# --------------------------------------------------------------------------- jobs


class Job:
    """The stop signal of one job (a folder, or one upload).

    The caller's cancel, the job's deadline or an unreachable server, whichever
    comes first; ``why`` says which it was.
    """

    def __init__(
        self,
        cancel: threading.Event | None,
        deadline: float | None,
        grace: float,
    ) -> None:
        self.stop = threading.Event()
        self.why = ""
        self.deadline = deadline
        self._cancel = cancel
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._watcher: threading.Thread | None = None
        if deadline is not None:
            # Stop early enough that attempts in flight (each bounded by the idle
            # timeout) are wound up by the deadline itself.
            self._timer = threading.Timer(max(0.0, deadline - grace), self.end, ("deadline",))
            self._timer.daemon = True
            self._timer.start()
        if cancel is not None:
            if cancel.is_set():
                self.end("cancel")
            else:
                self._watcher = threading.Thread(
                    target=self._watch, name="hybridkit-job", daemon=True
                )
                self._watcher.start()

    def _watch(self) -> None:
        assert self._cancel is not None
        while not self._closed.is_set() and not self.stop.is_set():
            if self._cancel.wait(0.1):
                self.end("cancel")
                return

    def end(self, why: str) -> None:
        """Stop the job (the first reason given is the one reported)."""
        with self._lock:
            if not self.why:
                self.why = why
        self.stop.set()

    def close(self) -> None:
        """The job is over: stop the timer and the watcher."""
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.join(timeout=1)

    @property
    def cancelled_by_caller(self) -> bool:
        return self.why == "cancel"

    def reason(self, started: bool, landed: int, size: int) -> str:
        if self.why == "deadline":
            what = f"{landed} of {size} bytes on the server" if started else "not started"
            return f"the job deadline ({self.deadline:g}s) passed: {what}"
        return f"the job stopped: {self.why or 'ended'}"


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    """An open, seekable byte range to upload: ``size`` bytes from ``base`` in ``fh``."""

    fh: BinaryIO
    base: int
    size: int
    name: str
    path: Path | None
    mtime_ns: int

    def read_range(
        self, offset: int, length: int, cancel: threading.Event | None = None
    ) -> Iterator[bytes]:
        """Yield the bytes [offset, offset+length) in blocks, without holding them all.

        Once ``cancel`` is set, the next block is not read: CancelledError is raised
        instead (inside a request body, that abandons the request).
        """
        self.fh.seek(self.base + offset)
        left = length
        while left > 0:
            raise_if_cancelled(cancel, self.name)
            block = self.fh.read(min(READ_BLOCK, left))
            if not block:
                raise InvalidInputError(
                    f"{self.name}: the file shrank while it was being uploaded "
                    f"({left} bytes missing at offset {offset + length - left})"
                )
            left -= len(block)
            yield block

    def md5(self) -> str:
        """MD5 hex digest of the whole range (read from disk, block by block)."""
        digest = hashlib.md5(usedforsecurity=False)
        for block in self.read_range(0, self.size):
            digest.update(block)
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """A cheap content fingerprint: size plus hashes of the first and last 64 KiB."""
        digest = hashlib.sha256(str(self.size).encode())
        for block in self.read_range(0, min(FINGERPRINT_BLOCK, self.size)):
            digest.update(block)
        tail = max(0, self.size - FINGERPRINT_BLOCK)
        for block in self.read_range(tail, self.size - tail):
            digest.update(block)
        return digest.hexdigest()


@contextlib.contextmanager
def open_source(
    source: str | os.PathLike[str] | IO[bytes], name: str | None = None
) -> Iterator[Source]:
    """Open a path, or adopt a binary file object, as a seekable :class:`Source`.

    A file object is read from its current position to its end; the caller keeps
    ownership (it is not closed). A non-seekable stream is spooled to a temporary
    file first, since a retry or a resume must be able to read bytes again.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(
                f"{path}: not a file"
                + ("" if path.exists() else f" (nothing at that path, seen from {Path.cwd()})"),
                hint="give the path of an existing file, or of a folder with -r",
            )
        with path.open("rb") as fh:
            stat = os.fstat(fh.fileno())
            yield Source(fh, 0, stat.st_size, name or path.name, path, stat.st_mtime_ns)
        return
    if not hasattr(source, "read"):
        raise InvalidInputError(
            f"cannot upload a {type(source).__name__}: pass a path or a binary file object"
        )
    label = name or str(getattr(source, "name", "") or "stream")
    seekable = False
    with contextlib.suppress(AttributeError, OSError, ValueError):
        seekable = bool(source.seekable())
    if seekable:
        base = source.tell()
        end = source.seek(0, os.SEEK_END)
        source.seek(base)
        mtime_ns = 0
        with contextlib.suppress(AttributeError, OSError, ValueError, io.UnsupportedOperation):
            mtime_ns = os.fstat(source.fileno()).st_mtime_ns
        yield Source(source, base, end - base, os.path.basename(label), None, mtime_ns)  # type: ignore[arg-type]
        return
    with tempfile.TemporaryFile(prefix="hybridkit-spool-") as spool:
        shutil.copyfileobj(source, spool, READ_BLOCK)
        size = spool.tell()
        spool.seek(0)
        yield Source(spool, 0, size, os.path.basename(label), None, 0)  # type: ignore[arg-type]


class CountingReader(io.RawIOBase):
    """A raw reader over a :class:`Source` that reports bytes as they are read.

    Wrapped in ``io.BufferedReader`` it passes storage3's type check, and httpx
    streams it in 64 KiB reads. httpx seeks to 0 before each send, so a retry
    re-reads from the start; the count goes back with it. Seeking forward (httpx
    peeks at the length with ``seek(0, 2)``) is not counted as progress. Once
    ``cancel`` is set, a read raises CancelledError (abandoning the request).
    """

    def __init__(
        self,
        source: Source,
        on_bytes: Callable[[int], None],
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self._source = source
        self._on_bytes = on_bytes
        self._cancel = cancel
        self._pos = 0
        self._reported = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._source.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        self._pos = max(0, min(pos, self._source.size))
        if self._pos < self._reported:
            self._on_bytes(self._pos - self._reported)
            self._reported = self._pos
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._source.size - self._pos)
        if want <= 0:
            return 0
        raise_if_cancelled(self._cancel, self._source.name)
        self._source.fh.seek(self._source.base + self._pos)
        data = self._source.fh.read(want)
        n = len(data)
        view[:n] = data
        self._pos += n
        if self._pos > self._reported:
            self._on_bytes(self._pos - self._reported)
            self._reported = self._pos
        return n


# --------------------------------------------------------------------------- globs


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with ``**`` into a regex over ``/``-separated paths."""
    i, out = 0, []
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(path: str, pattern: str) -> bool:
    """Match a ``/``-separated relative path against a glob.

    ``*`` and ``?`` stay within one path segment, ``**`` crosses segments. A
    pattern without ``/`` also matches the last segment alone (``*.csv`` matches
    ``a/b/c.csv``), as in ``.gitignore``.
    """
    if _glob_regex(pattern).match(path):
        return True
    return "/" not in pattern and bool(_glob_regex(pattern).match(path.rsplit("/", 1)[-1]))


def selected(path: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """True when ``path`` matches some include pattern (or there are none) and no exclude."""
    if include and not any(glob_match(path, p) for p in include):
        return False
    return not any(glob_match(path, p) for p in exclude)


class Counter(Protocol):
    """Where transfer code reports bytes: a tracker, or a share of a folder's tracker."""

    def advance(self, nbytes: int) -> None: ...
    def set_done(self, done: int) -> None: ...


class ChildCounter:
    """One file's share of an aggregate tracker (folder transfers)."""

    def __init__(self, parent: Counter) -> None:
        self._parent = parent
        self.done = 0
        self.confirmed = 0
        """The last position set from outside (a resumable upload's server offset)."""

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        self._parent.advance(nbytes)

    def set_done(self, done: int) -> None:
        self._parent.advance(done - self.done)
        self.done = done
        self.confirmed = done


def hash_file(path: Path, digest: Any) -> None:
    """Feed a file's bytes to ``digest`` (a hashlib object), a block at a time."""
    with path.open("rb") as fh:
        while block := fh.read(READ_BLOCK):
            digest.update(block)
