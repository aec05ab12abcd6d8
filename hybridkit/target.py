"""Which project a command or runbook works on: the configured one, else the local stack.

Like the Supabase CLI, whose commands default to the local stack, hybridkit's CLI
and runbooks use the embedded local stack when nothing points elsewhere — no
``SUPABASE_URL``, ``SUPABASE_DB_URL`` or ``SUPABASE_ACCESS_TOKEN`` in the
environment or ``.env``. It is
started when it is not running yet, and found in the same state folder from the
repository root and from ``notebooks/``.

Example:
    >>> target = resolve()  # doctest: +SKIP
    >>> target.settings.supabase_url, target.local_dir  # doctest: +SKIP
    ('http://127.0.0.1:54321', PosixPath('/home/me/project/.hybridkit/local'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridkit.config import Settings, environment, kit_env

__all__ = ["Target", "local_stack_dir", "local_stack_port", "profile_settings", "resolve"]


def local_stack_dir(start: Path | None = None) -> Path:
    """The local stack's state folder to use.

    ``HYBRIDKIT_LOCAL_DIR`` when set; else the nearest ``.hybridkit/local`` in the
    working folder or one of its parents (a notebook's kernel runs in
    ``notebooks/``, ``./run demo`` at the repository root: both find the same
    stack); else one in the nearest project folder (with ``pyproject.toml`` or
    ``.git``); else in the working folder.
    """
    configured = kit_env("HYBRIDKIT_LOCAL_DIR")
    if configured:
        return Path(configured).expanduser()
    here = (start or Path.cwd()).absolute()
    project: Path | None = None
    for folder in (here, *here.parents):
        candidate = folder / ".hybridkit" / "local"
        if candidate.is_dir():
            return candidate
        if project is None and (
            (folder / "pyproject.toml").is_file() or (folder / ".git").exists()
        ):
            project = folder
    return (project or here) / ".hybridkit" / "local"


def local_stack_port() -> int | None:
    """The port for a local stack started on demand: ``HYBRIDKIT_LOCAL_PORT`` (0 picks a
    free one), else ``None`` — the stack's own port from its last start, 54321 at first.
    """
    configured = kit_env("HYBRIDKIT_LOCAL_PORT").strip()
    if not configured:
        return None
    from hybridkit.errors import ConfigError

    if not configured.isdigit() or int(configured) > 65535:
        raise ConfigError(
            f"HYBRIDKIT_LOCAL_PORT must be a port number from 0 to 65535, got {configured!r}"
        )
    return int(configured)


@dataclass(frozen=True)
class Target:
    """Resolved settings, and the local stack's state folder when that is the target."""

    settings: Settings
    local_dir: Path | None = None

    @property
    def local(self) -> bool:
        return self.local_dir is not None


def resolve(*, env: Mapping[str, str] | None = None, **overrides: Any) -> Target:
    """Settings from the environment; the local stack's when nothing is configured.

    Raises:
        ConfigError: a setting is malformed.
        LocalStackError: the local stack was needed and could not start.
    """
    settings = Settings.load(env=env, **overrides)
    if settings.supabase_url or settings.db_url or settings.access_token:
        return Target(settings)
    from hybridkit.local import LocalStack

    stack = LocalStack(local_stack_dir(), port=local_stack_port())
    stack.ensure_running()
    merged = environment() if env is None else {k: v for k, v in env.items() if v}
    merged.update(stack.env())
    return Target(Settings.load(env=merged, env_file=None, **overrides), stack.paths.root)


def profile_settings(name: str | None, **overrides: Any) -> Settings:
    """The settings a profile names; ``None``: the default project (as :func:`resolve`).

    ``local`` is the local stack (started if needed) unless a profile of that name
    is defined.

    Raises:
        ConfigError: an unknown or incomplete profile.
        LocalStackError: the local stack was needed and could not start.
    """
    from hybridkit.config import profiles, settings_for_profile

    if name is None:
        return resolve(**overrides).settings
    if name == "local" and "local" not in profiles():
        from hybridkit.local import LocalStack

        stack = LocalStack(local_stack_dir(), port=local_stack_port())
        stack.ensure_running()
        return Settings.load(env=stack.env(), env_file=None, **overrides)
    return settings_for_profile(name)
