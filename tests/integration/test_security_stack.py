"""The local stack's limits and walls (issue 13): head cap, private state on disk, the three
Storage roles, RLS on every TUS request, REST's key check and max-rows, dead pool connections."""

from __future__ import annotations

import base64
import socket
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from hybridkit.errors import InvalidInputError
from hybridkit.storage.transfer import check_bucket

if TYPE_CHECKING:
    from conftest import Target

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _state_dir(stack: Target, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hybridkit.local.state import StackState

    for folder in tmp_path_factory.getbasetemp().glob("stack*"):
        state = StackState.read(folder / "state.json")
        if state is not None and state.url == stack.url:
            return folder
    pytest.skip("needs the session's local stack folder")


def test_a_huge_head_is_refused_while_others_are_served(stack: Target) -> None:
    if not stack.local:
        pytest.skip("the local gateway's limit")
    host, port = stack.url.removeprefix("http://").split(":")
    answer: dict[str, bytes] = {}

    def flood() -> None:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            chunk = b"a" * (1 << 20)
            try:
                for _ in range(64):  # 64 MiB of one header
                    sock.sendall(chunk)
            except OSError:
                pass  # the server closed the connection: the point
            try:
                answer["head"] = sock.recv(4096)
            except OSError:
                answer["head"] = b""

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        started = time.monotonic()
        health = httpx.get(f"{stack.url}/health", timeout=5)
        answered_in = time.monotonic() - started
        assert health.status_code == 200
        print(f"/health during the flood: {answered_in * 1000:.0f} ms")
    finally:
        thread.join(60)
    assert answer.get("head", b"").startswith(b"HTTP/1.1 431"), answer


def test_normal_heads_and_bodies_still_pass(stack: Target) -> None:
    headers = {"X-Fill": "b" * 16_000, "apikey": stack.anon_key}
    assert httpx.get(f"{stack.url}/health", headers=headers, timeout=10).status_code == 200
    too_big = {"X-Fill": "b" * 40_000}
    assert httpx.get(f"{stack.url}/health", headers=too_big, timeout=10).status_code == 431


def test_state_folder_and_files_are_private(
    stack: Target, tmp_path_factory: pytest.TempPathFactory, unique_name: str
) -> None:
    folder = _state_dir(stack, tmp_path_factory)
    auth = {"apikey": stack.service_role_key, "Authorization": f"Bearer {stack.service_role_key}"}
    with httpx.Client(base_url=f"{stack.url}/storage/v1", headers=auth, timeout=30) as api:
        assert api.post("/bucket", json={"name": unique_name}).status_code == 200
        try:
            res = api.post(f"/object/{unique_name}/secret.txt", content=b"private")
            assert res.status_code == 200, res.text
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            state = folder / "state.json"
            assert stat.S_IMODE(state.stat().st_mode) == 0o600
            files = [p for p in (folder / "storage").rglob("*") if p.is_file()]
            assert files, "no object file found"
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        finally:
            api.delete(f"/object/{unique_name}/secret.txt")
            api.delete(f"/bucket/{unique_name}")


@pytest.mark.parametrize("role", ["postgres", "supabase_read_only_user", "authenticator"])
def test_storage_accepts_only_the_three_roles(stack: Target, role: str) -> None:
    token = stack.mint_jwt({"role": role, "sub": str(uuid.uuid4())})
    res = httpx.get(
        f"{stack.url}/storage/v1/bucket",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert res.status_code in (400, 403), res.text
    assert res.json()["statusCode"] == "403"


def test_tus_head_patch_delete_pass_rls(stack: Target, unique_name: str) -> None:
    policy = f"{unique_name}_own"
    cond = f"bucket_id = '{unique_name}' and (storage.foldername(name))[1] = auth.uid()::text"
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    tok_a = stack.mint_jwt({"role": "authenticated", "sub": a})
    tok_b = stack.mint_jwt({"role": "authenticated", "sub": b})
    service = {
        "apikey": stack.service_role_key,
        "Authorization": f"Bearer {stack.service_role_key}",
    }
    with (
        psycopg.connect(stack.db_url or "", autocommit=True) as db,
        httpx.Client(base_url=f"{stack.url}/storage/v1", timeout=30) as http,
    ):
        assert http.post("/bucket", json={"name": unique_name}, headers=service).status_code == 200
        db.execute(
            f'create policy "{policy}" on storage.objects for all to authenticated '
            f"using ({cond}) with check ({cond})"
        )
        try:
            meta = ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}"
                for k, v in (("bucketName", unique_name), ("objectName", f"{b}/f.bin"))
            )
            as_b = {
                "apikey": stack.anon_key,
                "Authorization": f"Bearer {tok_b}",
                "Tus-Resumable": "1.0.0",
            }
            created = http.post(
                "/upload/resumable",
                headers={**as_b, "Upload-Length": "10", "Upload-Metadata": meta},
            )
            assert created.status_code == 201, created.text
            location = created.headers["location"]
            as_a = {**as_b, "Authorization": f"Bearer {tok_a}"}
            assert http.head(location, headers=as_b).status_code == 200
            head = http.head(location, headers=as_a)
            assert head.status_code >= 400 and "upload-offset" not in head.headers
            patch = http.patch(
                location,
                content=b"x" * 10,
                headers={
                    **as_a,
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert patch.status_code >= 400
            assert http.delete(location, headers=as_a).status_code >= 400
            assert http.head(location, headers=as_b).headers["upload-offset"] == "0"
        finally:
            db.execute(f'drop policy if exists "{policy}" on storage.objects')
            http.delete(f"/bucket/{unique_name}", headers=service)


@pytest.fixture
def rows_table(stack: Target) -> Any:
    name = f"rows_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.db_url or "", autocommit=True) as db:
        db.execute(f"create table public.{name} (id int primary key)")
        db.execute(f"insert into public.{name} select generate_series(1, 3000)")
        db.execute(f"grant select on public.{name} to anon, authenticated, service_role")
    yield name
    with psycopg.connect(stack.db_url or "", autocommit=True) as db:
        db.execute(f"drop table public.{name}")


def test_rest_without_a_key_is_401_as_the_gateway(stack: Target, rows_table: str) -> None:
    res = httpx.get(f"{stack.url}/rest/v1/{rows_table}", timeout=10)
    assert res.status_code == 401
    assert res.json()["message"] == "No API key found in request"
    ok = httpx.get(f"{stack.url}/rest/v1/{rows_table}?limit=1", headers={"apikey": stack.anon_key})
    assert ok.status_code == 200


def test_rest_reads_stop_at_max_rows(stack: Target, rows_table: str) -> None:
    key = {"apikey": stack.service_role_key, "Authorization": f"Bearer {stack.service_role_key}"}
    every = httpx.get(f"{stack.url}/rest/v1/{rows_table}?select=id", headers=key, timeout=30)
    assert every.status_code == 200 and len(every.json()) == 1000
    asked = httpx.get(f"{stack.url}/rest/v1/{rows_table}?limit=2000", headers=key, timeout=30)
    assert len(asked.json()) == 1000
    few = httpx.get(f"{stack.url}/rest/v1/{rows_table}?limit=5&offset=2990", headers=key)
    assert [r["id"] for r in few.json()] == [2991, 2992, 2993, 2994, 2995]


def test_dead_pool_connections_are_replaced(stack: Target, rows_table: str) -> None:
    key = {"apikey": stack.service_role_key, "Authorization": f"Bearer {stack.service_role_key}"}
    url = f"{stack.url}/rest/v1/{rows_table}?limit=1"
    for _ in range(3):
        assert httpx.get(url, headers=key, timeout=10).status_code == 200
    with psycopg.connect(stack.db_url or "", autocommit=True) as db:
        db.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where application_name like 'hybridkit-local%%' or (backend_type = 'client backend' "
            "and pid <> pg_backend_pid() and usename = 'postgres')"
        )
    statuses = [httpx.get(url, headers=key, timeout=10).status_code for _ in range(12)]
    assert statuses == [200] * 12, statuses


@pytest.mark.parametrize("name", [".", ".."])
def test_client_refuses_dot_bucket_names(name: str) -> None:
    with pytest.raises(InvalidInputError, match="not names"):
        check_bucket(name)


def test_a_fresh_stack_is_private_whatever_the_umask(tmp_path: Path) -> None:
    import os

    from hybridkit.local import LocalStack

    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o755)
    old = os.umask(0o022)
    try:
        with LocalStack(dir=folder, port=0) as local:
            key = local.service_role_key
            auth = {"apikey": key, "Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=f"{local.url}/storage/v1", headers=auth) as api:
                assert api.post("/bucket", json={"name": "priv"}).status_code == 200
                assert api.post("/object/priv/a/secret.txt", content=b"s").status_code == 200
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            loose = [
                p
                for p in folder.rglob("*")
                if p.is_file() and not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077
            ]
            assert not loose, loose
            assert (folder / "state.json").exists()
    finally:
        os.umask(old)
