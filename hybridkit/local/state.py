"""The files a local stack keeps in its state folder, and how they are read.

::

    <dir>/config.json     keys and ports chosen at the first start (mode 0600; survives stop/start)
    <dir>/state.json      written by the running server once it is healthy; removed when it stops
    <dir>/server.lock     held (flock) by the running server: a second server cannot start
    <dir>/server.log      the server's own log
    <dir>/server.error    the one-line reason the last start failed
    <dir>/postgres/       the PostgreSQL cluster (or a link to it, see postgres.py)
    <dir>/storage/        object bytes
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybridkit.local.auth import Keys

__all__ = ["StackConfig", "StackState", "StatePaths", "pid_alive", "write_json_atomic"]


# StatePaths' attribute -> its file under the stack's root.
_FILES = {
    "config": "config.json",
    "state": "state.json",
    "lock": "server.lock",
    "log": "server.log",
    "error": "server.error",
    "storage": "storage",
}


@dataclass(frozen=True)
class StatePaths:
    """Where each of a stack's files lives: the names in ``_FILES``, under ``root``."""

    root: Path
    config: Path = field(init=False)
    state: Path = field(init=False)
    lock: Path = field(init=False)
    log: Path = field(init=False)
    error: Path = field(init=False)
    storage: Path = field(init=False)

    def __post_init__(self) -> None:
        for name, file in _FILES.items():
            object.__setattr__(self, name, self.root / file)


@dataclass(frozen=True)
class StackConfig:
    """What a stack keeps across starts: its keys, its database port and its API port.

    ``api_port`` is the port the API last listened on, so that ``stop``/``start`` and
    ``reset`` come back where the user's exports point (``None`` in configs written
    before it was kept).
    """

    keys: Keys
    db_port: int
    api_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"keys": asdict(self.keys), "db_port": self.db_port}
        if self.api_port is not None:
            data["api_port"] = self.api_port
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackConfig:
        api_port = data.get("api_port")
        return cls(
            keys=Keys.from_json(data["keys"]),
            db_port=int(data["db_port"]),
            api_port=int(api_port) if api_port is not None else None,
        )


@dataclass(frozen=True)
class StackState:
    """What a running stack announces in ``state.json``."""

    pid: int
    port: int
    db_port: int
    url: str
    db_url: str
    started_at: str

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        try:
            data = json.loads(path.read_text())
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None


def write_json_atomic(path: Path, data: dict[str, Any], *, private: bool = True) -> None:
    """Write JSON so that a reader never sees half a file (0600: state.json holds a DB URL)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists (and is not a zombie we own)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still answers kill(0); reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
