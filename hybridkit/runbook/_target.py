"""Connect a runbook to its target and say which target it is — never with a secret.

Settings come from the environment (or ``.env``) only, never from parameters. With
no ``SUPABASE_URL`` the runbook starts, or attaches to, the embedded local stack,
so a runbook works on a laptop or on Binder with no Supabase account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridkit.config import Settings, kit_env, mask_url
from hybridkit.runbook._display import TARGET_MIME, is_interactive
from hybridkit.runbook._display import banner as _banner
from hybridkit.runbook._errors import RunbookError
from hybridkit.target import local_stack_dir, profile_settings, resolve

__all__ = ["Connection", "connect", "local_stack_dir", "show_target"]


@dataclass
class Connection:
    """Where a runbook works, and the manager it works through.

    Attributes:
        settings: the resolved settings (secrets masked in every repr).
        local: True when the target is the embedded local stack.
        local_dir: the local stack's state folder, when ``local``.
    """

    settings: Settings
    local: bool = False
    local_dir: Path | None = None
    _manager: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The project URL (with any credentials in it masked)."""
        return mask_url(self.settings.supabase_url or "")

    @property
    def key_role(self) -> str:
        """``service_role``, ``anon`` or ``none`` — which key, never the key."""
        return self.settings.key_role

    @property
    def manager(self) -> Any:
        """The ``HybridSupabaseManager`` every runbook step goes through (built on first use)."""
        if self._manager is None:
            self._manager = _build_manager(self.settings)
        return self._manager

    def close(self) -> None:
        """Release the manager's connections (idempotent)."""
        manager, self._manager = self._manager, None
        closer = getattr(manager, "close", None)
        if callable(closer):
            closer()


def _build_manager(settings: Settings) -> Any:
    try:
        from hybridkit.manager import HybridSupabaseManager  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise RunbookError(
            "hybridkit.manager is not available in this installation",
            hint="the storage manager (issue 3) provides HybridSupabaseManager; "
            "update hybridkit (pip install -e .) and restart the kernel",
        ) from None
    return HybridSupabaseManager(settings)


def connect(*, require_key: bool = True, profile: str = "") -> Connection:
    """Resolve the target: ``SUPABASE_URL`` and keys from the environment, else the local stack.

    Args:
        require_key: fail (before anything happens) when no API key is configured.
        profile: a profile's project instead (``HYBRIDKIT_PROFILE_<NAME>_*`` or the
            profiles file, see docs/sync.md); ``local`` is the embedded local stack.

    Raises:
        RunbookError: settings are missing or malformed, or the local stack cannot start;
            the message says which variable to set.
    """
    from hybridkit.errors import ConfigError, LocalStackError

    try:
        if profile:
            from hybridkit.config import profiles

            settings = profile_settings(profile)
            local = profile == "local" and "local" not in profiles()
            return Connection(settings, local, local_stack_dir() if local else None)
        target = resolve()
        if require_key:
            target.settings.require("supabase_url", "api_key")
        return Connection(settings=target.settings, local=target.local, local_dir=target.local_dir)
    except ConfigError as exc:
        raise RunbookError(
            f"cannot connect: {exc}",
            hint="settings come from the environment or .env, never from parameters",
            nothing_changed=True,
        ) from None
    except LocalStackError as exc:
        raise RunbookError(
            f"no SUPABASE_URL is set and the local stack could not start: {exc}",
            hint="set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY to use a real project",
            nothing_changed=True,
        ) from None


def show_target(
    conn: Connection,
    params: Mapping[str, Any] | None = None,
    *,
    runbook: str = "",
    dry_run: bool | None = None,
) -> None:
    """Show the target banner: URL, key role (never the key), mode, dry run, parameters."""
    pairs: dict[str, Any] = {}
    name = runbook or kit_env("HYBRIDKIT_RUNBOOK")
    if name:
        pairs["runbook"] = name
    run_id = kit_env("HYBRIDKIT_RUN_ID")
    if run_id:
        pairs["run id"] = run_id
    where = f"{conn.url}"
    if conn.local:
        where += f"  (embedded local stack, state folder {conn.local_dir})"
    pairs["target"] = where
    pairs["key"] = f"{conn.key_role} (not shown)"
    if conn.settings.db_url:
        pairs["database"] = str(conn.settings.db_url)  # password masked by _SecretURL
    pairs["mode"] = "interactive" if is_interactive() else "headless"
    if dry_run is not None:
        pairs["dry run"] = (
            "yes — nothing will be changed" if dry_run else "NO — changes will be made"
        )
    if params:
        pairs["parameters"] = ", ".join(f"{k}={v!r}" for k, v in params.items())
    record = {"url": conn.url, "key_role": conn.key_role, "local": conn.local}
    _banner("target", pairs, warn=dry_run is False, extra={TARGET_MIME: record})
