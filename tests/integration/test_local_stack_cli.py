"""``hybridkit local …`` as a user meets it: real processes, real PostgreSQL, real ports.

Each test uses its own state folder and free ports, so it does not touch the
session stack the other tests share.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hybridkit.local import DEMO_ANON_KEY, DEMO_SERVICE_ROLE_KEY, LocalStack
from hybridkit.local.state import pid_alive


def hybridkit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybridkit", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "stack"
    yield folder
    LocalStack(folder).stop()
    LocalStack(folder).reset_files()


def started(folder: Path) -> str:
    result = hybridkit("local", "start", "--dir", str(folder), "--port", "0")
    assert result.returncode == 0, result.stderr
    assert "local stack running at http://127.0.0.1:" in result.stdout
    return LocalStack(folder).url


def test_start_status_env_stop(state_dir: Path) -> None:
    url = started(state_dir)
    assert httpx.get(f"{url}/health").status_code == 200

    status = hybridkit("local", "status", "--dir", str(state_dir))
    assert status.returncode == 0
    assert url in status.stdout

    env = hybridkit("local", "env", "--dir", str(state_dir))
    assert env.returncode == 0
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in env.stdout.strip().splitlines()
    )
    assert exports["SUPABASE_URL"] == url
    assert exports["SUPABASE_ANON_KEY"] == DEMO_ANON_KEY
    assert exports["SUPABASE_SERVICE_ROLE_KEY"] == DEMO_SERVICE_ROLE_KEY
    assert exports["SUPABASE_DB_URL"].startswith("postgresql://postgres:postgres@127.0.0.1:")

    db_port = LocalStack(state_dir).status().state.db_port  # type: ignore[union-attr]
    stop = hybridkit("local", "stop", "--dir", str(state_dir))
    assert stop.returncode == 0 and "stopped" in stop.stdout
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)
    # ... and its PostgreSQL stopped with it
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", db_port)) != 0
    status = hybridkit("local", "status", "--dir", str(state_dir))
    assert status.returncode == 1 and "stopped" in status.stdout


def test_starting_twice_and_stopping_twice_explain_themselves(state_dir: Path) -> None:
    url = started(state_dir)
    again = hybridkit("local", "start", "--dir", str(state_dir), "--port", "0")
    assert again.returncode == 0
    assert again.stdout.startswith("already running") and url in again.stdout
    assert "Traceback" not in again.stderr

    assert hybridkit("local", "stop", "--dir", str(state_dir)).returncode == 0
    twice = hybridkit("local", "stop", "--dir", str(state_dir))
    assert twice.returncode == 0
    assert "already stopped" in twice.stdout
    assert "Traceback" not in twice.stderr


def test_port_in_use_is_one_line(state_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = hybridkit("local", "start", "--dir", str(state_dir), "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already in use; stop what uses it "
        "or pick another with --port (--port 0 picks a free one)"
    )


def test_stale_pid_after_a_crash_is_recovered(state_dir: Path) -> None:
    started(state_dir)
    pid = int((state_dir / "server.lock").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    status = hybridkit("local", "status", "--dir", str(state_dir))
    assert status.returncode == 1
    assert "stale state file" in status.stdout
    # Starting again works: the stale pid and state are recognised, PostgreSQL is reused.
    url = started(state_dir)
    assert httpx.get(f"{url}/health").status_code == 200


def test_deleted_state_folder(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    started(folder)
    pid = int((folder / "server.lock").read_text())
    cluster = (folder / "postgres").resolve()
    shutil.rmtree(folder)
    # The server notices and shuts itself down (and its PostgreSQL).
    deadline = time.monotonic() + 20
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pid)
    shutil.rmtree(cluster, ignore_errors=True)

    for action in ("status", "stop", "env"):
        result = hybridkit("local", action, "--dir", str(folder))
        assert "Traceback" not in result.stderr
        assert len((result.stdout + result.stderr).strip().splitlines()) == 1
        assert "no local stack" in (result.stdout + result.stderr)


def test_data_survives_stop_and_start(state_dir: Path) -> None:
    import psycopg

    started(state_dir)
    stack = LocalStack(state_dir)
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute("create table public.kept (v text)")
        conn.execute("insert into public.kept values ('still here')")
    assert hybridkit("local", "stop", "--dir", str(state_dir)).returncode == 0
    started(state_dir)
    with psycopg.connect(stack.db_url) as conn:
        assert conn.execute("select v from public.kept").fetchall() == [("still here",)]


def test_reset_needs_confirmation_then_wipes(state_dir: Path) -> None:
    import psycopg

    url = started(state_dir)  # on a free port: never 54321, which a user's stack may hold
    stack = LocalStack(state_dir)
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute("create table public.doomed (v int)")

    refused = hybridkit("local", "reset", "--dir", str(state_dir))
    assert refused.returncode == 1
    assert "pass --yes" in refused.stderr
    with psycopg.connect(stack.db_url) as conn:  # nothing changed
        conn.execute("select 1 from public.doomed")

    done = hybridkit("local", "reset", "--dir", str(state_dir), "--yes")
    assert done.returncode == 0, done.stderr
    assert stack.url == url  # started again where the user's exports point
    with psycopg.connect(stack.db_url) as conn:
        exists = conn.execute("select to_regclass('public.doomed')").fetchone()
    assert exists == (None,)


def test_stop_then_start_keeps_the_stacks_own_port(state_dir: Path) -> None:
    url = started(state_dir)
    assert hybridkit("local", "stop", "--dir", str(state_dir)).returncode == 0
    again = hybridkit("local", "start", "--dir", str(state_dir))  # no --port
    assert again.returncode == 0, again.stderr
    assert LocalStack(state_dir).url == url
    assert f"running at {url}" in again.stdout


def test_bad_arguments_say_what_is_wrong() -> None:
    result = hybridkit("local", "start", "--port", "seventy")
    assert result.returncode == 2
    assert "--port must be a number, got 'seventy'" in result.stderr
    result = hybridkit("local", "start", "--port", "70000")
    assert result.returncode == 2
    assert "between 0 and 65535" in result.stderr


def test_missing_postgres_names_the_fix(tmp_path: Path) -> None:
    from hybridkit.local.postgres import INSTALL_HINT, PostgresError, find_pg_bin

    assert "apt-get install -y postgresql" in INSTALL_HINT

    with pytest.raises(PostgresError) as caught:
        find_pg_bin({"PATH": str(tmp_path), "HYBRIDKIT_PG_BIN": str(tmp_path)})
    assert "HYBRIDKIT_PG_BIN" in str(caught.value)
    assert "/usr/lib/postgresql/15/bin" in str(caught.value)


def test_a_with_block_killed_midway_leaves_no_orphan(tmp_path: Path) -> None:
    folder = tmp_path / "owned"
    script = (
        "import sys, time\n"
        "from hybridkit.local import LocalStack\n"
        f"with LocalStack({str(folder)!r}, port=0) as stack:\n"
        "    print(stack.url, flush=True)\n"
        "    time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        url = owner.stdout.readline().strip()
        assert httpx.get(f"{url}/health").status_code == 200
        server_pid = int((folder / "server.lock").read_text())
    finally:
        owner.kill()  # no __exit__: the stack must notice by itself
        owner.wait()
    deadline = time.monotonic() + 20
    while pid_alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(server_pid)
    assert LocalStack(folder).status().running is False
    LocalStack(folder).reset_files()


def test_a_stack_started_on_demand_avoids_a_taken_54321(state_dir: Path) -> None:
    from hybridkit.local.postgres import port_is_free

    holder = None
    if port_is_free(54321):  # else someone's stack holds it already: the case at hand
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 54321))
        holder.listen()
    try:
        state = LocalStack(state_dir).ensure_running()
        assert state.port != 54321
        assert LocalStack(state_dir).stop()
        again = LocalStack(state_dir).ensure_running()  # and keeps the port it got
        assert again.port == state.port
    finally:
        if holder is not None:
            holder.close()


def test_commands_default_to_the_local_stack(state_dir: Path, tmp_path: Path) -> None:
    # Like the Supabase CLI: with nothing configured, commands use the local stack.
    url = started(state_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    env["HYBRIDKIT_LOCAL_DIR"] = str(state_dir)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hybridkit", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    created = run("storage", "buckets", "create", "defaulted")
    assert created.returncode == 0, created.stderr
    assert f"target: the local stack at {url}" in created.stderr
    listed = run("storage", "buckets", "list")
    assert listed.returncode == 0 and "defaulted" in listed.stdout
    counted = run("sql", "select count(*) as n from storage.buckets where id = 'defaulted'")
    assert counted.returncode == 0, counted.stderr
    assert "1" in counted.stdout.split("-----")[-1]


def test_a_restart_sweeps_object_files_no_row_refers_to(state_dir: Path) -> None:
    # A crash between an upload's rename into objects/ and its row's commit leaves
    # a file nobody refers to; the next start removes it (if older than an hour).
    url = started(state_dir)
    stack = LocalStack(state_dir)
    headers = {"Authorization": f"Bearer {stack.service_role_key}"}
    storage = f"{url}/storage/v1"
    assert httpx.post(f"{storage}/bucket", json={"name": "kept"}, headers=headers).is_success
    res = httpx.post(f"{storage}/object/kept/a.txt", content=b"real", headers=headers)
    assert res.status_code == 200, res.text
    objects = state_dir / "storage" / "objects"
    real = [p for p in objects.rglob("*") if p.is_file()]
    assert len(real) == 1
    hour_ago = time.time() - 7200
    os.utime(real[0], (hour_ago, hour_ago))
    orphan = objects / "ab" / "ab000000-0000-4000-8000-000000000000"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"left by a crash")
    os.utime(orphan, (hour_ago, hour_ago))
    young = objects / "ab" / "ab000000-0000-4000-8000-000000000001"
    young.write_bytes(b"maybe committing right now")
    assert hybridkit("local", "stop", "--dir", str(state_dir)).returncode == 0

    storage = f"{started(state_dir)}/storage/v1"  # a new port
    deadline = time.monotonic() + 30
    while orphan.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not orphan.exists()
    assert young.exists() and real[0].exists()
    got = httpx.get(f"{storage}/object/kept/a.txt", headers=headers)
    assert (got.status_code, got.content) == (200, b"real")


def test_the_event_loop_is_uvloop_unless_asked_otherwise(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = started(state_dir)
    log = state_dir / "server.log"
    assert "(uvloop.Loop)" in log.read_text()
    assert hybridkit("local", "stop", "--dir", str(state_dir)).returncode == 0
    monkeypatch.setenv("HYBRIDKIT_LOCAL_LOOP", "asyncio")  # inherited by the server process
    url = started(state_dir)
    assert "(asyncio.unix_events._UnixSelectorEventLoop)" in log.read_text()
    assert httpx.get(f"{url}/health").status_code == 200
