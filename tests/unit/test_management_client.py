"""The Management API client over a MockTransport: wire shape, retries, secrets."""

from __future__ import annotations

import json

import httpx
import pytest

from hybridkit.config import Secret
from hybridkit.errors import AuthError, InvalidInputError, RetriesExhausted
from hybridkit.management import ManagementClient
from hybridkit.retry import Retrier, RetryPolicy

TOKEN = "sbp_0123456789abcdef0123456789abcdef01234567"


def client(handler: httpx.MockTransport, retries: int = 3) -> ManagementClient:
    return ManagementClient(
        access_token=TOKEN,
        project_ref="abcdefghijklmnopqrst",
        base_url="https://api.example.test",
        transport=handler,
        retrier=Retrier(RetryPolicy(max_retries=retries), sleep=lambda _s: None),
    )


def test_query_sends_token_and_read_only() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=[{"one": 1}])

    rows = client(httpx.MockTransport(handle)).query("select 1 as one", read_only=True)
    assert rows == [{"one": 1}]
    [request] = seen
    assert request.url.path == "/v1/projects/abcdefghijklmnopqrst/database/query"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {"query": "select 1 as one", "read_only": True}


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Unauthorized"})

    api = client(httpx.MockTransport(handle))
    assert TOKEN not in repr(api)
    with pytest.raises(AuthError) as exc:
        api.list_migrations()
    assert TOKEN not in str(exc.value) and TOKEN not in repr(exc.value)


def test_reads_are_retried_on_503() -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(503, json={"message": "busy"})
        return httpx.Response(200, json=[{"version": "1", "name": "a"}])

    migrations = client(httpx.MockTransport(handle)).list_migrations()
    assert [m.version for m in migrations] == ["1"] and len(calls) == 3


def test_writes_are_not_resent_after_an_ambiguous_failure() -> None:
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500, json={"message": "boom"})

    with pytest.raises(RetriesExhausted):
        client(httpx.MockTransport(handle)).query("insert into t values (1)")
    assert len(calls) == 1  # a 500 may have run the insert: never sent twice


def test_apply_migration_keeps_its_idempotency_key_across_retries() -> None:
    keys: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["idempotency-key"])
        if len(keys) == 1:
            return httpx.Response(502, json={"message": "bad gateway"})
        return httpx.Response(200, json={"version": "20260101000000", "name": "x"})

    applied = client(httpx.MockTransport(handle)).apply_migration("select 1", "x")
    assert applied.version == "20260101000000"
    assert len(keys) == 2 and keys[0] == keys[1]


def test_branch_detail_masks_password() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "ref": "r",
                "status": "ACTIVE_HEALTHY",
                "db_host": "db.example",
                "db_port": 5432,
                "db_user": "postgres",
                "db_pass": "s3cret/pw",
                "jwt_secret": "jwt",
            },
        )

    detail = client(httpx.MockTransport(handle)).get_branch("r")
    assert "s3cret" not in repr(detail) and "jwt" not in repr(detail).replace("jwt_secret", "")
    url = detail.db_url()
    assert isinstance(url, Secret)
    assert url.get_secret_value() == "postgresql://postgres:s3cret%2Fpw@db.example:5432/postgres"


def test_advisors_kind_is_checked_before_any_request() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with pytest.raises(InvalidInputError):
        client(httpx.MockTransport(handle)).advisors("everything")


def test_branching_disabled_lists_no_branches() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"message": "Branching is not enabled"})

    assert client(httpx.MockTransport(handle)).list_branches() == []
