"""A small, deterministic sample folder for demos (the upload runbook's default source)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

__all__ = ["sample_folder"]


def sample_folder(count: int = 12, *, root: str | Path | None = None) -> Path:
    """Write ``count`` small CSV and JSON files (same bytes every time) and return the folder.

    Args:
        count: how many files.
        root: where to create the folder (default: a new temporary folder).

    Example:
        >>> folder = sample_folder(3)
        >>> sorted(p.name for p in folder.rglob("*") if p.is_file())
        ['day-000.csv', 'day-001.json', 'day-002.csv']
    """
    folder = Path(tempfile.mkdtemp(prefix="hybridkit-sample-")) if root is None else Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if i % 2 == 0:
            rows = "\n".join(f"{i},{j},{(i * 31 + j * 7) % 97}" for j in range(20))
            (folder / f"day-{i:03d}.csv").write_text(f"day,row,value\n{rows}\n")
        else:
            data = {"day": i, "values": [(i * 13 + j) % 89 for j in range(20)]}
            (folder / f"day-{i:03d}.json").write_text(json.dumps(data, indent=1) + "\n")
    return folder
