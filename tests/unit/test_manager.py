"""The facade's result type and bookkeeping, over an httpx MockTransport (no server)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hybridkit.config import Settings
from hybridkit.database.migrations import DirectLedger, ManagementLedger, ledger_from_settings
from hybridkit.errors import ConfigError, InvalidInputError, NotFoundError, RetriesExhausted
from hybridkit.manager import (
    HealthReport,
    HybridOperationResult,
    HybridSupabaseManager,
    ServiceCheck,
)
from hybridkit.retry import RetryPolicy

KEY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2VjcmV0LXNpZ25hdHVyZQ"
BUCKET = {
    "id": "b",
    "name": "b",
    "owner": "",
    "public": False,
    "file_size_limit": None,
    "allowed_mime_types": None,
    "created_at": "2026-11-22T10:36:13.087Z",
    "updated_at": "2026-11-22T10:36:13.087Z",
}


def facade(handler: Callable[[httpx.Request], httpx.Response]) -> HybridSupabaseManager:
    settings = Settings.load(
        env={}, env_file=None, supabase_url="http://127.0.0.1:9", service_role_key=KEY
    )
    return HybridSupabaseManager(
        settings,
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        retry_policy=RetryPolicy(max_retries=2, deadline=None),
        resume_dir=None,
    )


def test_result_is_frozen_and_unwraps() -> None:
    ok = HybridOperationResult(True, 1, None, {}, "rest")
    assert ok.unwrap() == 1 and bool(ok)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.success = False  # type: ignore[misc]
    failed = HybridOperationResult(False, None, NotFoundError("gone"), {}, "storage")
    assert not failed
    with pytest.raises(NotFoundError):
        failed.unwrap()


def test_transient_failures_are_retried_and_counted() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        assert request.headers["apikey"] == KEY  # sent, just never shown
        if len(calls) == 1:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json=[BUCKET])

    with facade(handler) as hm:
        result = hm.list_buckets()
        assert result.success and [b.id for b in result.data] == ["b"]
        assert result.metadata["attempts"] == 2 and result.metadata["retries"] == 1
        assert result.layer_used == "storage"
        stats = hm.stats()
        assert stats["list_buckets"] == {
            "calls": 1,
            "failures": 0,
            "cancelled": 0,
            "attempts": 2,
            "retries": 1,
            "bytes": 0,
            "duration": stats["list_buckets"]["duration"],
        }


def test_failures_become_results_without_secrets() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/bucket/missing"):
            body = {"statusCode": "404", "error": "Bucket not found", "message": "Bucket not found"}
            return httpx.Response(400, json=body)
        return httpx.Response(500, json={"statusCode": "500", "error": "x", "message": "boom"})

    with facade(handler) as hm:
        missing = hm.get_bucket("missing")
        assert not missing.success and isinstance(missing.error, NotFoundError)
        assert missing.metadata["attempts"] == 1
        broken = hm.list_buckets()
        assert isinstance(broken.error, RetriesExhausted) and broken.error.attempts == 3
        for text in (repr(hm), repr(hm.storage), str(broken), repr(broken), broken.error.message):
            assert KEY not in text
        assert hm.stats()["total"]["failures"] == 2


def test_health_report_problems() -> None:
    good = ServiceCheck("storage", "u", True, True, 200, 0.01, 0.4)
    skewed = ServiceCheck("rest", "u", True, True, 200, 0.01, -95.0)
    refused = ServiceCheck("rest", "u", True, False, 401, 0.01, None, "the key was refused")
    assert HealthReport((good,), "closed").ok
    report = HealthReport((good, skewed), "closed")
    assert report.clock_skew == -95.0 and not report.ok and "clock skew" in report.problems[0]
    assert HealthReport((good, refused), "closed").problems == ("rest: the key was refused",)


def test_health_check_reads_latency_auth_and_skew() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/rest/v1" in request.url.path:
            return httpx.Response(401, json={"message": "bad jwt"})
        return httpx.Response(200, json=[], headers={"Date": "Sun, 22 Nov 2026 11:00:00 GMT"})

    with facade(handler) as hm:
        result = hm.health_check()
    storage, rest = result.data.checks
    assert storage.ok and storage.clock_skew is not None and storage.latency is not None
    assert rest.reachable and not rest.auth_ok
    assert not result.success and "rest" in str(result.error)


def test_clock_skew_is_the_smallest_the_date_header_allows() -> None:
    import email.utils
    import time

    from hybridkit.runbook import format_skew

    def answer(offset: float) -> Callable[[httpx.Request], httpx.Response]:
        def handler(request: httpx.Request) -> httpx.Response:
            date = email.utils.formatdate(time.time() + offset, usegmt=True)
            return httpx.Response(200, json=[], headers={"Date": date})

        return handler

    with facade(answer(0.0)) as hm:
        in_step = hm.health_check().data.checks[0].clock_skew
    assert in_step == 0.0 and format_skew(in_step) == "< 1 s"
    with facade(answer(-95.0)) as hm:
        behind = hm.health_check().data.checks[0].clock_skew
    assert behind is not None and -96.0 < behind <= -93.0
    assert format_skew(behind) in ("-93 s", "-94 s", "-95 s")
    assert format_skew(None) == "-" and format_skew(-0.99) == "< 1 s"


def test_missing_settings_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_URL"):
        HybridSupabaseManager(Settings.load(env={}, env_file=None))
    with pytest.raises(ConfigError, match="KEY"):
        HybridSupabaseManager(
            Settings.load(env={}, env_file=None, supabase_url="http://127.0.0.1:9")
        )


# ----------------------------------------------------------------------------- SQL and migrations
# Nothing listens on 127.0.0.1:9: connections are refused at once, so these run without a
# server and show the path chosen, the retries and their count in the result.

OFFLINE_DB = "postgresql://postgres:pw-not-shown@127.0.0.1:9/postgres"


def offline(**overrides: str) -> HybridSupabaseManager:
    settings = Settings.load(
        env={},
        env_file=None,
        supabase_url="http://127.0.0.1:9",
        service_role_key=KEY,
        management_url="http://127.0.0.1:9",
        **overrides,
    )
    return HybridSupabaseManager(
        settings,
        sleep=lambda s: None,
        retry_policy=RetryPolicy(max_retries=2, deadline=None),
        resume_dir=None,
    )


@pytest.mark.parametrize(
    ("configured", "via", "layer"),
    [
        ({"db_url": OFFLINE_DB}, "auto", "sql"),
        ({"access_token": "sbp_local", "project_ref": "local"}, "auto", "management"),
        (
            {"db_url": OFFLINE_DB, "access_token": "sbp_local", "project_ref": "local"},
            "auto",
            "sql",
        ),
        (
            {"db_url": OFFLINE_DB, "access_token": "sbp_local", "project_ref": "local"},
            "management",
            "management",
        ),
    ],
)
def test_sql_and_ledger_calls_name_their_path_and_count_retries(
    configured: dict[str, str], via: str, layer: str, tmp_path: Path
) -> None:
    ledger = ledger_from_settings(offline(**configured).settings, via=via)
    assert isinstance(ledger, DirectLedger) == (layer == "sql")  # the library's own rule
    if isinstance(ledger, ManagementLedger):
        ledger.client.close()
    (tmp_path / "20250101000000_one.sql").write_text("create table t (id int);\n")
    with offline(**configured) as hm:
        results = [
            hm.sql("select 1", via=via),
            hm.migration_status(tmp_path, via=via),
            hm.apply_migrations(tmp_path, via=via),
            hm.check_migrations(tmp_path, via=via),
        ]
        for result in results:
            assert not result.success and result.layer_used == layer
            assert isinstance(result.error, RetriesExhausted), result.error
            assert result.metadata["attempts"] == 3 and result.metadata["retries"] == 2
            assert "pw-not-shown" not in str(result.error) and "sbp_local" not in str(result.error)
        assert results[0].metadata["read_only"] is True  # the facade's default
        assert results[2].metadata["dry_run"] is True
        assert hm.stats()["total"]["failures"] == 4


def test_sql_without_settings_or_with_a_bad_via_fails_as_a_result(tmp_path: Path) -> None:
    with offline() as hm:
        missing = hm.sql("select 1")
        assert isinstance(missing.error, ConfigError) and "SUPABASE_DB_URL" in str(missing.error)
        assert missing.metadata["attempts"] == 0
        direct = hm.sql("select 1", via="sql")
        assert isinstance(direct.error, ConfigError) and direct.layer_used == "sql"
        ledger = hm.migration_status(tmp_path)
        assert isinstance(ledger.error, ConfigError) and "migrations need" in str(ledger.error)
        for result in (hm.sql("select 1", via="psql"), hm.check_migrations(tmp_path, via="psql")):
            assert isinstance(result.error, InvalidInputError) and "via must be" in str(
                result.error
            )
