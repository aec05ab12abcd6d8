"""What the CLI's commands share."""

from __future__ import annotations

import sys
from typing import Any

from hybridkit.config import Settings
from hybridkit.target import resolve

__all__ = ["target_settings"]


def target_settings(**overrides: Any) -> Settings:
    """The configured project's settings, else the local stack's (started if needed).

    Says on stderr when the local stack is the target, so output on stdout stays clean.
    """
    target = resolve(**overrides)
    if target.local:
        print(
            f"target: the local stack at {target.settings.supabase_url} "
            "(no SUPABASE_URL or SUPABASE_DB_URL set)",
            file=sys.stderr,
        )
    return target.settings
