"""Drift comparison, migration files and the report, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hybridkit.database.checks import Expectations, Finding, MigrationReport
from hybridkit.database.migrations import (
    AppliedMigration,
    Migration,
    State,
    compute_status,
    load_migrations,
    new_migration,
)
from hybridkit.database.sqltext import split_statements
from hybridkit.errors import InvalidInputError, MigrationError

REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def mig(version: str, name: str, sql: str) -> Migration:
    return Migration(version, name, Path(f"{version}_{name}.sql"), sql)


def row(version: str, name: str | None, sql: str | None) -> AppliedMigration:
    return AppliedMigration(version, name, tuple(split_statements(sql)) if sql else ())


def states(status: object) -> dict[str, State]:
    return {e.version: e.state for e in status.entries}  # type: ignore[attr-defined]


def test_applied_pending_and_changed() -> None:
    local = [
        mig("1", "a", "create table a (x int);"),
        mig("2", "b", "create table b (x int);"),
        mig("3", "c", "create table c (x int);"),
    ]
    remote = [
        row("1", "a", "-- same, reformatted\ncreate table a ( x int )"),
        row("2", "b", "create table b (y int)"),
    ]
    status = compute_status(local, remote, target="t")
    assert states(status) == {"1": State.APPLIED, "2": State.CHANGED, "3": State.PENDING}
    assert [m.version for m in status.pending] == ["3"]
    assert not status.ok  # a changed migration is drift


def test_missing_locally_and_out_of_order() -> None:
    local = [mig("1", "a", "select 1"), mig("2", "late", "select 2")]
    remote = [row("1", "a", "select 1"), row("3", "remote_only", "select 3")]
    status = compute_status(local, remote)
    assert states(status) == {"1": State.APPLIED, "2": State.OUT_OF_ORDER, "3": State.MISSING_LOCAL}
    assert [m.version for m in status.pending] == ["2"]
    assert not status.ok


def test_rows_under_other_timestamps_are_recognised_by_content() -> None:
    local = [
        mig("20250101000000", "add_table", "create table t (id int);\ncreate index on t (id);")
    ]
    # The MCP server stores the whole query as one statement under its own timestamp.
    remote = [
        AppliedMigration(
            "20250315093000", "add_table", ("create table t (id int);\ncreate index on t (id);",)
        )
    ]
    status = compute_status(local, remote)
    [entry] = status.entries
    assert entry.state is State.APPLIED_ELSEWHERE
    assert "20250315093000" in entry.note
    assert status.pending == [] and status.ok


def test_same_name_different_content_is_not_a_match() -> None:
    local = [mig("5", "add_table", "create table t (id int)")]
    remote = [row("9", "add_table", "create table t (id bigint)")]
    status = compute_status(local, remote)
    assert states(status) == {"5": State.OUT_OF_ORDER, "9": State.MISSING_LOCAL}
    assert "other SQL" in status.entries[0].note


def test_rows_without_statements_cannot_be_verified() -> None:
    status = compute_status([mig("1", "a", "select 1")], [AppliedMigration("1", "a", ())])
    assert status.entries[0].state is State.APPLIED
    assert "not verified" in status.entries[0].note


def test_status_table_is_readable() -> None:
    status = compute_status([mig("1", "a", "select 1")], [], target="db", skipped=["notes.txt"])
    table = status.table()
    assert "VERSION" in table and "pending" in table and "notes.txt" in table


def test_load_migrations_skips_other_files(tmp_path: Path) -> None:
    (tmp_path / "20250101000000_one.sql").write_text("select 1;")
    (tmp_path / "2_two.sql").write_text("select 2;")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "checks.toml").write_text("")
    (tmp_path / "rollback").mkdir()
    migrations, skipped = load_migrations(tmp_path)
    assert [m.version for m in migrations] == ["2", "20250101000000"]
    assert skipped == ["notes.txt"]
    (tmp_path / "2_again.sql").write_text("select 3;")
    with pytest.raises(MigrationError, match="share version 2"):
        load_migrations(tmp_path)


def test_new_migration_names(tmp_path: Path) -> None:
    made = new_migration(tmp_path, "add_index", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert made.path.name == "20260102030405_add_index.sql"
    assert made.rollback_path.is_file()
    with pytest.raises(InvalidInputError):
        new_migration(tmp_path, "bad name; drop")


def test_the_kits_migrations_load_and_each_has_a_rollback() -> None:
    migrations, skipped = load_migrations(REPO_MIGRATIONS)
    assert skipped == []
    names = [m.name for m in migrations]
    assert names == [
        "extensions",
        "vector",
        "ops_runs",
        "file_uploads",
        "realtime_file_uploads",
        "storage_service_role_policies",
    ]
    for migration in migrations:
        assert len(migration.version) == 14
        assert migration.rollback_path.is_file(), migration.filename
    expectations = Expectations.load(REPO_MIGRATIONS / "checks.toml")
    assert "uuid-ossp" in expectations.required_extensions
    assert "vector" in expectations.optional_extensions
    # The schema itself is expected from the migrations (a shadow database), not listed.
    assert expectations.indexes == expectations.policies == expectations.publications == ()
    assert expectations.rls_tables == ()


def test_report_ok_table_and_raise() -> None:
    passing = MigrationReport(
        (
            Finding("index", "public.t: t_idx", True, "error", "present"),
            Finding(
                "extension", "vector", False, "info", "not available on this server (optional)"
            ),
        ),
        "db",
    )
    assert passing.ok and passing.warnings and not passing.problems
    passing.raise_for_problems()
    failing = MigrationReport((Finding("policy", "public.t: p", False, "error", "missing"),), "db")
    assert not failing.ok
    assert "public.t: p" in failing.table()
    with pytest.raises(MigrationError, match=r"public\.t: p"):
        failing.raise_for_problems()


def test_expectations_missing_file_means_none(tmp_path: Path) -> None:
    assert Expectations.load(tmp_path / "nope.toml") == Expectations()
    bad = tmp_path / "bad.toml"
    bad.write_text("[[indexes]]\ntable = 'x'\n")
    with pytest.raises(MigrationError):
        Expectations.load(bad)


def test_a_missing_migrations_folder_is_named_with_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migrations folder at /") as caught:
        load_migrations(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)
    assert "--dir DIR" in caught.value.hint
