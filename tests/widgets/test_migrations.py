"""The migration dashboard: against a real, isolated database, and its edges with stubs.

The default backend (:class:`~hybridkit_widgets.KitMigrations`) works through the
manager facade; the live tests below go through it to a real database, and the
stand-in manager here covers the failed results a real stack does not give on demand.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hybridkit_widgets as hkw
import psycopg
import pytest
from widgetfakes import failed, ok

from hybridkit.config import Settings
from hybridkit.errors import AuthError, MigrationError, RetryableError
from hybridkit.manager import HybridOperationResult, HybridSupabaseManager

pytest.importorskip("hybridkit.database.migrations", reason="the migrations module (issue 4)")


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
    assert dashboard.message.startswith(
        "applied 2 migration(s) (20260101000000, 20260101000100); 0 pending, no drift"
    )
    assert [row["state"] for row in dashboard.state.status_rows()] == ["applied", "applied"]
    assert dashboard.apply_button.disabled  # nothing left to apply
    # what the apply replaced is gone: the DRY RUN block and the confirmation box
    assert dashboard.sql.value == "" and dashboard.confirm_area.children == ()
    # the result sits right under the buttons, above the tables
    order = list(dashboard.widget.children)
    assert order.index(dashboard.status) < order.index(dashboard.status_table)
    buttons = order[order.index(dashboard.status) - 1]
    assert dashboard.apply_button in buttons.children
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
    assert dashboard.state is not None
    states = [row["state"] for row in dashboard.state.status_rows()]
    assert states == ["applied", "applied", "pending"]
    with psycopg.connect(database) as conn:
        assert conn.execute("select to_regclass('public.half')").fetchone() == (None,)
    # Built from Settings: the panel made its manager, and closes it.
    backend = dashboard.state.backend
    assert isinstance(backend, hkw.KitMigrations) and backend.owns_manager
    dashboard.close()
    assert backend.manager.storage.http.is_closed


def test_through_a_given_manager_the_facade_does_the_work_and_problems_are_findings(
    stack: Any, database: str, folder: Path
) -> None:
    settings = Settings.load(
        supabase_url=stack.url,
        service_role_key=stack.service_role_key,
        db_url=database,
        env_file=None,
    )
    with HybridSupabaseManager(settings) as manager:
        dashboard = hkw.MigrationDashboard(manager, folder=folder, lints=False)
        assert dashboard.state is not None
        backend = dashboard.state.backend
        assert isinstance(backend, hkw.KitMigrations)
        assert backend.manager is manager and not backend.owns_manager
        # The checks found problems: check_migrations failed with the report in data,
        # and the dashboard shows the findings, not an error.
        checked = backend.last_result
        assert checked is not None and checked.layer_used == "sql"
        assert not checked.success and isinstance(checked.error, MigrationError)
        assert checked.data is dashboard.state.report
        assert (dashboard.level, dashboard.errors) == ("info", []), dashboard.message
        assert "ERROR" in dashboard.findings_table.value
        assert "notes_body_idx" in dashboard.findings_table.value
        assert dashboard.state.verdict.startswith("2 pending, no drift, ")
        assert "0 problem(s)" not in dashboard.state.verdict
        assert "postgres:********@" in dashboard.summary.value
        stats = manager.stats()
        assert stats["migration_status"]["calls"] == 1
        assert stats["check_migrations"]["calls"] == 1
        assert stats["check_migrations"]["failures"] == 1  # the problems, as the runbook sees

        dashboard.plan_button.click()
        assert "create index notes_body_idx" in dashboard.sql.value
        assert manager.stats()["apply_migrations"]["calls"] == 1
        with psycopg.connect(database) as conn:  # the facade's dry run changed nothing
            assert conn.execute("select to_regclass('public.notes')").fetchone() == (None,)

        dashboard.apply_button.click()
        box = dashboard.confirm_area.children[0]
        box.children[1].children[0].value = "apply"
        box.children[1].children[1].click()
        assert dashboard.level == "ok", dashboard.message
        assert dashboard.state.verdict == "0 pending, no drift, 0 problem(s), 0 warning(s)"
        assert backend.last_result is not None and backend.last_result.success
        assert manager.stats()["apply_migrations"]["calls"] == 3  # plan, plan again, apply

        dashboard.close()  # the manager was given: the panel leaves it open
        assert not manager.storage.http.is_closed
        again = manager.migration_status(folder)
        assert again.success and not again.data.pending


def test_settings_still_work_and_the_manager_built_from_them_is_closed() -> None:
    settings = _settings("postgresql://postgres:pg-secret@127.0.0.1:1/postgres")
    backend = hkw.KitMigrations(settings, "migrations")
    assert backend.owns_manager and backend.manager.settings is settings
    assert backend.target == "postgresql://postgres:********@127.0.0.1:1/postgres"
    backend.close()
    assert backend.manager.storage.http.is_closed
    backend.close()  # idempotent

    with hkw.KitMigrations(settings=settings) as by_keyword:
        manager = by_keyword.manager
    assert manager.storage.http.is_closed

    forgotten = hkw.KitMigrations(settings).manager
    gc.collect()  # the backend is gone: its manager was closed with it
    assert forgotten.storage.http.is_closed


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


# ------------------------------------------------------------- stand-in manager's results

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLXBhcnQ"


class _Manager:
    """Answers the facade's migration calls with canned results."""

    def __init__(self, **results: HybridOperationResult) -> None:
        self.settings = _settings("postgresql://postgres:pg-secret@db.example:5432/postgres")
        self.results = results
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def _answer(self, name: str, folder: Any, **kwargs: Any) -> HybridOperationResult:
        self.calls.append((name, folder, kwargs))
        return self.results[name]

    def migration_status(self, folder: Any, **kw: Any) -> HybridOperationResult:
        return self._answer("migration_status", folder, **kw)

    def check_migrations(self, folder: Any, **kw: Any) -> HybridOperationResult:
        return self._answer("check_migrations", folder, **kw)

    def apply_migrations(self, folder: Any, **kw: Any) -> HybridOperationResult:
        return self._answer("apply_migrations", folder, **kw)


def _status(*entries: _Entry) -> Any:
    pending = [e for e in entries if e.state == "pending"]
    return type(
        "S", (), {"entries": list(entries), "pending": pending, "ok": True, "target": "ledger-t"}
    )()


def _report(*findings: _Finding) -> Any:
    problems = [f for f in findings if not f.ok]
    return type(
        "R", (), {"findings": list(findings), "problems": problems, "warnings": [], "ok": False}
    )()


def test_the_backend_calls_the_facade_with_the_folder_lints_and_path() -> None:
    manager = _Manager(
        migration_status=ok(_status(_Entry("1", "init", "pending"))),
        check_migrations=ok(_report()),
    )
    backend = hkw.KitMigrations(manager, "some/folder", lints=None, via="sql")  # type: ignore[arg-type]
    assert not backend.owns_manager
    assert backend.target == "postgresql://postgres:********@db.example:5432/postgres"
    state = hkw.MigrationState(backend)
    state.load()
    assert backend.target == "ledger-t"  # the status names the ledger it read
    assert [c[0] for c in manager.calls] == ["migration_status", "check_migrations"]
    assert manager.calls[0][1:] == (Path("some/folder"), {"via": "sql"})
    assert manager.calls[1][1:] == (Path("some/folder"), {"lints": None, "via": "sql"})
    backend.close()  # a given manager is left alone (it has no close to call)


def test_a_failed_check_with_its_report_shows_the_findings_not_an_error() -> None:
    report = _report(_Finding("index", "public.notes", False, "error", "missing"))
    manager = _Manager(
        migration_status=ok(_status(_Entry("1", "init", "pending"))),
        check_migrations=HybridOperationResult(
            False, report, MigrationError("1 problem: index public.notes missing"), {}, "sql"
        ),
    )
    dashboard = hkw.MigrationDashboard(manager, folder="m")  # type: ignore[arg-type]
    assert dashboard.state is not None and dashboard.state.report is report
    assert dashboard.level == "info" and dashboard.errors == []
    assert dashboard.state.verdict == "1 pending, no drift, 1 problem(s), 0 warning(s)"
    assert "missing" in dashboard.findings_table.value
    assert "pg-secret" not in dashboard.summary.value


@pytest.mark.parametrize(
    ("results", "message"),
    [
        (
            {"migration_status": failed(RetryableError("the database did not answer"))},
            "migration status failed: RetryableError: the database did not answer",
        ),
        (
            {
                "migration_status": ok(_status()),
                "check_migrations": failed(AuthError(f"the key {JWT} was refused")),
            },
            "migration checks failed: AuthError: the key *** was refused",
        ),
        (
            {
                "migration_status": ok(_status()),
                "check_migrations": HybridOperationResult(False, None, None),
            },
            "migration checks failed: the operation failed",
        ),
    ],
)
def test_failed_results_are_shown_as_the_panels_errors_without_secrets(
    results: dict[str, HybridOperationResult], message: str
) -> None:
    dashboard = hkw.MigrationDashboard(_Manager(**results), folder="m")  # type: ignore[arg-type]
    assert dashboard.level == "error"
    assert dashboard.message == message
    assert JWT not in dashboard.status.value


def test_a_failed_plan_or_apply_is_a_panel_error() -> None:
    manager = _Manager(
        migration_status=ok(_status(_Entry("1", "init", "pending"))),
        check_migrations=ok(_report()),
        apply_migrations=failed(MigrationError("1_init.sql failed at statement 1: boom")),
    )
    state = hkw.MigrationState(hkw.KitMigrations(manager, "m"))  # type: ignore[arg-type]
    state.load()
    with pytest.raises(hkw.PanelError, match=r"^planning failed: MigrationError: 1_init\.sql"):
        state.plan()
    with pytest.raises(hkw.PanelError, match=r"^apply failed: MigrationError: 1_init\.sql"):
        state.apply()
    assert [c[2].get("dry_run") for c in manager.calls if c[0] == "apply_migrations"] == [
        True,
        False,
    ]
