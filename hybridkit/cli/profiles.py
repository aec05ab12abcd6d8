"""``hybridkit profiles``: the named projects, with their keys masked."""

from __future__ import annotations

import argparse
from typing import Any

from hybridkit._tables import text_table
from hybridkit.config import profile_file, profiles

__all__ = ["add_arguments", "run"]


def add_arguments(parser: Any) -> None:
    """``hybridkit profiles`` takes no options (registered in :mod:`hybridkit.cli`)."""
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print one row a profile; ``local`` (the local stack) is always there."""
    found = profiles()
    rows = [
        [p.name, p.url or "-", str(p.service_role_key or "-"), str(p.db_url or "-"), p.source]
        for p in found.values()
    ]
    if "local" not in found:
        rows.append(["local", "(the local stack)", "-", "-", "built in"])
    print("\n".join(text_table(["profile", "url", "service role key", "db url", "from"], rows)))
    print(f"profiles file: {profile_file()}")
    return 0
