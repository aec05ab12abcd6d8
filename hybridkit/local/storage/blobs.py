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
hashed and written, with at most two blocks in memory per upload.
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

from hybridkit.local.storage.exceptions import EntityTooLarge

__all__ = ["BLOCK_SIZE", "BlobStore", "BlobWriter"]

BLOCK_SIZE = 1024 * 1024


class BlobWriter:
    """Streams bytes into a file, hashing as it goes, with a size limit.

    Args:
        path: the file to write (created, or appended to with ``append``).
        limit: the most bytes the file may hold in total; more raises
            ``EntityTooLarge`` (the bytes already written stay for the caller to
            clean up).
        append: continue an existing file (TUS); ``start`` is its current size.
        hasher: an md5 state matching the file's current content (TUS).
    """

    def __init__(
        self,
        path: Path,
        *,
        limit: int | None = None,
        append: bool = False,
        start: int = 0,
        hasher: Any = None,
    ) -> None:
        self.path = path
        self.limit = limit
        self.size = start
        self.written = start
        self.md5 = hasher if hasher is not None else hashlib.md5()
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

    def _write_block(self, block: bytearray) -> None:
        # Hash and write in lockstep, so the md5 always matches what is on disk.
        view = memoryview(block)
        while view:
            written = self._file.write(view)
            if written is None:  # pragma: no cover - only for non-blocking files
                continue
            self.md5.update(view[:written])
            self.written += written
            view = view[written:]

    async def drain(self) -> None:
        """Write everything accepted so far (used when a TUS PATCH is cut short)."""
        await self._flush()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def finish(self, *, sync: bool = True) -> str:
        """Write the rest, fsync and close; return the md5 hex digest."""
        await self.drain()
        if sync:
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, self._file.fileno())
        self._file.close()
        return str(self.md5.hexdigest())

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

    def delete(self, *versions: str | None) -> None:
        """Remove the bytes of ``versions`` (missing ones are ignored)."""
        for version in versions:
            if version:
                with contextlib.suppress(FileNotFoundError, OSError):
                    self.path(version).unlink()

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
