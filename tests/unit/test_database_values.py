"""The database layer's values and error mapping, with no server: no secret ever shows."""

from __future__ import annotations

import pytest

from hybridkit.config import Settings
from hybridkit.database import Database, SqlResult
from hybridkit.database.migrations import DirectLedger
from hybridkit.errors import ConfigError, RetriesExhausted
from hybridkit.retry import Retrier, RetryPolicy

PASSWORD = "pa55-w0rd-do-not-show"
KEY = "eyJhbGciOiJIUzI1NiJ9.secret-service-key.sig"


def test_reprs_hide_secrets() -> None:
    settings = Settings.load(
        env={},
        env_file=None,
        supabase_url="http://127.0.0.1:1",
        service_role_key=KEY,
        db_url=f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/postgres",
    )
    assert KEY not in repr(Database(settings)) and PASSWORD not in repr(Database(settings))
    ledger = DirectLedger(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/postgres")
    assert PASSWORD not in repr(ledger) and PASSWORD not in ledger.target


def test_connection_failures_name_no_password() -> None:
    settings = Settings.load(
        env={}, env_file=None, db_url=f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/postgres"
    )
    db = Database(settings, retrier=Retrier(RetryPolicy(max_retries=1), sleep=lambda _s: None))
    with pytest.raises(RetriesExhausted) as exc:
        db.sql("select 1", read_only=True)
    assert exc.value.attempts == 2  # a refused connection is safe to retry
    assert PASSWORD not in str(exc.value) and PASSWORD not in repr(exc.value)
    with pytest.raises(RetriesExhausted) as write:
        db.sql("insert into t values (1)")
    assert PASSWORD not in str(write.value)


def test_sql_needs_a_route() -> None:
    with pytest.raises(ConfigError, match="SUPABASE_DB_URL"):
        Database(Settings.load(env={}, env_file=None)).sql("select 1")


def test_sql_result_table() -> None:
    result = SqlResult(
        ("id", "name"), ({"id": 1, "name": None}, {"id": 22, "name": "x"}), 2, "sql", True
    )
    assert result.table().splitlines() == ["id  name", "--  ----", "1", "22  x", "(2 rows)"]
    assert SqlResult((), (), 3, "sql", False).table() == "(3 rows affected)"
