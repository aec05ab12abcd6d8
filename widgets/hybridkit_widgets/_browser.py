"""The bucket browser's state: buckets, one folder level at a time, and what can be done there.

No widgets here: :class:`BrowserState` calls the same ``HybridSupabaseManager``
methods a headless runbook calls and raises :class:`PanelError` with a readable
message when one fails. The view (:mod:`hybridkit_widgets._browser_view`) only
renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from hybridkit_widgets._common import PanelError, expect, format_age, format_bytes

__all__ = ["BrowserState", "Entry"]


@dataclass(frozen=True)
class Entry:
    """One row of a folder listing.

    Attributes:
        key: the full key; folders end with ``/``.
        name: the last segment (``reports/`` for a folder).
        is_folder: True for a folder (a common prefix).
        size: bytes (``None`` for folders).
        content_type: the stored mime type.
        updated_at: when it last changed.
    """

    key: str
    name: str
    is_folder: bool
    size: int | None = None
    content_type: str | None = None
    updated_at: datetime | None = None

    def age(self, now: datetime | None = None) -> str:
        """How long ago it changed (``'5 min'``)."""
        return format_age(self.updated_at, now)

    def row(self, now: datetime | None = None) -> dict[str, str]:
        """The row as text: name, size, type, age."""
        if self.is_folder:
            return {"name": self.name, "size": "", "type": "folder", "age": ""}
        return {
            "name": self.name,
            "size": format_bytes(self.size),
            "type": self.content_type or "-",
            "age": self.age(now),
        }


def _leaf(key: str, prefix: str) -> str:
    rest = key[len(prefix) :] if key.startswith(prefix) else key
    return rest or key


class BrowserState:
    """Where the browser is (bucket and folder), what is there, and the actions on it.

    Args:
        manager: a ``HybridSupabaseManager`` (every call returns a result).
        bucket: open this bucket first.
        prefix: open this folder of it (``"2026/11/"``).
        clock: the current time, for ages (inject in tests).

    Example:
        >>> state = BrowserState(manager)  # doctest: +SKIP
        >>> state.load_buckets(); state.open_bucket("reports")  # doctest: +SKIP
        >>> [e.name for e in state.entries]  # doctest: +SKIP
        ['2026/', 'readme.txt']
    """

    def __init__(
        self,
        manager: Any,
        *,
        bucket: str | None = None,
        prefix: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.manager = manager
        self.bucket = bucket or None
        self.prefix = self._folder(prefix)
        self.clock = clock
        self.buckets: list[Any] = []
        self.entries: list[Entry] = []

    # ---------------------------------------------------------------- where

    @staticmethod
    def _folder(prefix: str) -> str:
        prefix = prefix.strip().strip("/")
        return f"{prefix}/" if prefix else ""

    @property
    def path(self) -> str:
        """``bucket/folder/`` — where the browser is."""
        if self.bucket is None:
            return ""
        return f"{self.bucket}/{self.prefix}"

    @property
    def bucket_names(self) -> list[str]:
        """The names of the buckets loaded by :meth:`load_buckets`."""
        return [b.name for b in self.buckets]

    def _require_bucket(self) -> str:
        if self.bucket is None:
            raise PanelError("open a bucket first")
        return self.bucket

    def entry(self, key: str) -> Entry:
        """The listed entry with this key.

        Raises:
            PanelError: it is not in the current listing (refresh and try again).
        """
        for entry in self.entries:
            if entry.key == key:
                return entry
        raise PanelError(f"{key!r} is not in this folder any more; refresh the listing")

    # ---------------------------------------------------------------- reading

    def load_buckets(self) -> list[Any]:
        """Read the bucket list."""
        self.buckets = sorted(expect(self.manager.list_buckets(), "list buckets"), key=_name)
        if self.bucket is not None and self.bucket not in self.bucket_names:
            self.bucket, self.prefix, self.entries = None, "", []
        return self.buckets

    def open_bucket(self, name: str, prefix: str = "") -> list[Entry]:
        """Open a bucket (at its top folder, or at ``prefix``) and list it."""
        if not name:
            raise PanelError("choose a bucket")
        self.bucket, self.prefix = name, self._folder(prefix)
        return self.refresh()

    def refresh(self) -> list[Entry]:
        """List the current folder: its sub-folders first, then its objects."""
        bucket = self._require_bucket()
        found = expect(
            self.manager.list_objects(bucket, self.prefix, recursive=False),
            f"list {bucket}/{self.prefix}",
        )
        folders: list[Entry] = []
        files: list[Entry] = []
        for obj in found:
            if obj.is_folder:
                key = obj.name if obj.name.endswith("/") else f"{obj.name}/"
                folders.append(Entry(key, _leaf(key, self.prefix), True))
            elif obj.name != self.prefix:  # a folder's own placeholder object
                files.append(
                    Entry(
                        obj.name,
                        _leaf(obj.name, self.prefix),
                        False,
                        obj.size,
                        obj.content_type,
                        obj.updated_at or obj.created_at,
                    )
                )
        self.entries = sorted(folders, key=_key) + sorted(files, key=_key)
        return self.entries

    def enter(self, key: str) -> list[Entry]:
        """Go into a listed folder."""
        entry = self.entry(key)
        if not entry.is_folder:
            raise PanelError(f"{entry.name!r} is a file, not a folder")
        self.prefix = entry.key
        return self.refresh()

    def up(self) -> list[Entry]:
        """Go to the parent folder (from the top folder: stay)."""
        self._require_bucket()
        parent = self.prefix.rstrip("/").rpartition("/")[0]
        self.prefix = self._folder(parent)
        return self.refresh()

    def rows(self) -> list[dict[str, str]]:
        """The listing as text rows (name, size, type, age)."""
        now = self.clock()
        return [e.row(now) for e in self.entries]

    # ---------------------------------------------------------------- changing

    def create_bucket(self, name: str, *, public: bool = False) -> Any:
        """Create a bucket and open it."""
        name = name.strip()
        if not name:
            raise PanelError("type a name for the new bucket")
        bucket = expect(self.manager.create_bucket(name, public=public), f"create bucket {name!r}")
        self.load_buckets()
        self.open_bucket(name)
        return bucket

    def describe_delete(self, keys: Sequence[str]) -> str:
        """What deleting ``keys`` means, in words (for the confirmation)."""
        bucket = self._require_bucket()
        if not keys:
            raise PanelError("select what to delete first")
        chosen = [self.entry(k) for k in keys]
        folders = [e for e in chosen if e.is_folder]
        files = [e for e in chosen if not e.is_folder]
        parts = []
        if files:
            size = sum(e.size or 0 for e in files)
            if len(files) <= 3:  # name them: the reader checks what goes
                parts.append(f"{', '.join(e.key for e in files)} ({format_bytes(size)})")
            else:
                parts.append(f"{len(files)} object(s) ({format_bytes(size)})")
        if folders:
            names = ", ".join(e.name for e in folders[:3]) + (" …" if len(folders) > 3 else "")
            parts.append(f"{len(folders)} folder(s) with everything in them ({names})")
        return f"delete {' and '.join(parts)} from bucket {bucket!r}"

    def delete(self, keys: Sequence[str]) -> list[str]:
        """Delete objects, and folders with everything under them; return the deleted keys."""
        bucket = self._require_bucket()
        if not keys:
            raise PanelError("select what to delete first")
        chosen = [self.entry(k) for k in keys]
        deleted: list[str] = []
        files = [e.key for e in chosen if not e.is_folder]
        if files:
            deleted += expect(
                self.manager.remove_objects(bucket, files), f"delete {len(files)} object(s)"
            )
        for folder in (e for e in chosen if e.is_folder):
            deleted += expect(
                self.manager.remove_prefix(bucket, folder.key), f"delete folder {folder.key!r}"
            )
        self.refresh()
        return [str(k) for k in deleted]

    def count_objects(self) -> tuple[int, int]:
        """How many objects the open bucket holds, and their bytes (a recursive listing)."""
        bucket = self._require_bucket()
        found = expect(self.manager.list_objects(bucket), f"list {bucket}")
        objects = [o for o in found if not o.is_folder]
        return len(objects), sum(o.size for o in objects)

    def empty_bucket(self) -> None:
        """Delete every object of the open bucket."""
        bucket = self._require_bucket()
        expect(self.manager.empty_bucket(bucket), f"empty bucket {bucket!r}")
        self.prefix = ""
        self.refresh()

    def delete_bucket(self) -> None:
        """Delete the open bucket and everything in it."""
        bucket = self._require_bucket()
        expect(self.manager.delete_bucket(bucket, force=True), f"delete bucket {bucket!r}")
        self.bucket, self.prefix, self.entries = None, "", []
        self.load_buckets()

    # ---------------------------------------------------------------- getting

    def download(self, keys: Sequence[str], folder: str | PathLike[str]) -> list[Path]:
        """Download objects (and folders, recursively) into a local folder.

        Returns the files written. A folder keeps its structure below ``folder``.
        """
        bucket = self._require_bucket()
        if not keys:
            raise PanelError("select what to download first")
        dest = Path(folder).expanduser()
        if dest.exists() and not dest.is_dir():
            raise PanelError(f"{dest} exists and is not a folder")
        dest.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for entry in (self.entry(k) for k in keys):
            if entry.is_folder:
                report = expect(
                    self.manager.download_prefix(bucket, entry.key, dest / entry.name.rstrip("/")),
                    f"download folder {entry.key!r}",
                )
                written += [Path(r.target) for r in report.results if r.status != "failed"]
            else:
                result = expect(
                    self.manager.download_file(bucket, entry.key, dest / entry.name),
                    f"download {entry.key!r}",
                )
                written.append(Path(getattr(result, "path", dest / entry.name)))
        return written

    def signed_url(self, key: str, expires_in: int = 3600) -> str:
        """A time-limited link to one object (anyone holding it can download it)."""
        bucket = self._require_bucket()
        entry = self.entry(key)
        if entry.is_folder:
            raise PanelError("a signed link is for one object, not a folder")
        if expires_in < 1:
            raise PanelError("the link must be valid for at least 1 second")
        return str(
            expect(self.manager.signed_url(bucket, entry.key, expires_in), f"sign {entry.key!r}")
        )


def _name(bucket: Any) -> str:
    return str(bucket.name)


def _key(entry: Entry) -> str:
    return entry.key
