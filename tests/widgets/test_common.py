"""The shared pieces: secrets kept out of panels, errors shown, formats, the install hint."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import hybridkit_widgets as hkw
import pytest
from hybridkit_widgets._common import (
    INSTALL_HINT,
    Panel,
    describe,
    expect,
    format_age,
    require_ipywidgets,
    status_html,
    target_text,
)
from widgetfakes import failed, ok

from hybridkit.config import Settings
from hybridkit.errors import NotFoundError

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLXBhcnQ"


def test_public_names_are_pinned() -> None:
    assert sorted(hkw.__all__) == sorted(
        [
            "BrowserState",
            "BucketBrowser",
            "ConfirmDialog",
            "ConfirmState",
            "Entry",
            "FileTask",
            "HealthPanel",
            "KitMigrations",
            "MigrationBackend",
            "MigrationDashboard",
            "MigrationState",
            "Panel",
            "PanelError",
            "Redactor",
            "RunbookPanels",
            "UploadCancelled",
            "UploadJob",
            "UploadPanel",
            "UploadSummary",
            "__version__",
            "confirm_gate",
            "install",
            "load_ipython_extension",
            "plan_upload",
            "runbook_name",
            "runbook_panel",
            "uninstall",
            "unload_ipython_extension",
        ]
    )
    for name in hkw.__all__:
        assert getattr(hkw, name) is not None


def test_redactor_removes_every_secret_of_the_settings_and_any_jwt() -> None:
    settings = Settings.load(
        env={
            "SUPABASE_URL": "http://127.0.0.1:54321",
            "SUPABASE_SERVICE_ROLE_KEY": "service-secret-value",
            "SUPABASE_ANON_KEY": "anon-secret-value",
            "SUPABASE_DB_URL": "postgresql://postgres:pg-password@127.0.0.1:5432/postgres",
        },
        env_file=None,
    )
    redactor = hkw.Redactor.for_settings(settings)
    text = f"service-secret-value anon-secret-value pg-password {JWT} plain"
    assert redactor.clean(text) == "*** *** *** *** plain"


def test_target_text_names_the_url_and_the_key_role_never_the_key() -> None:
    settings = Settings.load(
        supabase_url="http://127.0.0.1:54321", service_role_key="k3y-value", env_file=None
    )
    text = target_text(settings)
    assert text == "http://127.0.0.1:54321 · service_role key (not shown)"
    assert "k3y-value" not in text
    assert target_text(None) == "no target"


def test_expect_returns_data_or_raises_a_readable_panel_error() -> None:
    assert expect(ok([1, 2]), "list") == [1, 2]
    with pytest.raises(hkw.PanelError, match=r"^get b failed: NotFoundError: Bucket not found$"):
        expect(failed(NotFoundError("Bucket not found")), "get b")


def test_describe_says_what_kind_of_failure_it_was() -> None:
    assert describe(hkw.PanelError("choose a bucket")) == "choose a bucket"
    assert describe(NotFoundError("gone")) == "NotFoundError: gone"
    assert describe(KeyError("x")) == "unexpected KeyError: 'x'"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=5), "5 s"),
        (timedelta(minutes=3, seconds=10), "3 min"),
        (timedelta(hours=5), "5 h"),
        (timedelta(days=1, hours=2), "1 day"),
        (timedelta(days=40), "40 days"),
        (timedelta(seconds=-30), "0 s"),  # clock skew: never negative
    ],
)
def test_format_age(delta: timedelta, text: str) -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert format_age(now - delta, now) == text
    assert format_age(None, now) == "-"
    assert format_age((now - delta).replace(tzinfo=None), now) == text


class _Demo(Panel):
    title = "demo"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.button = self._widgets.Button(description="go")
        self.widget = self._widgets.VBox([*self.header(), self.button, self.status])


def test_a_failing_callback_is_shown_in_the_panel_and_not_raised() -> None:
    settings = Settings.load(
        supabase_url="http://127.0.0.1:54321", service_role_key="k3y-value", env_file=None
    )
    panel = _Demo(settings)

    def boom(_: Any) -> None:
        raise RuntimeError("the key k3y-value leaked into a message")

    panel.button.on_click(panel.guard(boom, "demo action"))
    panel.button.click()  # must not raise
    assert panel.level == "error"
    assert (
        panel.message == "demo action: unexpected RuntimeError: the key *** leaked into a message"
    )
    assert "k3y-value" not in panel.status.value
    assert "Error: demo action" in panel.status.value
    assert panel.errors == [panel.message]
    assert "k3y-value" not in panel.widget.children[0].value  # the header shows the role only
    assert "service_role key (not shown)" in panel.widget.children[0].value


def test_status_html_escapes_text() -> None:
    html = status_html("error", "<script>x</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_missing_ipywidgets_fails_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # what an absent package looks like
    with pytest.raises(ImportError, match="pip install hybridkit-widgets"):
        require_ipywidgets()
    assert "pip install" in INSTALL_HINT
