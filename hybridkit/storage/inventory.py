"""An inventory of a project's storage: per bucket counts and bytes, the largest objects
and prefixes.

One listing walk a bucket (list v2, paged), nothing downloaded. The runbook
``storage_inventory`` shows it, charts it and keeps each run's totals in its run
record, so that the next run can draw the growth over time.

Example:
    >>> inv = take_inventory(storage, top=5)  # doctest: +SKIP
    >>> [(b.bucket, b.objects) for b in inv.buckets]  # doctest: +SKIP
    [('avatars', 120), ('reports', 8)]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hybridkit.storage.manager import StorageManager

__all__ = ["BucketTotals", "Inventory", "take_inventory"]


@dataclass(frozen=True)
class BucketTotals:
    """One bucket: how many objects, how many bytes, whether it is public."""

    bucket: str
    objects: int
    bytes: int
    public: bool


@dataclass(frozen=True)
class Inventory:
    """What :func:`take_inventory` found.

    Attributes:
        buckets: per bucket totals, largest first.
        largest: the ``top`` largest objects, as (``bucket/key``, bytes).
        prefixes: the ``top`` largest prefixes (``bucket/first/segments/``), as
            (prefix, objects, bytes); an object at a bucket's top level counts
            under ``bucket/``.
    """

    buckets: tuple[BucketTotals, ...]
    largest: tuple[tuple[str, int], ...]
    prefixes: tuple[tuple[str, int, int], ...]

    @property
    def objects(self) -> int:
        """Objects over every bucket."""
        return sum(b.objects for b in self.buckets)

    @property
    def bytes(self) -> int:
        """Bytes over every bucket."""
        return sum(b.bytes for b in self.buckets)


def _prefix_of(bucket: str, key: str, depth: int) -> str:
    parts = key.split("/")[:-1][:depth]
    return "/".join([bucket, *parts]) + "/"


def take_inventory(
    storage: StorageManager, *, bucket: str | None = None, top: int = 10, depth: int = 1
) -> Inventory:
    """Walk ``bucket`` (or every bucket) and total it.

    Args:
        top: how many of the largest objects and prefixes to keep.
        depth: how many key segments make a prefix (1: ``bucket/first/``).

    Raises:
        NotFoundError: ``bucket`` does not exist.
    """
    buckets = [storage.get_bucket(bucket)] if bucket else storage.list_buckets()
    totals: list[BucketTotals] = []
    largest: list[tuple[int, str]] = []
    count: Counter[str] = Counter()
    size: Counter[str] = Counter()
    for b in buckets:
        n = total = 0
        for obj in storage.iter_objects(b.id):
            if obj.is_folder or obj.name.endswith("/.emptyFolderPlaceholder"):
                continue
            n += 1
            total += obj.size
            largest.append((obj.size, f"{b.id}/{obj.name}"))
            prefix = _prefix_of(b.id, obj.name, depth)
            count[prefix] += 1
            size[prefix] += obj.size
            if len(largest) > 4 * max(top, 1):  # keep memory bounded on big buckets
                largest = sorted(largest, reverse=True)[:top]
        totals.append(BucketTotals(b.id, n, total, b.public))
    top_objects = [(name, n) for n, name in sorted(largest, reverse=True)[:top]]
    top_prefixes = sorted(size, key=lambda k: (-size[k], k))[:top]
    return Inventory(
        tuple(sorted(totals, key=lambda t: (-t.bytes, t.bucket))),
        tuple(top_objects),
        tuple((k, count[k], size[k]) for k in top_prefixes),
    )
