"""In JupyterLab, the panels give the runbook's outcome: a missing bucket, a second upload, apply.

Driven in Debian's Chromium by Playwright (see conftest). The upload runbook runs
first with a bucket that does not exist and a folder as ``source`` — it creates the
bucket and uploads; then its panel (prefilled from the runbook's parameters) uploads
the same folder again and skips every file as unchanged, as a re-run of the runbook
does; then to another missing bucket (created, uploaded) and once more (skipped).
The migration dashboard's apply flow runs on a fresh database: dry run, confirm,
apply; what it replaced is cleared. Screenshots go to ``tests/artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from labkit import CHROMIUM, Lab

from hybridkit.config import Settings
from hybridkit.manager import HybridSupabaseManager

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; "
        "./run test does it) — a browser is never downloaded",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="pip install 'hybridkit-widgets[test]'")
pytest.importorskip("jupyterlab", reason="pip install 'hybridkit-widgets[test]'")

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120_000  # ms: run-all includes starting a kernel


def _set_param(source: str, name: str, value: str) -> str:
    changed = re.sub(
        rf'^{name}: str = "[^"]*"', f"{name}: str = {json.dumps(value)}", source, flags=re.M
    )
    assert changed != source, f"the runbook's {name} parameter moved"
    return changed


def _set_list_param(source: str, name: str, value: list[str]) -> str:
    changed = re.sub(
        rf"^{name}: list\[str\] = \[[^\]]*\]",
        f"{name}: list[str] = {json.dumps(value)}",
        source,
        flags=re.M,
    )
    assert changed != source, f"the runbook's {name} parameter moved"
    return changed


def _runbook_copy(lab: Lab, name: str, **params: str | list[str]) -> str:
    nb = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    for key, value in params.items():
        if isinstance(value, list):
            source = _set_list_param(source, key, value)
        else:
            source = _set_param(source, key, value)
    cell["source"] = source
    target = f"panels-{name}-{uuid.uuid4().hex[:6]}.ipynb"
    (lab.root / target).write_text(json.dumps(nb, indent=1))
    return target


def _notebook(lab: Lab, *cells: str) -> str:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": c,
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    target = f"panels-{uuid.uuid4().hex[:6]}.ipynb"
    (lab.root / target).write_text(json.dumps(nb))
    return target


def _open_and_run(page: Any, lab: Lab, notebook: str) -> None:
    from playwright.sync_api import expect

    page.goto(lab.url(f"lab/tree/{notebook}?reset&token={lab.token}"))
    status = page.locator(".jp-StatusBar-TextItem", has_text="| Idle")
    waited = 0
    while waited < TIMEOUT:
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
        if status.count():
            break
        page.wait_for_timeout(250)
        waited += 250
    expect(status).to_have_count(1, timeout=1000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


@pytest.fixture
def manager(stack: Any, tmp_path: Path) -> Iterator[HybridSupabaseManager]:
    settings = Settings.load(
        supabase_url=stack.url, service_role_key=stack.service_role_key, env_file=None
    )
    with HybridSupabaseManager(settings, resume_dir=tmp_path / "tus") as hm:
        yield hm


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    (folder / "daily").mkdir(parents=True)
    (folder / "summary.csv").write_text("day,files\n2026-11-21,3\n")
    (folder / "daily" / "2026-11-21.json").write_text(json.dumps({"rows": list(range(50))}))
    (folder / "daily" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (folder / "daily" / "scratch.tmp").write_text("left out by the runbook's exclude")
    return folder


def test_upload_panel_gives_the_runbooks_outcome_on_a_missing_bucket_and_a_rerun(
    lab: Lab,
    browser_context: Any,
    browser_artifacts: Path,
    manager: HybridSupabaseManager,
    exports: Path,
) -> None:
    from playwright.sync_api import expect

    run_id = uuid.uuid4().hex[:8]
    first, second = f"e2e-missing-{run_id}", f"e2e-other-{run_id}"
    assert not manager.get_bucket(first).success and not manager.get_bucket(second).success
    notebook = _runbook_copy(lab, "upload", bucket=first, source=str(exports), exclude=["*.tmp"])
    page = browser_context.new_page()
    try:
        _open_and_run(page, lab, notebook)
        outputs = page.locator(".jp-OutputArea-output")
        # The runbook: the missing bucket is created, the folder uploaded.
        expect(outputs.filter(has_text="upload: OK")).to_have_count(1, timeout=TIMEOUT)
        expect(outputs.filter(has_text=f"Created the private bucket '{first}'")).to_have_count(1)

        # The Lab progress bar is a bar: wide, not tqdm's ~20 px square; its text in MiB.
        runbook_out = ".jp-OutputArea-output:not(:has(.hk-runbook-panels))"
        runbook_bar = page.locator(f"{runbook_out} .widget-hprogress").first
        expect(runbook_bar).to_be_visible()
        box = runbook_bar.bounding_box()
        assert box is not None and box["width"] >= 150, box
        bar_row = page.locator(f"{runbook_out} .widget-hbox:has(.widget-hprogress)").first
        expect(bar_row).to_contain_text("MiB")
        bar_row.screenshot(path=str(browser_artifacts / "lab-progress-bar.png"))

        upload = page.locator(".hk-runbook-panels .hk-upload")
        expect(upload).to_be_visible(timeout=TIMEOUT)
        # Prefilled from the runbook: its bucket, its source, its concurrency.
        expect(upload.locator(".hk-upload-bucket input")).to_have_value(first)
        expect(upload.locator(".hk-upload-path input")).to_have_value(str(exports))
        expect(upload.locator(".widget-inline-hbox:has-text('at a time') input")).to_have_value("4")
        # ... and its include/exclude globs (scratch.tmp stays out of both).
        expect(upload.locator(".hk-upload-include input")).to_have_value("")
        expect(upload.locator(".hk-upload-exclude input")).to_have_value("*.tmp")
        status = upload.locator(".hk-status-line")

        # The panel on the runbook's bucket: a re-run, every file unchanged (no 409s).
        upload.locator("button.hk-upload-start").click()
        expect(status).to_contain_text(
            f"0 of 3 file(s) uploaded to '{first}', 3 skipped (unchanged)", timeout=60_000
        )
        expect(upload.locator(".hk-upload-files")).not_to_contain_text("ConflictError")

        # The panel to another missing bucket: created once, then the files.
        upload.locator(".hk-upload-bucket input").fill(second)
        upload.locator("button.hk-upload-start").click()
        expect(status).to_contain_text(
            f"created the private bucket '{second}'; 3 of 3 file(s) uploaded", timeout=60_000
        )
        expect(upload.locator(".hk-upload-summary")).to_contain_text("upload summary: OK")
        upload.scroll_into_view_if_needed()
        upload.screenshot(path=str(browser_artifacts / "upload-panel-missing-bucket.png"))

        # And a second click: skipped as unchanged, no bytes counted as throughput.
        upload.locator("button.hk-upload-start").click()
        expect(status).to_contain_text(
            f"0 of 3 file(s) uploaded to '{second}', 3 skipped (unchanged)", timeout=60_000
        )
        expect(upload.locator(".hk-upload-counts")).to_contain_text("- MiB/s")
        expect(upload.locator(".hk-upload-files")).to_contain_text("unchanged")
        # The overall line keeps each figure on one line (no break inside "3.0 MiB").
        counts = upload.locator(".hk-upload-counts span span")
        heights = {round(b["height"]) for b in (c.bounding_box() for c in counts.all()) if b}
        assert len(heights) == 1, heights
        upload.screenshot(path=str(browser_artifacts / "upload-panel-second-click.png"))

        # One file given as the path, again: skipped as unchanged too (was a 409).
        upload.locator(".hk-upload-path input").fill(str(exports / "summary.csv"))
        upload.locator("button.hk-upload-start").click()
        expect(status).to_contain_text(
            f"0 of 1 file(s) uploaded to '{second}', 1 skipped (unchanged)", timeout=60_000
        )
        # Changed: refused, and the row says how to replace it.
        (exports / "summary.csv").write_text("day,files\n2026-11-22,4\n")
        upload.locator("button.hk-upload-start").click()
        expect(status).to_contain_text("1 file(s) failed", timeout=60_000)
        expect(upload.locator(".hk-upload-files")).to_contain_text("tick 'overwrite (upsert)'")
        upload.screenshot(path=str(browser_artifacts / "upload-panel-one-file-changed.png"))
        (exports / "summary.csv").write_text("day,files\n2026-11-21,3\n")
    except Exception:
        page.screenshot(path=str(browser_artifacts / "panels-failure.png"), full_page=True)
        print(lab.log.read_text()[-3000:])
        raise
    finally:
        page.close()
        lab.shutdown_kernels()

    try:
        for bucket in (first, second):
            assert manager.get_bucket(bucket).unwrap().public is False
            keys = sorted(o.name for o in manager.list_objects(bucket).unwrap())
            assert keys == ["daily/2026-11-21.json", "daily/big.bin", "summary.csv"]
        # The runbook's call on the same folder now: the same outcome as the panel's click.
        again = manager.upload_folder(exports, second, exclude=["*.tmp"]).unwrap()
        assert {r.status for r in again.results} == {"skipped"}
    finally:
        manager.delete_bucket(first, force=True)
        manager.delete_bucket(second, force=True)


@pytest.fixture
def database(stack: Any) -> Iterator[str]:
    if not stack.db_url:
        pytest.skip("needs the target's database URL")
    name = f"hkw_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_dashboard_apply_flow_keeps_results_by_the_buttons(
    lab: Lab,
    browser_context: Any,
    browser_artifacts: Path,
    stack: Any,
    database: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20260101000000_notes.sql").write_text(
        "create table public.notes (id bigint primary key, body text);\n"
        "alter table public.notes enable row level security;\n"
    )
    (folder / "20260101000100_notes_index.sql").write_text(
        "create index notes_body_idx on public.notes (body);\n"
    )
    (folder / "checks.toml").write_text(
        '[[indexes]]\ntable = "public.notes"\nname = "notes_body_idx"\n'
    )
    # The database URL comes from the kernel's environment: no password in the notebook.
    notebook = _notebook(
        lab,
        "import os\n"
        "import hybridkit_widgets as hkw\n"
        "from hybridkit.config import Settings\n"
        f"db = os.environ['SUPABASE_DB_URL'].rpartition('/')[0] + '/{database}'\n"
        "settings = Settings.load(db_url=db)\n"
        f"hkw.MigrationDashboard(settings, folder={str(folder)!r}, lints=False)",
    )
    page = browser_context.new_page()
    try:
        _open_and_run(page, lab, notebook)
        dash = page.locator(".hk-migrations")
        expect(dash).to_be_visible(timeout=TIMEOUT)
        status = dash.locator(".hk-status-line").first  # the panel's (the dialog has one too)
        expect(dash.locator(".hk-migrations-summary")).to_contain_text("2 pending", timeout=60_000)

        dash.locator("button.hk-migrations-plan").click()
        sql = dash.locator(".hk-migrations-sql")
        expect(sql).to_contain_text("DRY RUN", timeout=30_000)
        expect(status).to_contain_text("dry run: 2 migration(s) would be applied")
        # The result sits by the buttons, above the tables.
        buttons = dash.locator("button.hk-migrations-apply").bounding_box()
        result = status.bounding_box()
        table = dash.locator(".hk-migrations-status").bounding_box()
        assert buttons and result and table
        assert result["y"] - (buttons["y"] + buttons["height"]) < 80, (buttons, result)
        assert result["y"] < table["y"]
        dash.screenshot(path=str(browser_artifacts / "migrations-dry-run.png"))

        dash.locator("button.hk-migrations-apply").click()
        confirm = dash.locator("button.hk-confirm-button")
        expect(confirm).to_be_disabled()
        dash.locator(".hk-confirm-text input").fill("apply")
        expect(confirm).to_be_enabled()
        confirm.click()
        expect(status).to_contain_text("applied 2 migration(s)", timeout=60_000)
        # What the apply replaced is gone: the DRY RUN block and the confirmation box.
        expect(sql).not_to_contain_text("DRY RUN")
        expect(dash.locator(".hk-confirm")).to_have_count(0)
        expect(dash.locator(".hk-migrations-summary")).to_contain_text("0 pending")
        expect(dash.locator("button.hk-migrations-apply")).to_be_disabled()
        dash.screenshot(path=str(browser_artifacts / "migrations-applied.png"))
    except Exception:
        page.screenshot(path=str(browser_artifacts / "migrations-failure.png"), full_page=True)
        print(lab.log.read_text()[-3000:])
        raise
    finally:
        page.close()
        lab.shutdown_kernels()

    base = stack.db_url.rpartition("/")[0]
    with psycopg.connect(f"{base}/{database}") as conn:
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations order by 1"
        ).fetchall()
    assert rows == [("20260101000000",), ("20260101000100",)]


def test_health_check_runbook_shows_its_panel_and_one_verdict(
    lab: Lab, browser_context: Any, browser_artifacts: Path
) -> None:
    from playwright.sync_api import expect

    notebook = _runbook_copy(lab, "health_check")
    page = browser_context.new_page()
    try:
        _open_and_run(page, lab, notebook)
        outputs = page.locator(".jp-OutputArea-output")
        expect(outputs.filter(has_text="health check: OK")).to_have_count(1, timeout=TIMEOUT)
        # The panel cell's comment promises a panel: it is there, with its probes.
        health = page.locator(".hk-runbook-panels .hk-health")
        expect(health).to_be_visible(timeout=TIMEOUT)
        expect(health).to_contain_text("storage")
        expect(health).to_contain_text("rest")
        health.screenshot(path=str(browser_artifacts / "health-check-panel.png"))
    except Exception:
        page.screenshot(path=str(browser_artifacts / "health-failure.png"), full_page=True)
        print(lab.log.read_text()[-3000:])
        raise
    finally:
        page.close()
        lab.shutdown_kernels()
