"""Object bytes on disk: atomic, streamed, addressed by version.

Layout under the stack's ``data_dir``::

    objects/<version[:2]>/<version>   an object's bytes, immutable once written
    tmp/<uuid>.part                   uploads in flight (removed on failure)
    tus/<version>.part, <version>.json  TUS uploads in progress and their records

Bytes are addressed by the object's ``version`` uuid, never by its key, so keys
never reach the filesystem (no traversal, no ENAMETOOLONG, ``a//b`` and ``a/b``
never collide), a move is a metadata update, and a copy is a hard link. An upload
is written to ``tmp/``, hashed (md5, the file backend's ETag) while it streams,
fsynced, then renamed into ``objects/`` before its database row commits; a reader
therefore never sees a partial object, and a crash mid-upload leaves the previous
version untouched.

Writes are batched into 1 MiB blocks and handed to a worker thread one block at a
time (double buffering): the event loop keeps receiving while the previous block is
written. Hashing runs in its own ordered chain beside the writes (:class:`Md5Chain`),
so the end of a request waits for its last write only; a few blocks at most are in
memory per upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hybridkit.local.storage.errors import EntityTooLarge

__all__ = ["BLOCK_SIZE", "BlobStore", "BlobWriter", "Md5Chain"]

BLOCK_SIZE = 1024 * 1024


class Md5Chain:
    """An md5 fed block by block in a worker thread, in order, off the write path.

    Hashing a block (about 2 ms per MiB) runs beside the write of the next one
    rather than in front of it, so a request's answer waits only for its last
    write, never for its last hash. ``fed`` counts the bytes queued so far; the
    digest covers all of them once :meth:`settle` has returned. At most
    ``backlog`` blocks wait to be hashed (memory stays bounded when hashing is
    the slower of the two).

    A TUS upload keeps its chain between ``PATCH`` requests: the next chunk is
    queued behind the previous one's last blocks without waiting for them.
    """

    def __init__(self, digest: Any = None, fed: int = 0, *, backlog: int = 2) -> None:
        self.digest = digest if digest is not None else hashlib.md5()
        self.fed = fed
        self.broken = False
        self._tail: asyncio.Future[None] | None = None
        self._waiting = 0
        self._backlog = backlog

    async def feed(self, block: bytes | bytearray) -> None:
        """Queue ``block`` for hashing after everything fed before it."""
        if self._waiting >= self._backlog:
            await self.settle()
        previous = self._tail
        self._waiting += 1
        self.fed += len(block)
        self._tail = asyncio.ensure_future(self._hash_after(previous, block))

    async def _hash_after(
        self, previous: asyncio.Future[None] | None, block: bytes | bytearray
    ) -> None:
        try:
            if previous is not None:
                await previous
            await asyncio.get_running_loop().run_in_executor(None, self.digest.update, block)
        finally:
            self._waiting -= 1

    async def settle(self) -> None:
        """Wait until every block fed so far is in the digest."""
        if self._tail is not None:
            tail, self._tail = self._tail, None
            try:
                await tail
            except BaseException:
                # A failed or cancelled hash leaves the digest short of what was fed:
                # ``broken`` says so, and the owner rebuilds it from the bytes on disk.
                self.broken = True
                raise

    def hexdigest(self) -> str:
        """The digest so far (call :meth:`settle` first)."""
        return str(self.digest.hexdigest())


class BlobWriter:
    """Streams bytes into a file, hashing as it goes, with a size limit.

    Args:
        path: the file to write (created, or appended to with ``append``).
        limit: the most bytes the file may hold in total; more raises
            ``EntityTooLarge`` (the bytes already written stay for the caller to
            clean up).
        append: continue an existing file (TUS); ``start`` is its current size.
        hasher: an :class:`Md5Chain` covering the file's first ``start`` bytes (TUS).
    """

    def __init__(
        self,
        path: Path,
        *,
        limit: int | None = None,
        append: bool = False,
        start: int = 0,
        hasher: Md5Chain | None = None,
    ) -> None:
        self.path = path
        self.limit = limit
        self.size = start
        self.written = start
        self.md5 = hasher if hasher is not None else Md5Chain()
        self._file = open(path, "ab" if append else "wb", buffering=0)  # noqa: SIM115
        self._buffer = bytearray()
        self._pending: asyncio.Future[None] | None = None

    async def write(self, data: bytes) -> None:
        """Accept ``data``; flushes to disk in 1 MiB blocks.

        Raises:
            EntityTooLarge: the total would exceed ``limit``.
        """
        if self.limit is not None and self.size + len(data) > self.limit:
            raise EntityTooLarge()
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= BLOCK_SIZE:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        if not self._buffer:
            return
        block, self._buffer = self._buffer, bytearray()
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(None, self._write_block, block)
        await self.md5.feed(block)

    def _write_block(self, block: bytearray) -> None:
        view = memoryview(block)
        while view:
            written = self._file.write(view)
            if written is None:  # pragma: no cover - only for non-blocking files
                continue
            self.written += written
            view = view[written:]

    async def drain(self) -> None:
        """Write everything accepted so far to the file (hashing may still be running)."""
        await self._flush()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def finish(self, *, sync: bool = True) -> str:
        """Write the rest, fsync and close; return the md5 hex digest.

        The last block is written, hashed and synced in one trip to a worker
        thread: for a small upload (all of it in that block) that is the only one.
        """
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        block, self._buffer = self._buffer, bytearray()
        fileno = self._file.fileno()

        def last() -> None:
            self._write_block(block)
            self.md5.digest.update(block)
            if sync:
                os.fsync(fileno)

        try:
            await self.md5.settle()
            await asyncio.get_running_loop().run_in_executor(None, last)
            self.md5.fed += len(block)
        finally:
            self._file.close()
        return self.md5.hexdigest()

    async def close(self) -> None:
        """Close without raising (after a failure); pending writes are awaited."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
            self._pending = None
        self._file.close()


class BlobStore:
    """The object bytes of one local stack, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.tus = root / "tus"
        for folder in (self.objects, self.tmp, self.tus):
            folder.mkdir(parents=True, exist_ok=True)
        # Leftovers of uploads cut short by a crash are garbage: nothing refers to them.
        for leftover in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    def path(self, version: str) -> Path:
        """Where the bytes of ``version`` live."""
        return self.objects / version[:2] / version

    def versions_older_than(self, cutoff: float) -> list[str]:
        """The versions whose bytes were last written before ``cutoff`` (a Unix time)."""
        found: list[str] = []
        for shard in self.objects.iterdir():
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard):
                with contextlib.suppress(OSError):
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        found.append(entry.name)
        return found

    def temp_path(self) -> Path:
        """A fresh path for an upload in flight."""
        return self.tmp / f"{uuid.uuid4().hex}.part"

    def new_writer(self, *, limit: int | None) -> BlobWriter:
        """A writer into a fresh temporary file."""
        return BlobWriter(self.temp_path(), limit=limit)

    def commit(self, temp: Path, version: str) -> Path:
        """Move a finished temporary file to its final, versioned place (atomic)."""
        final = self.path(version)
        final.parent.mkdir(exist_ok=True)
        os.replace(temp, final)
        return final

    def link(self, source_version: str, version: str) -> None:
        """Make ``version`` share ``source_version``'s bytes (files are immutable)."""
        target = self.path(version)
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(self.path(source_version), target)
        except OSError:
            shutil.copyfile(self.path(source_version), target)

    async def delete(self, *versions: str | None) -> None:
        """Remove the bytes of ``versions`` (missing ones are ignored).

        In a worker thread: unlinking a large file takes long enough (~0.1 s per
        GiB) to stall every other request if done on the event loop.
        """
        paths = [self.path(version) for version in versions if version]
        if paths:
            await asyncio.to_thread(_unlink_all, paths)

    @staticmethod
    def discard(path: Path) -> None:
        """Remove a temporary file, if it is there."""
        with contextlib.suppress(FileNotFoundError, OSError):
            path.unlink()

    async def read(
        self, handle: Any, start: int, length: int, block: int = BLOCK_SIZE
    ) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes of an open file from ``start``, in blocks; closes it."""
        loop = asyncio.get_running_loop()
        try:
            remaining = length
            position = start
            while remaining > 0:
                size = min(block, remaining)
                data: bytes = await loop.run_in_executor(
                    None, os.pread, handle.fileno(), size, position
                )
                if not data:
                    break
                remaining -= len(data)
                position += len(data)
                yield data
        finally:
            handle.close()


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, OSError):
            path.unlink()
