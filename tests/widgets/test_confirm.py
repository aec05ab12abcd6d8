"""The confirmation dialog, on its own and as the runbooks' ``rb.confirm`` widget."""

from __future__ import annotations

from typing import Any

import hybridkit_widgets as hkw
import pytest

import hybridkit.runbook as rb


def test_state_confirms_only_the_exact_name_and_only_once() -> None:
    state = hkw.ConfirmState("logs", "empty bucket 'logs'")
    state.typed = "log"
    assert not state.matches
    with pytest.raises(hkw.PanelError, match="type 'logs' exactly"):
        state.confirm()
    assert state.decision == "pending"
    state.typed = "logs"
    state.confirm()
    assert state.decision == "confirmed"
    with pytest.raises(hkw.PanelError, match="already confirmed"):
        state.confirm()
    state.cancel()  # too late: the answer stands
    assert state.decision == "confirmed"


def test_dialog_enables_confirm_only_when_the_name_matches_then_runs_the_action() -> None:
    done: list[str] = []
    dialog = hkw.ConfirmDialog(
        "logs", "empty bucket 'logs'", on_confirm=lambda: done.append("x") or "emptied 'logs'"
    )
    assert dialog.confirm_button.disabled
    dialog.text.value = "LOGS"
    assert dialog.confirm_button.disabled
    dialog.confirm_button.click()  # a disabled button in a browser cannot be clicked either
    assert done == [] and dialog.level == "error"
    dialog.text.value = "logs"
    assert not dialog.confirm_button.disabled
    dialog.confirm_button.click()
    assert done == ["x"]
    assert dialog.decision == "confirmed"
    assert dialog.level == "ok" and dialog.message == "emptied 'logs'"
    assert dialog.text.disabled and dialog.confirm_button.disabled and dialog.cancel_button.disabled
    dialog.confirm_button.click()  # a second click does nothing more
    assert done == ["x"]


def test_a_mismatched_click_is_refused_in_the_dialog() -> None:
    done: list[int] = []
    dialog = hkw.ConfirmDialog("logs", "delete", on_confirm=lambda: done.append(1))
    dialog.text.value = "other"
    dialog.confirm_button.disabled = False  # as if a stale frontend let the click through
    dialog.confirm_button.click()
    assert done == []
    assert dialog.level == "error" and "type 'logs' exactly" in dialog.message


def test_cancel_changes_nothing_and_says_so() -> None:
    calls: list[str] = []
    dialog = hkw.ConfirmDialog(
        "logs",
        "delete bucket 'logs'",
        on_confirm=lambda: calls.append("confirm"),
        on_cancel=lambda: calls.append("cancel"),
    )
    dialog.cancel_button.click()
    assert calls == ["cancel"]
    assert dialog.decision == "cancelled"
    assert dialog.message == "Cancelled: nothing was changed."
    dialog.text.value = "logs"
    dialog.confirm_button.click()
    assert calls == ["cancel"]


def test_an_action_that_fails_is_shown_in_the_dialog() -> None:
    def fail() -> None:
        raise hkw.PanelError("empty bucket 'logs' failed: NotFoundError: Bucket not found")

    dialog = hkw.ConfirmDialog("logs", "empty bucket 'logs'", on_confirm=fail)
    dialog.text.value = "logs"
    dialog.confirm_button.click()
    assert dialog.level == "error"
    assert "Bucket not found" in dialog.message
    assert "Bucket not found" in dialog.status.value


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What would have been displayed (no kernel here)."""
    out: list[Any] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: out.extend(a))
    return out


def test_confirm_gate_approves_the_runbook_gate(shown: list[Any]) -> None:
    gate = rb.Gate(target="logs", action="empty bucket 'logs'", dry_run=False)
    box = hkw.confirm_gate(gate)
    assert shown == [box]
    with pytest.raises(rb.RunbookError, match="not confirmed"):
        gate.widget = box
        gate.proceed()
    text, confirm = box.children[1].children[0], box.children[1].children[1]
    text.value = "logs"
    confirm.click()
    assert gate.approved and gate.proceed() is True
    assert "run the next cell" in box.children[2].value


def test_install_makes_interactive_runbooks_use_the_dialog(
    shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRIDKIT_INTERACTIVE", "1")
    hkw.install()
    try:
        gate = rb.confirm("logs", action="empty bucket 'logs'", dry_run=False)
        assert "hk-confirm" in gate.widget._dom_classes
        assert any(getattr(w, "_dom_classes", None) == ("hk-confirm",) for w in shown)
        # Headless, the parameter still decides and no widget is made.
        monkeypatch.setenv("HYBRIDKIT_INTERACTIVE", "0")
        headless = rb.confirm("logs", action="empty bucket 'logs'", dry_run=False)
        assert headless.widget is None and not headless.approved
    finally:
        hkw.uninstall()


def test_the_ipython_extension_hooks_install_and_uninstall(monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridkit.runbook import _confirm

    hkw.load_ipython_extension(None)
    assert _confirm._factory is hkw.confirm_gate
    hkw.unload_ipython_extension(None)
    assert _confirm._factory is None
