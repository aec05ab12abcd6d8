"""``LocalStack``: start, stop, inspect and reset an embedded local stack.

The stack runs in a background process (``hybridkit.local.server``) so that it
outlives the command that started it, as ``supabase start`` does. The same code
path serves the CLI, the tests and the notebooks.

Example:
    >>> with LocalStack(port=0) as stack:  # doctest: +SKIP
    ...     client = supabase.create_client(stack.url, stack.service_role_key)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hybridkit.errors import LocalStackError
from hybridkit.local.state import StackConfig, StackState, StatePaths, pid_alive

__all__ = ["DEFAULT_DIR", "DEFAULT_PORT", "LocalStack", "StackStatus"]

DEFAULT_DIR = Path(".hybridkit/local")
DEFAULT_PORT = 54321


@dataclass(frozen=True)
class StackStatus:
    """What ``hybridkit local status`` reports."""

    running: bool
    detail: str
    state: StackState | None = None


class LocalStack:
    """An embedded, Supabase-compatible local stack in a state folder.

    Args:
        dir: the state folder; ``None`` makes a temporary one, removed on exit.
        port: the API port on 127.0.0.1; ``None`` (the default) is the port this stack
            listened on last, and 54321 (the Supabase CLI's) for a new stack; 0 picks a
            free one.
        random_secret: sign keys with a fresh random JWT secret instead of the CLI's demo one
            (only at the stack's first start; later starts keep the keys).
        start_timeout: seconds to wait for the stack to become healthy.
    """

    def __init__(
        self,
        dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        random_secret: bool = False,
        start_timeout: float = 120.0,
    ) -> None:
        self._ephemeral = dir is None
        root = Path(tempfile.mkdtemp(prefix="hybridkit-")) if dir is None else Path(dir)
        self.paths = StatePaths(root.expanduser().absolute())
        self.port = port
        self.random_secret = random_secret
        self.start_timeout = start_timeout
        self._started_here = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self, *, exit_with_this_process: bool = False) -> StackState:
        """Start the stack in the background and return once it is healthy.

        Args:
            exit_with_this_process: stop the stack when this Python process ends, even
                if it is killed (what ``with LocalStack(...)`` uses); by default the
                stack outlives the process that started it, like ``supabase start``.

        Raises:
            LocalStackError: it is already running, the port is taken, PostgreSQL is
                missing, or it did not become healthy in time; the message says which.
        """
        current = self.status()
        if current.running and current.state is not None:
            raise LocalStackError(
                f"the local stack is already running at {current.state.url} "
                f"(pid {current.state.pid}, state folder {self.paths.root})"
            )
        if (
            importlib.util.find_spec("starlette") is None
            or importlib.util.find_spec("uvicorn") is None
        ):
            raise LocalStackError(
                "the local stack's server is not installed; run: pip install 'hybridkit[local]'"
            )
        self.paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths.error.unlink(missing_ok=True)
        command = [sys.executable, "-m", "hybridkit.local.server", "--dir", str(self.paths.root)]
        if self.port is not None:  # else the server keeps the stack's own port
            command += ["--port", str(self.port)]
        if self.random_secret:
            command.append("--random-secret")
        if exit_with_this_process:
            command += ["--exit-with", str(os.getpid())]
        with open(self.paths.log, "ab") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # outlives the terminal that started it
                close_fds=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalStackError(self._failure_reason(proc.returncode))
            state = StackState.read(self.paths.state)
            if state is not None and state.pid == proc.pid and _healthy(state.url):
                self._started_here = True
                return state
            time.sleep(0.1)
        proc.terminate()
        raise LocalStackError(
            f"the local stack did not become healthy within {self.start_timeout:.0f} s; "
            f"see {self.paths.log}"
        )

    def ensure_running(self) -> StackState:
        """Attach to the stack when it runs, else start it (what runbooks do by default).

        A new stack with no port asked for takes 54321 when it is free and a free port
        otherwise (another stack, or the Supabase CLI's, may hold 54321); later starts
        keep whichever it got.
        """
        current = self.status()
        if current.running and current.state is not None:
            return current.state
        if self.port is None and self._remembered_port() is None:
            from hybridkit.local.postgres import port_is_free

            if not port_is_free(DEFAULT_PORT):
                return LocalStack(
                    self.paths.root,
                    port=0,
                    random_secret=self.random_secret,
                    start_timeout=self.start_timeout,
                ).start()
        return self.start()

    def _remembered_port(self) -> int | None:
        with contextlib.suppress(LocalStackError):
            return self._config().api_port
        return None

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the stack; False when it was not running."""
        pid = self._server_pid()
        if pid is None:
            self.paths.state.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            self._stop_orphaned_postgres()
        self.paths.state.unlink(missing_ok=True)
        return True

    def reset(self) -> bool:
        """Delete every bucket, object and table: stop, wipe the data, keep the keys.

        Returns True when the stack was running (it is started again, on the port it
        had: the configuration, which keeps the keys and ports, survives a reset).
        """
        was_running = self.stop()
        self._stop_orphaned_postgres()
        for name in ("postgres", "storage"):
            target = self.paths.root / name
            if target.is_symlink():
                real = target.resolve()
                target.unlink()
                shutil.rmtree(real, ignore_errors=True)
            elif target.exists():
                shutil.rmtree(target)
        if was_running:
            self.start()
        return was_running

    def status(self) -> StackStatus:
        """Whether the stack runs, and where."""
        if not self.paths.root.is_dir():
            return StackStatus(
                False,
                (f"no local stack in {self.paths.root}; start one with `hybridkit local start`"),
            )
        state = StackState.read(self.paths.state)
        pid = self._server_pid()
        if pid is None:
            stale = " (a stale state file was left by a crashed run)" if state else ""
            return StackStatus(
                False,
                f"the local stack in {self.paths.root} is stopped{stale}; "
                "start it with `hybridkit local start`",
            )
        if state is None or state.pid != pid:
            return StackStatus(
                False, f"the local stack in {self.paths.root} is starting (pid {pid})"
            )
        if not _healthy(state.url):
            return StackStatus(
                False, f"the local stack (pid {pid}) does not answer at {state.url}", state
            )
        return StackStatus(True, f"the local stack is running at {state.url} (pid {pid})", state)

    def __enter__(self) -> LocalStack:
        self.start(exit_with_this_process=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started_here:
            self.stop()
        if self._ephemeral:
            self._stop_orphaned_postgres()
            self.reset_files()

    def reset_files(self) -> None:
        """Remove the whole state folder (the stack must be stopped)."""
        cluster_link = self.paths.root / "postgres"
        if cluster_link.is_symlink():
            shutil.rmtree(cluster_link.resolve(), ignore_errors=True)
        shutil.rmtree(self.paths.root, ignore_errors=True)

    # -- what clients need ---------------------------------------------------------------

    def _running_state(self) -> StackState:
        state = StackState.read(self.paths.state)
        if state is None or self._server_pid() is None:
            raise LocalStackError(
                f"the local stack in {self.paths.root} is not running; "
                "start it with `hybridkit local start`"
            )
        return state

    def _config(self) -> StackConfig:
        try:
            return StackConfig.from_json(json.loads(self.paths.config.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            raise LocalStackError(
                f"no local stack configuration in {self.paths.root}; start it first"
            ) from None

    @property
    def url(self) -> str:
        return self._running_state().url

    @property
    def db_url(self) -> str:
        return self._running_state().db_url

    @property
    def anon_key(self) -> str:
        return self._config().keys.anon_key

    @property
    def service_role_key(self) -> str:
        return self._config().keys.service_role_key

    @property
    def jwt_secret(self) -> str:
        return self._config().keys.jwt_secret

    @property
    def access_token(self) -> str:
        return self._config().keys.access_token

    def env(self) -> dict[str, str]:
        """The settings a client needs, named as hybridkit's configuration reads them."""
        state = self._running_state()
        keys = self._config().keys
        return {
            "SUPABASE_URL": state.url,
            "SUPABASE_ANON_KEY": keys.anon_key,
            "SUPABASE_SERVICE_ROLE_KEY": keys.service_role_key,
            "SUPABASE_DB_URL": state.db_url,
            "SUPABASE_JWT_SECRET": keys.jwt_secret,
            # The Management API subset under /v1 answers to the project ref "local".
            "SUPABASE_ACCESS_TOKEN": keys.access_token,
            "SUPABASE_PROJECT_REF": "local",
            "SUPABASE_MANAGEMENT_URL": state.url,
        }

    # -- helpers -----------------------------------------------------------------------------

    def _server_pid(self) -> int | None:
        """The pid of a live server holding this folder's lock, if any."""
        try:
            text = self.paths.lock.read_text().strip()
        except OSError:
            return None
        if not text.isdigit() or not pid_alive(int(text)):
            return None
        try:  # the lock file names the last holder; check it still holds the lock
            import fcntl

            with open(self.paths.lock) as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            return None  # nobody holds it: a stale pid
        except OSError:
            return int(text)

    def _stop_orphaned_postgres(self) -> None:
        """Stop a PostgreSQL left running by a server that was killed."""
        from hybridkit.local.postgres import Cluster, PostgresError, find_pg_bin

        if not (self.paths.root / "postgres").exists():
            return
        with contextlib.suppress(PostgresError, OSError, subprocess.SubprocessError):
            Cluster(self.paths.root, 0, find_pg_bin()).stop()

    def _failure_reason(self, returncode: int) -> str:
        try:
            line = self.paths.error.read_text().strip()
        except OSError:
            line = ""
        if line:
            return line
        tail = ""
        with contextlib.suppress(OSError):
            lines = [ln for ln in self.paths.log.read_text(errors="replace").splitlines() if ln]
            tail = lines[-1] if lines else ""
        return (
            f"the local stack exited with status {returncode} while starting: {tail} "
            f"(see {self.paths.log})"
        )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
