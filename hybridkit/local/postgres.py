"""The local stack's private PostgreSQL cluster: find the binaries, initdb, start, stop, bootstrap.

The cluster lives in the stack's state folder, listens on 127.0.0.1 only (plus a
unix socket inside the state folder), and is bootstrapped with the Supabase
baseline (``sql/*.sql``, run in name order at every start; each file is idempotent).

PostgreSQL refuses to run as root. When hybridkit runs as root (containers, CI),
the cluster's files are owned by, and its processes run as, the ``postgres``
system user when it exists, else ``nobody``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hybridkit.local.config import LocalEnv

__all__ = [
    "INSTALL_HINT",
    "PG_BIN_ENV",
    "Cluster",
    "PostgresError",
    "find_pg_bin",
    "free_port",
    "port_is_free",
]

PG_BIN_ENV = "HYBRIDKIT_PG_BIN"
DB_USER = "postgres"
DB_PASSWORD = "postgres"  # the Supabase CLI's local default; the cluster listens on loopback only

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them — "
    "Debian/Ubuntu: `sudo apt-get install -y postgresql`; Fedora: `sudo dnf install "
    "postgresql-server`; macOS: `brew install postgresql@16` — or point "
    f"{PG_BIN_ENV} at the folder that holds initdb and pg_ctl "
    "(e.g. /usr/lib/postgresql/15/bin)."
)


class PostgresError(Exception):
    """The cluster cannot be found, initialised, started or bootstrapped."""


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); newest first when sorted in reverse
    numbers = re.findall(r"\d+", path.parent.name)
    return tuple(int(n) for n in numbers) or (0,)


def _has_server_binaries(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_pg_bin(environ: Mapping[str, str] | None = None) -> Path:
    """Locate the folder with ``initdb`` and ``pg_ctl``.

    Order: the ``HYBRIDKIT_PG_BIN`` environment variable, then ``PATH``, then
    ``/usr/lib/postgresql/*/bin`` (newest version first).

    Raises:
        PostgresError: nothing usable was found; the message says how to install it.
    """
    override = LocalEnv.read(environ).pg_bin
    path = None if environ is None else environ.get("PATH")  # None: shutil.which's own PATH
    if override:
        folder = Path(override).expanduser()
        if _has_server_binaries(folder):
            return folder
        raise PostgresError(
            f"{PG_BIN_ENV}={override} does not hold initdb, pg_ctl and postgres; "
            "point it at PostgreSQL's bin folder (e.g. /usr/lib/postgresql/15/bin)"
        )
    on_path = shutil.which("pg_ctl", path=path)
    if on_path and _has_server_binaries(Path(on_path).parent):
        return Path(on_path).parent
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server_binaries(p)]
    for extra in ("/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"):
        if _has_server_binaries(Path(extra)):
            candidates.append(Path(extra))
    if candidates:
        return sorted(candidates, key=_version_key, reverse=True)[0]
    raise PostgresError(INSTALL_HINT)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str


def _run_as() -> _RunAs | None:
    """The unprivileged user to run PostgreSQL as, when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(entry.pw_uid, entry.pw_gid, name)
    raise PostgresError(
        "PostgreSQL cannot run as root and neither a 'postgres' nor a 'nobody' user exists; "
        "run hybridkit as an ordinary user"
    )


class Cluster:
    """A private PostgreSQL cluster under ``root``.

    Example:
        >>> cluster = Cluster(Path(".hybridkit/local"), port=54322)  # doctest: +SKIP
        >>> cluster.ensure_initialized(); cluster.start(); cluster.bootstrap()  # doctest: +SKIP
    """

    def __init__(self, root: Path, port: int, bin_dir: Path | None = None) -> None:
        self.root = root
        self.port = port
        self.bin_dir = bin_dir if bin_dir is not None else find_pg_bin()
        self._user = _run_as()
        self.pg_root = root / "postgres"
        self._postmaster_pid: int | None = None

    # The resolved paths: as root, the PostgreSQL user may reach them only through
    # the real folder, not through the symlink in the state folder.
    @property
    def data_dir(self) -> Path:
        return self.pg_root.resolve() / "data"

    @property
    def socket_dir(self) -> Path:
        return self.pg_root.resolve() / "run"

    @property
    def log_file(self) -> Path:
        return self.pg_root.resolve() / "postgres.log"

    @property
    def dsn(self) -> str:
        """The superuser URL (the same shape as the CLI's ``DB_URL``)."""
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/postgres"

    # -- processes -----------------------------------------------------------------

    def _run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._user is not None:
            kwargs = {"user": self._user.uid, "group": self._user.gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        proc: subprocess.CompletedProcess[str] = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd="/",
            **kwargs,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            last = detail[-1] if detail else f"exit status {proc.returncode}"
            raise PostgresError(f"{Path(args[0]).name} failed: {last}")
        return proc

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.uid, self._user.gid)

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def _prepare_root(self) -> None:
        """Create ``root/postgres`` where the PostgreSQL user can reach it.

        As root, the unprivileged user must be able to traverse every parent
        folder; when it cannot (``/root`` or pytest's 0700 temp folders), the
        cluster lives under /var/lib/hybridkit and ``root/postgres`` links to it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        if self.pg_root.exists() or self.pg_root.is_symlink():
            return
        if self._user is None or _traversable(self.root.resolve(), self._user):
            self.pg_root.mkdir()
        else:
            _sweep_abandoned_clusters()
            digest = hashlib.sha1(str(self.root.resolve()).encode()).hexdigest()[:16]
            outside = OUTSIDE_CLUSTERS / digest
            outside.mkdir(parents=True, exist_ok=True)
            for parent in (outside, *outside.parents[:2]):
                parent.chmod(parent.stat().st_mode | 0o011)
            # Link first, then name the owner: a concurrent sweep skips a cluster
            # with no owner file, so it can never take one being set up.
            self.pg_root.symlink_to(outside, target_is_directory=True)
            (outside / "owner").write_text(str(self.pg_root.absolute()))
        self._chown(self.pg_root.resolve())

    def remove(self) -> None:
        """Delete the cluster's files (the server must be stopped)."""
        target = self.pg_root.resolve()
        if self.pg_root.is_symlink():
            self.pg_root.unlink()
        shutil.rmtree(target, ignore_errors=True)

    def ensure_initialized(self) -> bool:
        """Run initdb when the cluster does not exist yet; True when it did."""
        self._prepare_root()
        for folder in (self.socket_dir,):
            folder.mkdir(exist_ok=True)
            self._chown(folder)
            folder.chmod(0o700)
        self.log_file.touch(exist_ok=True)
        self._chown(self.log_file)
        if self.initialized:
            return False
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted initdb
        self.data_dir.mkdir(mode=0o700)
        self._chown(self.data_dir)
        pwfile = self.socket_dir / "pwfile"
        pwfile.write_text(DB_PASSWORD + "\n")
        self._chown(pwfile)
        try:
            self._run(
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", DB_USER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--locale=C",
                "--no-instructions",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        return True

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        proc = self._run(
            str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir), check=False
        )
        return proc.returncode == 0

    def _major_version(self) -> int:
        """The cluster's PostgreSQL major version (from ``PG_VERSION``; 0 if unreadable)."""
        try:
            return int((self.data_dir / "PG_VERSION").read_text().strip().split(".")[0])
        except (OSError, ValueError):
            return 0

    def start(self, timeout: float = 60) -> None:
        """Start the server (pg_ctl waits until it accepts connections)."""
        if self.is_running():
            return
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories='{self.socket_dir}'",
                "-c max_connections=60",
                "-c shared_buffers=64MB",
                "-c wal_level=logical",
                # As Supabase's servers: EXPLAIN's settings and VERBOSE's Query
                # Identifier (pg_stat_statements turns the latter on there).
                "-c effective_cache_size=128MB",
                *(["-c compute_query_id=on"] if self._major_version() >= 14 else []),
            ]
        )
        try:
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", str(int(timeout)), "-o", options,
                timeout=timeout + 10,
            )  # fmt: skip
        except PostgresError as exc:
            raise PostgresError(f"{exc}; see {self.log_file} — {self._log_tail()}") from None
        with contextlib.suppress(OSError, ValueError, IndexError):
            self._postmaster_pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def stop(self, timeout: float = 30) -> None:
        """Stop the server if it runs (fast shutdown: open transactions roll back)."""
        if not self.data_dir.is_dir() and self._postmaster_pid is not None:
            # The state folder was deleted under a running server: signal it directly.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._postmaster_pid, signal.SIGINT)
            return
        if not self.is_running():
            return
        self._run(
            str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast",
            "-w", "-t", str(int(timeout)), timeout=timeout + 10,
        )  # fmt: skip

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if ln]
            if lines:
                return lines[-1]
        return "no log output"

    # -- schema --------------------------------------------------------------------

    def bootstrap(self, attempts: int = 20) -> None:
        """Apply the Supabase baseline (every ``sql/*.sql`` file, in name order)."""
        import psycopg

        last: Exception | None = None
        for _ in range(attempts):
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    for name, sql in _baseline_files():
                        try:
                            conn.execute(sql.encode())
                        except psycopg.Error as exc:
                            raise PostgresError(f"bootstrap {name} failed: {exc}") from None
                return
            except psycopg.OperationalError as exc:  # the server is still starting
                last = exc
                time.sleep(0.25)
        raise PostgresError(f"cannot connect to the local PostgreSQL on port {self.port}: {last}")


OUTSIDE_CLUSTERS = Path("/var/lib/hybridkit/clusters")


def _sweep_abandoned_clusters() -> None:
    """Delete clusters under OUTSIDE_CLUSTERS whose state folder is gone.

    A state folder deleted by hand (or a test's temporary folder cleaned up)
    takes only its ``postgres`` link with it; the cluster it pointed to is swept
    here, the next time a cluster is placed outside its state folder.
    """
    if not OUTSIDE_CLUSTERS.is_dir():
        return
    for cluster in OUTSIDE_CLUSTERS.iterdir():
        try:
            link = Path((cluster / "owner").read_text().strip())
        except OSError:
            continue
        if link.is_symlink() and link.resolve() == cluster.resolve():
            continue  # still owned
        pid_file = cluster / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)  # an orphaned server: fast shutdown first
                time.sleep(0.5)
        shutil.rmtree(cluster, ignore_errors=True)


def _traversable(path: Path, user: _RunAs) -> bool:
    """Whether ``user`` may enter ``path`` and every folder above it."""
    for folder in (path, *path.parents):
        st = folder.stat()
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _baseline_files() -> Iterator[tuple[str, str]]:
    folder = resources.files("hybridkit.local") / "sql"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            yield entry.name, entry.read_text(encoding="utf-8")
