"""Settings: keyword arguments first, then the environment, then a ``.env`` file.

The environment is read only when ``Settings.load()`` is called, never at import
time. Every secret is held in a :class:`Secret`, whose repr and str are masked,
so a ``Settings`` object can be printed, logged or shown in a notebook safely.

Example:
    >>> s = Settings.load(supabase_url="http://127.0.0.1:54321", service_role_key="eyJ...")
    >>> s
    Settings(supabase_url='http://127.0.0.1:54321', service_role_key=Secret('********'), ...)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from hybridkit.errors import ConfigError
from hybridkit.redact import MASK, mask_dsn

__all__ = [
    "ENV_VARS",
    "KIT_ENV",
    "Profile",
    "Secret",
    "Settings",
    "environment",
    "kit_env",
    "mask_url",
    "profile_file",
    "profiles",
    "settings_for_profile",
]


class Secret:
    """A string that never shows itself in a repr, str, log line or traceback.

    Example:
        >>> Secret("hunter2")
        Secret('********')
        >>> Secret("hunter2").get_secret_value()
        'hunter2'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """Return the real value; call it only where the value is sent."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # pickling keeps the value (used by worker processes)
        return (Secret, (self._value,))


def mask_url(url: str) -> str:
    """Return ``url`` (or a key=value DSN) with any password replaced by ``********``.

    The rules are :mod:`hybridkit.redact`'s, shared by every output path.

    Example:
        >>> mask_url("postgresql://postgres:pw@127.0.0.1:54322/postgres")
        'postgresql://postgres:********@127.0.0.1:54322/postgres'
    """
    return mask_dsn(url)


def _is_dsn(text: str) -> bool:
    """A PostgreSQL URL, or a key=value DSN that libpq would parse."""
    if text.startswith(("postgres://", "postgresql://")):
        return True
    if "=" not in text or "://" in text:
        return False
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(text)
    except Exception:
        return False
    return True


class _SecretURL(Secret):
    """A URL whose password is masked but whose host stays readable."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Secret('{mask_url(self._value)}')"

    def __str__(self) -> str:
        return mask_url(self._value)

    def __reduce__(self) -> Any:
        return (_SecretURL, (self._value,))


# Field name -> environment variable.
ENV_VARS: dict[str, str] = {
    "supabase_url": "SUPABASE_URL",
    "service_role_key": "SUPABASE_SERVICE_ROLE_KEY",
    "anon_key": "SUPABASE_ANON_KEY",
    "db_url": "SUPABASE_DB_URL",
    "read_only_db_url": "SUPABASE_READ_ONLY_DB_URL",
    "access_token": "SUPABASE_ACCESS_TOKEN",
    "project_ref": "SUPABASE_PROJECT_REF",
    "max_retries": "SUPABASE_MAX_RETRIES",
    "upload_timeout": "SUPABASE_UPLOAD_TIMEOUT",
    "chunk_size": "SUPABASE_CHUNK_SIZE",
    "progress_interval": "SUPABASE_PROGRESS_INTERVAL",
    "standard_upload_threshold": "SUPABASE_STANDARD_UPLOAD_THRESHOLD",
    "management_url": "SUPABASE_MANAGEMENT_URL",
    # Reliability of long jobs (docs/reliability.md).
    "idle_timeout": "SUPABASE_IDLE_TIMEOUT",
    "connect_timeout": "SUPABASE_CONNECT_TIMEOUT",
    "job_deadline": "SUPABASE_JOB_DEADLINE",
    "unreachable_after": "SUPABASE_UNREACHABLE_AFTER",
    "breaker_threshold": "SUPABASE_BREAKER_THRESHOLD",
    "breaker_cooldown": "SUPABASE_BREAKER_COOLDOWN",
}

_SECRETS = {"service_role_key", "anon_key", "access_token"}
_SECRET_URLS = {"db_url", "read_only_db_url"}
_PROJECT_REF = re.compile(r"^[a-z0-9]{1,64}$")


class _DefaultEnvFile(str):
    """``.env``, unless ``HYBRIDKIT_ENV_FILE`` names another file (or none)."""

    __slots__ = ()


DEFAULT_ENV_FILE = _DefaultEnvFile(".env")


@dataclass(frozen=True, repr=False)
class Settings:
    """Where hybridkit connects and how hard it tries.

    Build one with :meth:`Settings.load`; keyword arguments win over the
    environment, which wins over a ``.env`` file. Validation happens here, so a
    bad value fails at construction with a message naming the variable, never
    in the middle of a job.

    Example:
        >>> Settings.load(supabase_url="http://127.0.0.1:54321", anon_key="k").max_retries
        3
    """

    supabase_url: str | None = None
    service_role_key: Secret | None = None
    anon_key: Secret | None = None
    db_url: Secret | None = None
    read_only_db_url: Secret | None = None
    access_token: Secret | None = None
    project_ref: str | None = None
    management_url: str = "https://api.supabase.com"
    max_retries: int = 3
    upload_timeout: float = 300.0
    chunk_size: int = 6 * 1024 * 1024
    progress_interval: float = 0.5
    standard_upload_threshold: int = 6 * 1024 * 1024
    idle_timeout: float = 15.0
    connect_timeout: float = 10.0
    job_deadline: float | None = None
    unreachable_after: float = 900.0
    breaker_threshold: int = 8
    breaker_cooldown: float = 5.0
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def load(
        cls,
        *,
        env: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
        **overrides: Any,
    ) -> Settings:
        """Read ``overrides``, then ``env`` (default ``os.environ``), then ``env_file``.

        Args:
            env: the environment to read (default: ``os.environ``).
            env_file: a dotenv file to read last; ``None`` skips it. A missing file is fine.
                By default ``HYBRIDKIT_ENV_FILE`` (empty: none), else ``.env``.
            **overrides: field values that win over everything else (``None`` means "not given").

        Raises:
            ConfigError: an unknown keyword, or a value that cannot be used.
        """
        unknown = set(overrides) - {f.name for f in fields(cls) if f.name != "sources"}
        if unknown:
            raise ConfigError(
                f"unknown setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(ENV_VARS))}"
            )
        environ = os.environ if env is None else env
        if isinstance(env_file, _DefaultEnvFile):
            env_file = environ.get("HYBRIDKIT_ENV_FILE", ".env") or None  # see KIT_ENV
        file_values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}

        raw: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, var in ENV_VARS.items():
            if overrides.get(name) is not None:
                raw[name], sources[name] = overrides[name], "argument"
            elif environ.get(var):
                raw[name], sources[name] = environ[var], f"environment ({var})"
            elif file_values.get(var):
                raw[name], sources[name] = file_values[var], f"{env_file} ({var})"
        return cls._build(raw, sources)

    @classmethod
    def _build(cls, raw: Mapping[str, Any], sources: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for name, value in raw.items():
            var = ENV_VARS[name]
            if name in _SECRETS:
                values[name] = value if isinstance(value, Secret) else Secret(str(value).strip())
            elif name in _SECRET_URLS:
                text = value.get_secret_value() if isinstance(value, Secret) else str(value)
                if not _is_dsn(text):
                    raise ConfigError(
                        f"{var} must be a PostgreSQL URL like "
                        f"postgresql://postgres:PASSWORD@HOST:5432/postgres (or a key=value "
                        f"DSN), got {mask_url(text)!r}"
                    )
                values[name] = _SecretURL(text)
            elif name in ("supabase_url", "management_url"):
                text = str(value).strip().rstrip("/")
                parts = urlsplit(text)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ConfigError(
                        f"{var} must be an http(s) URL like https://<project-ref>.supabase.co "
                        f"or http://127.0.0.1:54321, got {mask_url(text)!r}"
                    )
                values[name] = text
            elif name == "project_ref":
                text = str(value).strip()
                if not _PROJECT_REF.match(text):
                    raise ConfigError(
                        f"{var} must be the project's reference id (lowercase letters and digits, "
                        f"as in https://<ref>.supabase.co), got {text!r}"
                    )
                values[name] = text
            elif name in (
                "max_retries",
                "chunk_size",
                "standard_upload_threshold",
                "breaker_threshold",
            ):
                values[name] = _int(var, value, minimum=0 if name == "max_retries" else 1)
            else:
                values[name] = _float(var, value)
        return cls(**values, sources=dict(sources))

    @property
    def api_key(self) -> Secret | None:
        """The key requests are sent with: the service role key when set, else the anon key."""
        return self.service_role_key or self.anon_key

    @property
    def key_role(self) -> str:
        """Which key is in use, for banners: ``service_role``, ``anon`` or ``none``."""
        if self.service_role_key:
            return "service_role"
        if self.anon_key:
            return "anon"
        return "none"

    def require(self, *names: str) -> None:
        """Raise ConfigError naming every missing setting among ``names``.

        Example:
            >>> Settings.load(env={}, env_file=None).require("supabase_url")
            Traceback (most recent call last):
            ...
            hybridkit.errors.ConfigError: missing setting: SUPABASE_URL ...
        """
        missing = [ENV_VARS.get(n, n) for n in names if not getattr(self, n)]
        if missing:
            raise ConfigError(
                f"missing setting: {', '.join(missing)} — set it in the environment or a .env "
                'file, or run `hybridkit local start` and `eval "$(hybridkit local env)"` '
                "to use the local stack"
            )

    @classmethod
    def for_profile(cls, name: str, *, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of a named profile (see :func:`settings_for_profile`)."""
        return settings_for_profile(name, env=env)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            if f.name == "sources":
                continue
            shown.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"Settings({', '.join(shown)})"


def _int(var: str, value: Any, *, minimum: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{var} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{var} must be at least {minimum}, got {number}")
    return number


def _float(var: str, value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{var} must be a number of seconds, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{var} must be greater than 0, got {number}")
    return number


# --------------------------------------------------------------------------- the kit's variables

#: The environment variables the kit reads besides the settings above: name -> what
#: it does. :func:`kit_env` reads them (and only them), so each is documented here.
KIT_ENV: dict[str, str] = {
    "HYBRIDKIT_ENV_FILE": "the .env file Settings.load() reads (default .env; empty: none)",
    "HYBRIDKIT_LOCAL_DIR": "the local stack's state folder (default: the nearest .hybridkit/local)",
    "HYBRIDKIT_LOCAL_PORT": "the port of a local stack started on demand (0: a free one)",
    "HYBRIDKIT_MIGRATIONS": "the kit's own migrations folder (default: shipped with the package)",
    "HYBRIDKIT_RUNBOOKS": "where runbooks are found by name (default ./notebooks, else shipped)",
    "HYBRIDKIT_RUNBOOK": "the runbook a kernel runs (set by hybridkit run; shown in the banner)",
    "HYBRIDKIT_RUN_ID": "the id of the run a kernel belongs to (set by hybridkit run)",
    "HYBRIDKIT_INTERACTIVE": "1 or 0: a person drives the kernel, or not (hybridkit run sets 0)",
    "HYBRIDKIT_PROGRESS_FEED": "where a runbook's progress bars report (set by hybridkit run)",
    "HYBRIDKIT_MCP_TOKEN": "the bearer token the MCP server over HTTP requires",
    "HYBRIDKIT_PROFILES": "the profiles file (default .hybridkit/profiles.toml; docs/sync.md)",
    "HYBRIDKIT_PROFILE_<NAME>_URL": "a profile's URL (and _SERVICE_ROLE_KEY, _DB_URL)",
    "JPY_SESSION_NAME": "set by Jupyter Server in the kernels a person drives",
    "XDG_CACHE_HOME": "the cache folder; TUS uploads are remembered under hybridkit/tus",
}


def kit_env(name: str) -> str:
    """The value of one of :data:`KIT_ENV`'s variables, read now (``""`` when unset).

    Raises:
        KeyError: ``name`` is not in :data:`KIT_ENV` (document it there first).
    """
    if name not in KIT_ENV:
        raise KeyError(f"{name} is not one of the kit's documented variables (config.KIT_ENV)")
    return os.environ.get(name, "")


def environment() -> dict[str, str]:
    """The process environment as it is now, without empty values.

    For what must look at all of it: the redaction of the secrets it holds, and
    the target of a run (``SUPABASE_*``).
    """
    return {k: v for k, v in os.environ.items() if v}


# --------------------------------------------------------------------------- profiles

PROFILE_PREFIX = "HYBRIDKIT_PROFILE_"
# Longest suffix first: ..._DB_URL also ends in _URL.
_PROFILE_FIELDS = {
    "SERVICE_ROLE_KEY": "service_role_key",
    "DB_URL": "db_url",
    "URL": "supabase_url",
}
_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# What names a project: a profile replaces all of it, so nothing of the default
# project's leaks into another's settings (the tuning variables stay).
_TARGET_FIELDS = {
    "supabase_url",
    "service_role_key",
    "anon_key",
    "db_url",
    "read_only_db_url",
    "access_token",
    "project_ref",
}


@dataclass(frozen=True)
class Profile:
    """A named project: its URL, its service role key and optionally its database URL.

    Example:
        >>> p = profiles(env={"HYBRIDKIT_PROFILE_PROD_URL": "https://x.supabase.co",
        ...                   "HYBRIDKIT_PROFILE_PROD_SERVICE_ROLE_KEY": "k"}, file=None)["prod"]
        >>> p.service_role_key
        Secret('********')
    """

    name: str
    url: str | None
    service_role_key: Secret | None = None
    db_url: Secret | None = None
    source: str = "environment"


def profile_file(env: Mapping[str, str] | None = None) -> Path:
    """The profiles file: ``HYBRIDKIT_PROFILES``, else ``.hybridkit/profiles.toml`` here."""
    environ = os.environ if env is None else env
    return Path(environ.get("HYBRIDKIT_PROFILES") or ".hybridkit/profiles.toml").expanduser()


def _check_profile_name(name: str, where: str) -> str:
    if not _PROFILE_NAME.match(name):
        raise ConfigError(
            f"{where}: a profile name is lowercase letters, digits, '-' and '_', got {name!r}"
        )
    return name


def _profiles_from_file(path: Path, environ: Mapping[str, str]) -> dict[str, Profile]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the profiles file: {exc}") from None
    table = data.get("profiles", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [profiles] must be a table of [profiles.<name>] tables")
    out: dict[str, Profile] = {}
    for name, entry in table.items():
        _check_profile_name(name, str(path))
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        for inline in ("service_role_key", "db_url", "key", "anon_key"):
            if inline in entry:
                raise ConfigError(
                    f"{path}: [profiles.{name}] holds {inline} inline; secrets are never "
                    f'written in the profiles file: set {inline}_env = "NAME" to the name '
                    "of an environment variable holding it"
                )
        unknown = set(entry) - {"url", "service_role_key_env", "db_url_env"}
        if unknown:
            raise ConfigError(
                f"{path}: [profiles.{name}] has unknown key(s) {', '.join(sorted(unknown))}; "
                "known: url, service_role_key_env, db_url_env"
            )
        values: dict[str, Any] = {"url": entry.get("url")}
        for field_name in ("service_role_key", "db_url"):
            var = entry.get(f"{field_name}_env")
            if var is None:
                continue
            if not isinstance(var, str) or not environ.get(var):
                raise ConfigError(
                    f"{path}: [profiles.{name}] {field_name}_env names {var!r}, "
                    "which is not set in the environment"
                )
            values[field_name] = environ[var]
        out[name] = _profile(name, values, f"{path}")
    return out


def _profile(name: str, values: Mapping[str, Any], source: str) -> Profile:
    url = values.get("url")
    if url is not None:
        parts = urlsplit(str(url).strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"profile {name} ({source}): url must be an http(s) URL")
        url = str(url).strip().rstrip("/")
    key = values.get("service_role_key")
    db = values.get("db_url")
    if db is not None and not _is_dsn(str(db)):
        raise ConfigError(f"profile {name} ({source}): db_url must be a PostgreSQL URL")
    return Profile(
        name,
        url,
        Secret(str(key).strip()) if key else None,
        _SecretURL(str(db)) if db else None,
        source,
    )


def profiles(
    *, env: Mapping[str, str] | None = None, file: str | os.PathLike[str] | bool | None = True
) -> dict[str, Profile]:
    """Every named profile: the profiles file's, then ``HYBRIDKIT_PROFILE_<NAME>_*``'s.

    Environment variables win over the file, field by field, as rclone's
    ``RCLONE_CONFIG_<NAME>_*`` do. ``<NAME>`` is the profile's name upper-cased
    (``HYBRIDKIT_PROFILE_STAGING_URL`` names ``staging``).

    Args:
        env: the environment (default ``os.environ``).
        file: the profiles file; True: :func:`profile_file`; None: none.

    Raises:
        ConfigError: a malformed file or value, or a key written inline in the file.
    """
    environ = os.environ if env is None else env
    path = profile_file(environ) if file is True else (Path(file) if file else None)
    found = _profiles_from_file(path, environ) if path is not None and path.is_file() else {}
    from_env: dict[str, dict[str, Any]] = {}
    for var, value in environ.items():
        if not var.startswith(PROFILE_PREFIX) or not value:
            continue
        rest = var[len(PROFILE_PREFIX) :]
        for suffix, field_name in _PROFILE_FIELDS.items():
            if rest.endswith("_" + suffix) and len(rest) > len(suffix) + 1:
                name = rest[: -len(suffix) - 1].lower()
                _check_profile_name(name, var)
                from_env.setdefault(name, {})[field_name] = value
                break
    for name, values in from_env.items():
        base = found.get(name)
        merged: dict[str, Any] = {}
        if base is not None:
            merged = {
                "url": base.url,
                "service_role_key": base.service_role_key.get_secret_value()
                if base.service_role_key
                else None,
                "db_url": base.db_url.get_secret_value() if base.db_url else None,
            }
        if "supabase_url" in values:
            merged["url"] = values["supabase_url"]
        for field_name in ("service_role_key", "db_url"):
            if field_name in values:
                merged[field_name] = values[field_name]
        source = "environment" if base is None else f"{base.source} + environment"
        found[name] = _profile(name, merged, source)
    return dict(sorted(found.items()))


def settings_for_profile(
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    file: str | os.PathLike[str] | bool | None = True,
) -> Settings:
    """The settings of profile ``name``: its URL and keys, the environment's tuning.

    Nothing of the default project (``SUPABASE_URL``, its keys, its database URL)
    is carried over; the retry, timeout and deadline settings are.

    Raises:
        ConfigError: no such profile, or it has no URL or no service role key.
    """
    environ = os.environ if env is None else env
    known = profiles(env=environ, file=file)
    profile = known.get(name)
    if profile is None:
        names = ", ".join(known) or "none"
        raise ConfigError(
            f"no profile {name!r} (known: {names}); define it with "
            f"{PROFILE_PREFIX}{name.upper()}_URL and _SERVICE_ROLE_KEY, "
            "or in the profiles file (docs/sync.md); the default project's paths are "
            "written with three slashes, ss:///bucket/path"
        )
    if not profile.url or not profile.service_role_key:
        raise ConfigError(f"profile {name!r} needs both a URL and a service role key")
    tuning = {
        v: environ[v] for f, v in ENV_VARS.items() if f not in _TARGET_FIELDS and v in environ
    }
    return Settings.load(
        env=tuning,
        env_file=None,
        supabase_url=profile.url,
        service_role_key=profile.service_role_key,
        db_url=profile.db_url,
    )
