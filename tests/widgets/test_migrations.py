"""The migration dashboard: against a real, isolated database, and its edges with a stub."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hybridkit_widgets as hkw
import psycopg
import pytest

from hybridkit.config import Settings
from hybridkit.errors import MigrationError

pytest.importorskip("hybridkit.migrations", reason="the migrations module (issue 4)")


@pytest.fixture
def database(stack: Any) -> Iterator[str]:
    """A fresh, empty database in the stack's cluster, so the shared ledger is left alone."""
    if not stack.db_url:
        pytest.skip("needs the target's database URL")
    name = f"hkw_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = stack.db_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "migrations"
    root.mkdir()
    (root / "20260101000000_notes.sql").write_text(
        "create table public.notes (id bigint primary key, body text);\n"
        "alter table public.notes enable row level security;\n"
    )
    (root / "20260101000100_notes_index.sql").write_text(
        "create index notes_body_idx on public.notes (body);\n"
    )
    (root / "checks.toml").write_text(
        '[[indexes]]\ntable = "public.notes"\nname = "notes_body_idx"\n\n'
        '[rls]\ntables = ["public.notes"]\n'
    )
    return root


def _settings(db_url: str) -> Settings:
    return Settings.load(
        supabase_url="http://127.0.0.1:54321", service_role_key="k", db_url=db_url, env_file=None
    )


def test_dashboard_shows_status_and_checks_then_applies_after_confirmation(
    database: str, folder: Path
) -> None:
    dashboard = hkw.MigrationDashboard(_settings(database), folder=folder, lints=False)
    assert dashboard.state is not None
    assert dashboard.state.pending_count == 2
    states = [row["state"] for row in dashboard.state.status_rows()]
    assert states == ["pending", "pending"]
    assert "notes_body_idx" in dashboard.findings_table.value
    assert "ERROR" in dashboard.findings_table.value  # the index is missing before apply
    assert "2 pending" in dashboard.summary.value
    assert ":postgres@" not in dashboard.summary.value  # the password is masked
    assert "postgres:********@" in dashboard.summary.value

    dashboard.plan_button.click()
    assert "DRY RUN" in dashboard.sql.value and "create index notes_body_idx" in dashboard.sql.value
    with psycopg.connect(database) as conn:  # the dry run changed nothing
        assert conn.execute("select to_regclass('public.notes')").fetchone() == (None,)

    dashboard.apply_button.click()
    box = dashboard.confirm_area.children[0]
    text, confirm, _ = box.children[1].children
    text.value = "apply"
    confirm.click()
    assert dashboard.level == "ok", dashboard.message
    assert dashboard.message.startswith("applied 2 migration(s); 0 pending, no drift, 0 problem(s)")
    assert [row["state"] for row in dashboard.state.status_rows()] == ["applied", "applied"]
    assert dashboard.apply_button.disabled  # nothing left to apply
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations order by 1"
        ).fetchall()
    assert rows == [("20260101000000",), ("20260101000100",)]


def test_a_failing_migration_is_shown_and_leaves_nothing_half_applied(
    database: str, folder: Path
) -> None:
    (folder / "20260101000200_broken.sql").write_text(
        "create table public.half (id int);\nselect no_such_function();\n"
    )
    dashboard = hkw.MigrationDashboard(_settings(database), folder=folder, lints=False)
    dashboard.apply_button.click()
    box = dashboard.confirm_area.children[0]
    box.children[1].children[0].value = "apply"
    box.children[1].children[1].click()
    dialog_status = box.children[2].value
    assert "apply failed: MigrationError" in dialog_status
    assert "20260101000200_broken.sql failed at statement 2" in dialog_status
    states = [row["state"] for row in dashboard.state.status_rows()]  # type: ignore[union-attr]
    assert states == ["applied", "applied", "pending"]
    with psycopg.connect(database) as conn:
        assert conn.execute("select to_regclass('public.half')").fetchone() == (None,)


def test_without_a_database_url_the_panel_says_what_is_missing() -> None:
    settings = Settings.load(
        supabase_url="http://127.0.0.1:54321", service_role_key="k", env_file=None
    )
    dashboard = hkw.MigrationDashboard(settings)
    assert dashboard.state is None
    assert dashboard.level == "error"
    assert "cannot reach the migration ledger" in dashboard.message
    assert "SUPABASE_DB_URL" in dashboard.message
    assert dashboard.plan_button.disabled and dashboard.apply_button.disabled
    dashboard.refresh_button.click()
    assert "not available" in dashboard.message


# ------------------------------------------------------------------------- stub backend


@dataclass
class _Entry:
    version: str
    name: str
    state: str
    note: str = ""


@dataclass
class _Finding:
    check: str
    subject: str
    ok: bool
    severity: str = "error"
    detail: str = ""


@dataclass
class _Stub:
    target: str = "postgresql://postgres:***@127.0.0.1/postgres"
    entries: list[_Entry] = field(default_factory=list)
    findings: list[_Finding] = field(default_factory=list)
    fail_status: bool = False

    def status(self) -> Any:
        if self.fail_status:
            raise MigrationError("the ledger is unreadable")
        pending = [e for e in self.entries if e.state == "pending"]
        drift = any(e.state in ("changed", "missing locally") for e in self.entries)
        return type("S", (), {"entries": self.entries, "pending": pending, "ok": not drift})()

    def check(self, status: Any) -> Any:
        problems = [f for f in self.findings if not f.ok and f.severity == "error"]
        warnings = [f for f in self.findings if not f.ok and f.severity != "error"]
        return type(
            "R",
            (),
            {
                "findings": self.findings,
                "problems": problems,
                "warnings": warnings,
                "ok": not problems,
            },
        )()

    def apply(self, *, dry_run: bool) -> Any:
        raise AssertionError("not expected")


def test_drift_and_lints_are_listed_problems_first() -> None:
    stub = _Stub(
        entries=[
            _Entry("1", "init", "applied"),
            _Entry("2", "edit", "changed", "file differs from what was applied"),
        ],
        findings=[
            _Finding("index", "public.t", True, "error", "present"),
            _Finding("lint:rls_disabled_in_public", "public.t", False, "error", "RLS off"),
            _Finding("lint:function_search_path", "public.f", False, "warning", "mutable"),
        ],
    )
    dashboard = hkw.MigrationDashboard(backend=stub)
    assert dashboard.state is not None
    assert dashboard.state.verdict == "0 pending, DRIFT, 1 problem(s), 1 warning(s)"
    rows = dashboard.state.finding_rows()
    assert [r["result"] for r in rows] == ["ERROR", "WARNING", "ok"]
    assert "file differs" in dashboard.status_table.value
    assert dashboard.apply_button.disabled  # nothing pending
    assert dashboard.level == "info"


def test_a_failing_status_is_shown() -> None:
    dashboard = hkw.MigrationDashboard(backend=_Stub(fail_status=True))
    assert dashboard.level == "error"
    assert dashboard.message == (
        "migration status failed: MigrationError: the ledger is unreadable"
    )
