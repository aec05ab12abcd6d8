"""How runbooks get their panels: interactively only, filled in from the parameters."""

from __future__ import annotations

from typing import Any

import hybridkit_widgets as hkw
import pytest

import hybridkit.runbook as rb
from hybridkit.config import Settings


class _Conn:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    out: list[Any] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: out.extend(a))
    return out


@pytest.fixture(autouse=True)
def _no_confirm_hook_left_behind() -> Any:
    yield
    hkw.uninstall()


def test_headless_runs_show_nothing(
    settings: Settings, shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRIDKIT_INTERACTIVE", "0")
    assert hkw.runbook_panel(_Conn(settings), {"bucket": "x"}, runbook="upload") is None
    assert shown == []


def test_the_runbook_name_comes_from_the_argument_hybridkit_run_or_the_notebook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HYBRIDKIT_RUNBOOK", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/jovyan/notebooks/upload.ipynb")
    assert hkw.runbook_name() == "upload"
    monkeypatch.setenv("HYBRIDKIT_RUNBOOK", "bucket_admin")
    assert hkw.runbook_name() == "bucket_admin"
    assert hkw.runbook_name("download") == "download"
    monkeypatch.delenv("HYBRIDKIT_RUNBOOK")
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert hkw.runbook_name() == ""


def test_upload_runbook_gets_the_upload_panel_and_a_browser(
    settings: Settings, bucket: str, shown: list[Any]
) -> None:
    params = rb.Params({"bucket": bucket, "prefix": "in", "source": "/data/x", "upsert": True})
    panels = hkw.runbook_panel(_Conn(settings), params, runbook="upload", interactive=True)
    assert panels is not None and shown == [panels.widget]
    panels._ipython_display_()  # as the cell's last expression: not shown twice
    assert shown == [panels.widget]
    upload = panels["upload"]
    assert isinstance(upload, hkw.UploadPanel)
    assert (upload.bucket.value, upload.prefix.value, upload.path.value) == (
        bucket,
        "in",
        "/data/x",
    )
    assert upload.upsert.value is True
    # the runbook's defaults when its parameters do not say: 4 at a time, create the bucket
    assert upload.jobs.value == 4 and upload.create_bucket.value is True
    custom = rb.Params({"bucket": bucket, "concurrency": 7, "create_bucket": False})
    again = hkw.runbook_panel(_Conn(settings), custom, runbook="upload", interactive=True)
    assert again is not None
    assert again["upload"].jobs.value == 7 and again["upload"].create_bucket.value is False
    browser = panels["browser"]
    assert isinstance(browser, hkw.BucketBrowser)
    assert browser.state.bucket == bucket and browser.state.prefix == "in/"
    # The confirm hook is in place for the destructive cells.
    from hybridkit.runbook import _confirm

    assert _confirm._factory is hkw.confirm_gate


@pytest.mark.parametrize("name", ["bucket_admin", "storage_cleanup", "download"])
def test_storage_runbooks_get_the_browser(
    name: str, settings: Settings, bucket: str, shown: list[Any]
) -> None:
    panels = hkw.runbook_panel(_Conn(settings), {"bucket": bucket}, runbook=name, interactive=True)
    assert panels is not None and list(panels.panels) == ["browser"]


def test_migration_check_gets_the_dashboard(settings: Settings, shown: list[Any]) -> None:
    panels = hkw.runbook_panel(_Conn(settings), {}, runbook="migration_check", interactive=True)
    assert panels is not None
    dashboard = panels["migrations"]
    assert isinstance(dashboard, hkw.MigrationDashboard)
    if not settings.db_url:
        pytest.skip("the rest needs the target's database URL")
    # The dashboard works through the panels' manager (the facade), not one of its own.
    assert dashboard.state is not None, dashboard.message
    backend = dashboard.state.backend
    assert isinstance(backend, hkw.KitMigrations) and not backend.owns_manager
    assert backend.manager.settings is settings
    assert backend.manager.stats()["migration_status"]["calls"] == 1
    assert dashboard.state.status is not None and dashboard.state.report is not None


def test_health_check_gets_a_panel_that_probes_again(settings: Settings, shown: list[Any]) -> None:
    panels = hkw.runbook_panel(_Conn(settings), {}, runbook="health_check", interactive=True)
    assert panels is not None and shown == [panels.widget]
    health = panels["health"]
    assert isinstance(health, hkw.HealthPanel)
    assert health.level == "ok", health.message
    assert "storage" in health.table.value and "rest" in health.table.value
    health.check_button.click()
    assert health.level == "ok" and health.manager.stats()["health_check"]["calls"] == 2


def test_the_library_finds_the_panels_through_the_entry_point_group() -> None:
    """hybridkit never imports hybridkit_widgets by name (the add-on depends on it)."""
    import ast
    from pathlib import Path

    import hybridkit_widgets

    import hybridkit
    from hybridkit.runbook._panel import find_panel

    assert find_panel() is hybridkit_widgets.runbook_panel
    package = Path(hybridkit.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "hybridkit_widgets" for n in names), path
        assert '"hybridkit_widgets"' not in path.read_text(), path
