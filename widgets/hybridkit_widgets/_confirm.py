"""The confirmation dialog: type the target's name, then click a red button.

Used by the panels before anything destructive (delete, empty, apply) and, through
:func:`confirm_gate`, by the runbooks' ``rb.confirm`` gates when a person runs them
(``hybridkit.runbook.set_confirm_widget``). Headless runs never see it: there the
``confirm`` parameter decides.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hybridkit.config import Settings
from hybridkit_widgets._common import Panel, PanelError

__all__ = ["ConfirmDialog", "ConfirmState", "confirm_gate"]

Decision = Literal["pending", "confirmed", "cancelled"]


@dataclass
class ConfirmState:
    """What the dialog asks and what was answered.

    Attributes:
        target: the name the person must type (a bucket name).
        action: the change in words (``"empty bucket 'logs': 12 object(s)"``).
        typed: what was typed so far.
        decision: ``pending``, then ``confirmed`` or ``cancelled`` (final).

    Example:
        >>> state = ConfirmState("logs", "empty bucket 'logs'")
        >>> state.typed = "logs"
        >>> state.confirm(); state.decision
        'confirmed'
    """

    target: str
    action: str
    typed: str = ""
    decision: Decision = "pending"

    @property
    def matches(self) -> bool:
        """True when the typed text is exactly the target."""
        return self.typed == self.target

    def confirm(self) -> None:
        """Record the confirmation.

        Raises:
            PanelError: the name does not match, or the dialog was already answered.
        """
        if self.decision != "pending":
            raise PanelError(f"already {self.decision}")
        if not self.matches:
            raise PanelError(f"type {self.target!r} exactly to confirm (typed {self.typed!r})")
        self.decision = "confirmed"

    def cancel(self) -> None:
        """Record that the person backed out (nothing happens)."""
        if self.decision == "pending":
            self.decision = "cancelled"


class ConfirmDialog(Panel):
    """A small dialog: the action, a box to type the target's name, Confirm and Cancel.

    Args:
        target: what must be typed.
        action: what will happen, in words.
        on_confirm: called once the person confirmed; its return value (a string)
            becomes the success message. Errors it raises are shown in the dialog.
        on_cancel: called when the person cancels.
        detail: more text under the action (what will be deleted...).
        done_text: the message after a successful confirmation.
        settings: used only to keep secrets out of messages.

    Example:
        >>> dialog = ConfirmDialog("logs", "empty bucket 'logs'", on_confirm=lambda: "emptied")
        >>> dialog.text.value = "logs"
        >>> dialog.confirm_button.click()
        >>> dialog.message
        'emptied'
    """

    title = "Confirm"

    def __init__(
        self,
        target: str,
        action: str,
        *,
        on_confirm: Callable[[], Any],
        on_cancel: Callable[[], Any] | None = None,
        detail: str = "",
        done_text: str = "",
        settings: Settings | None = None,
    ) -> None:
        super().__init__(settings)
        w = self._widgets
        self.state = ConfirmState(target, action)
        self._on_confirm = on_confirm
        self._on_cancel = on_cancel
        self._done_text = done_text or f"Done: {action}."
        question = (
            f"<b>Confirm:</b> {html.escape(action)}<br>"
            + (f"<span>{html.escape(detail)}</span><br>" if detail else "")
            + f"Type <code>{html.escape(target)}</code> and click Confirm."
        )
        self.question = w.HTML(value=question)
        self.text = w.Text(placeholder=target, description="Name:", continuous_update=True)
        self.text.add_class("hk-confirm-text")
        self.confirm_button = w.Button(
            description="Confirm", button_style="danger", disabled=True, icon="exclamation-triangle"
        )
        self.confirm_button.add_class("hk-confirm-button")
        self.cancel_button = w.Button(description="Cancel")
        self.cancel_button.add_class("hk-cancel-button")
        self.text.observe(self.guard(self._on_text, "confirm"), names="value")
        self.confirm_button.on_click(self.guard(self._confirm, "confirm"))
        self.cancel_button.on_click(self.guard(self._cancel, "cancel"))
        self.widget = w.VBox(
            [
                self.question,
                w.HBox([self.text, self.confirm_button, self.cancel_button]),
                self.status,
            ]
        )
        self.widget.add_class("hk-confirm")

    @property
    def decision(self) -> Decision:
        """``pending``, ``confirmed`` or ``cancelled``."""
        return self.state.decision

    def _on_text(self, change: dict[str, Any]) -> None:
        self.state.typed = str(change["new"])
        self.confirm_button.disabled = not self.state.matches or self.state.decision != "pending"

    def _close(self) -> None:
        self.text.disabled = True
        self.confirm_button.disabled = True
        self.cancel_button.disabled = True

    def _confirm(self, _: Any = None) -> None:
        self.state.typed = str(self.text.value)
        self.state.confirm()
        self._close()
        self.report("busy", f"working: {self.state.action}")
        outcome = self._on_confirm()
        self.report("ok", outcome if isinstance(outcome, str) and outcome else self._done_text)

    def _cancel(self, _: Any = None) -> None:
        self.state.cancel()
        self._close()
        self.report("info", "Cancelled: nothing was changed.")
        if self._on_cancel is not None:
            self._on_cancel()


def confirm_gate(gate: Any) -> Any:
    """The factory for ``hybridkit.runbook.set_confirm_widget``: a dialog that approves ``gate``.

    Displays the dialog and returns its widget; clicking Confirm calls
    ``gate.approve()``, after which the runbook's next cell makes the change.
    """
    dialog = ConfirmDialog(
        gate.target,
        gate.action,
        on_confirm=gate.approve,
        done_text=f"Confirmed. Now run the next cell to {gate.action}.",
    )
    dialog.show()
    return dialog.widget
