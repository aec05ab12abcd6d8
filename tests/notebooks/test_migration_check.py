"""migration_check and the run history, on a stack of their own (they apply migrations)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hybridkit.local import LocalStack

RunBook = Callable[..., Any]


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh local stack: the kit's migrations start pending here."""
    with LocalStack(dir=tmp_path_factory.mktemp("migrations-stack"), port=0) as stack:
        env = stack.env()
        env.pop("SUPABASE_JWT_SECRET", None)
        yield env


def test_pending_migrations_are_reported_then_applied_after_a_dry_run(
    run_book: RunBook, own_stack: dict[str, str], cli: Callable[..., Any], runs_dir: Path
) -> None:
    fresh = run_book("migration_check", env=own_stack)
    assert fresh.ok, fresh.result.error  # problems are reported; failing is opt-in
    # One verdict: the summary, the outcome (and so the record, the file name and
    # `hybridkit runs`) all say warning, and the way out is spelled out.
    assert fresh.result.outcome == "warning" and fresh.result.notebook.name.endswith(
        "-warning.ipynb"
    )
    assert fresh.result.summaries[0]["verdict"] == "warning"
    apply = "hybridkit run migration_check -p apply true -p dry_run false"
    assert fresh.summary["next step"] == f"apply the pending migration(s) with: {apply}"
    assert fresh.summary["pending"] == fresh.summary["migrations"] > 0
    assert fresh.summary["problems"] > 0
    assert "pending: not applied yet" in fresh.text()
    # ... and pending is not drift: nothing is compared that the database was never given.
    assert "No drift:" in fresh.text() and fresh.summary["drift"] == 0

    strict = run_book("migration_check", env=own_stack, fail_on_drift=True)
    assert strict.result.outcome == "failed"
    assert "the migration check found" in (strict.result.error or "")

    # The terminal gives the same verdict, the exit code agrees, and the way out is on it.
    shell = cli("run", "migration_check", "--output", str(runs_dir), env=own_stack)
    assert shell.returncode == 0, shell.stderr
    assert "migration check: WARNING" in shell.stdout and "next step" in shell.stdout
    assert apply in shell.stdout and "warning: migration_check ran in" in shell.stderr
    listed = cli("runs", "migration_check", "--output", str(runs_dir), "--json", "-n", "1")
    assert json.loads(listed.stdout)[0]["outcome"] == "warning", listed.stdout

    # History is kept in files; ops_runs does not exist yet, so recording is skipped quietly.
    before = cli("run", "health_check", "--output", str(runs_dir), env=own_stack)
    assert before.returncode == 0, before.stderr
    assert "(the kit's migrations are not applied; apply them " in before.stderr
    assert "hybridkit run migration_check -p apply true -p dry_run false" in before.stderr

    dry = run_book("migration_check", env=own_stack, apply=True)
    assert dry.ok
    assert (
        "DRY RUN: would apply" in dry.text()
        and "create table if not exists public.ops_runs" in dry.text()
    )
    assert dry.summary["applied by this run"] == 0 and dry.summary["pending"] > 0

    applied = run_book(
        "migration_check", env=own_stack, apply=True, dry_run=False, fail_on_drift=True
    )
    assert applied.ok, applied.result.error
    assert applied.summary["pending"] == 0 and applied.summary["problems"] == 0
    assert applied.summary["applied by this run"] == fresh.summary["migrations"]

    # Now each `hybridkit run` is also recorded in ops_runs.
    after = cli("run", "bucket_admin", "--output", str(runs_dir), env=own_stack)
    assert after.returncode == 0, after.stderr
    assert "recorded in ops_runs (id " in after.stderr
    from hybridkit.config import Settings
    from hybridkit.database import Database

    rows = Database(Settings.load(env=own_stack, env_file=None)).select(
        "ops_runs", "runbook,status,dry_run,summary", order="created_at"
    )
    assert [(r["runbook"], r["status"], r["dry_run"]) for r in rows][-1:] == [
        ("bucket_admin", "succeeded", True)
    ]
    record = json.loads(
        sorted((runs_dir / "bucket_admin").glob("*.json"), key=os.path.getmtime)[-1].read_text()
    )
    assert record["ops_runs"].startswith("recorded in ops_runs")
