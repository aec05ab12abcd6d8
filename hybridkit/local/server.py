"""The local stack's server process: ``python -m hybridkit.local.server --dir DIR --port PORT``.

``LocalStack.start()`` runs this in the background. It holds the state folder's
lock, starts (and on first use creates) the private PostgreSQL cluster, binds
the HTTP port on 127.0.0.1, serves the app with uvicorn, and announces itself in
``state.json`` once healthy. On SIGTERM/SIGINT it shuts down uvicorn, then
PostgreSQL. If the state folder disappears while it runs, it stops by itself.
A failure before it is ready is written as one line to ``server.error``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from hybridkit.local.auth import generate_keys
from hybridkit.local.config import LocalEnv
from hybridkit.local.postgres import Cluster, PostgresError, find_pg_bin, free_port, port_is_free
from hybridkit.local.state import (
    StackConfig,
    StackState,
    StatePaths,
    pid_alive,
    write_json_atomic,
)

__all__ = ["main"]

DEFAULT_API_PORT = 54321
DEFAULT_DB_PORT = 54322


class StartupError(Exception):
    """A reason the server cannot start, said in one line."""


def _lock(paths: StatePaths) -> IO[str]:
    handle = open(paths.lock, "a+")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StartupError(f"a local stack is already running from {paths.root}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _load_config(paths: StatePaths, random_secret: bool, api_port: int) -> StackConfig:
    if paths.config.is_file():
        try:
            return StackConfig.from_json(json.loads(paths.config.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise StartupError(
                f"{paths.config} is damaged ({exc}); run `hybridkit local reset` to start afresh"
            ) from None
    if api_port == DEFAULT_API_PORT and port_is_free(DEFAULT_DB_PORT):
        db_port = DEFAULT_DB_PORT  # the CLI's default, so its docs' DB URL works
    else:
        db_port = free_port()
    config = StackConfig(keys=generate_keys(random_secret=random_secret), db_port=db_port)
    write_json_atomic(paths.config, config.to_json(), private=True)
    return config


def _private_mode(root: Path) -> int:
    """0700, or 0711 when a cluster inside the folder runs as another user (as root,
    PostgreSQL runs as ``postgres``): it may pass through, not list. A cluster made
    by an older version lives there; new ones go under /var/lib/hybridkit instead."""
    cluster = root / "postgres"
    with contextlib.suppress(OSError):
        if not cluster.is_symlink() and cluster.is_dir() and cluster.stat().st_uid != os.getuid():
            return 0o711
    return 0o700


def _remembered_port(paths: StatePaths) -> int:
    """The API port this stack listened on last (54321 for a new stack)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        config = StackConfig.from_json(json.loads(paths.config.read_text()))
        if config.api_port:
            return config.api_port
    return DEFAULT_API_PORT


def _remember_port(paths: StatePaths, config: StackConfig, port: int) -> StackConfig:
    if config.api_port == port:
        return config
    config = dataclasses.replace(config, api_port=port)
    write_json_atomic(paths.config, config.to_json(), private=True)
    return config


def _bind(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket says it is TCP; without it each response waits ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on 127.0.0.1 is already in use; stop what uses it "
                "or pick another with --port (--port 0 picks a free one)"
            ) from None
        raise StartupError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _start_cluster(paths: StatePaths, config: StackConfig) -> Cluster:
    try:
        cluster = Cluster(paths.root, config.db_port, find_pg_bin())
        cluster.ensure_initialized()
        if not cluster.is_running() and not port_is_free(config.db_port):
            raise StartupError(
                f"the database port {config.db_port} on 127.0.0.1 is in use by something else; "
                "free it, or run `hybridkit local reset` to pick new ports"
            )
        cluster.start()
        cluster.bootstrap()
    except PostgresError as exc:
        raise StartupError(str(exc)) from None
    return cluster


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (it is with ``hybridkit[local]``).

    libuv's loop halves the per-request and per-read cost of the standard one,
    which on a small machine is most of what a chunked upload spends besides
    copying bytes. ``HYBRIDKIT_LOCAL_LOOP=asyncio`` keeps the standard loop.
    """
    if LocalEnv.read().standard_loop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _http_protocol() -> Any:
    """The HTTP protocol: httptools with a cap on request heads (431), else h11's own cap."""
    try:
        from hybridkit.local.httplimits import CappedHttpTools
    except ImportError:  # no httptools: h11 refuses heads over h11_max_incomplete_event_size
        return "h11"
    return CappedHttpTools


async def _serve(
    sock: socket.socket,
    paths: StatePaths,
    config: StackConfig,
    cluster: Cluster,
    owner_pid: int | None = None,
) -> None:
    import uvicorn

    from hybridkit.local.app import create_app
    from hybridkit.local.config import ServerConfig

    port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    loop = type(asyncio.get_running_loop())
    print(f"serving on {url} ({loop.__module__}.{loop.__qualname__})", file=sys.stderr)
    paths.storage.mkdir(exist_ok=True)
    env = LocalEnv.read()
    app = create_app(
        ServerConfig(
            db_dsn=cluster.dsn,
            data_dir=paths.storage,
            keys=config.keys,
            public_url=url,
            max_rows=env.max_rows,
            strict_chunked_uploads=env.strict_chunked_uploads,
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
            h11_max_incomplete_event_size=1024 * 1024,
            http=_http_protocol(),
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise StartupError("the HTTP server stopped while starting; see server.log")
        await asyncio.sleep(0.05)
    state = StackState(
        pid=os.getpid(),
        port=port,
        db_port=config.db_port,
        url=url,
        db_url=cluster.dsn,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_json_atomic(paths.state, dataclasses.asdict(state))
    paths.error.unlink(missing_ok=True)
    while not task.done():
        if not paths.root.is_dir():  # the state folder was deleted under us
            print("state folder removed; shutting down", file=sys.stderr)
            server.should_exit = True
        if owner_pid is not None and not pid_alive(owner_pid):
            # A `with LocalStack()` block whose process died without leaving it
            # (a killed test run, a crashed kernel): do not linger as an orphan.
            print(f"owner process {owner_pid} is gone; shutting down", file=sys.stderr)
            server.should_exit = True
        await asyncio.wait({task}, timeout=2)
    await task


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hybridkit.local.server")
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument(
        "--port", type=int, default=None, help="default: the port this stack used last, else 54321"
    )
    parser.add_argument("--random-secret", action="store_true")
    parser.add_argument(
        "--exit-with", type=int, metavar="PID", help="stop when the process PID has gone"
    )
    args = parser.parse_args(argv)
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default
    # handler that would kill this process before the `finally` below stops PostgreSQL.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # Private objects, the database and state.json (its superuser URL) are nobody else's:
    # everything this process creates is 0600/0700 whatever the caller's umask.
    os.umask(0o077)
    paths = StatePaths(args.dir.resolve())
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.root.chmod(_private_mode(paths.root))
    with contextlib.suppress(OSError):  # an older version made it 0755: objects are private
        paths.storage.chmod(0o700)
    for made_outside in (paths.log, paths.config, paths.state):  # opened by the caller, or older
        with contextlib.suppress(OSError):
            made_outside.chmod(0o600)
    cluster: Cluster | None = None
    lock: IO[str] | None = None
    try:
        lock = _lock(paths)
        paths.state.unlink(missing_ok=True)  # a stale announcement from a crashed run
        port = args.port
        if port is None:
            port = _remembered_port(paths)
        config = _load_config(paths, args.random_secret, port)
        sock = _bind(port)
        config = _remember_port(paths, config, int(sock.getsockname()[1]))
        cluster = _start_cluster(paths, config)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve(sock, paths, config, cluster, args.exit_with))
        return 0
    except StartupError as exc:
        with contextlib.suppress(OSError):
            paths.error.write_text(str(exc) + "\n")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        message = (
            f"the local stack needs {exc.name}; install it with: pip install 'hybridkit[local]'"
        )
        with contextlib.suppress(OSError):
            paths.error.write_text(message + "\n")
        print(f"error: {message}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        with contextlib.suppress(OSError):
            if paths.root.is_dir():
                paths.state.unlink(missing_ok=True)
        if lock is not None:
            lock.close()


if __name__ == "__main__":
    sys.exit(main())
