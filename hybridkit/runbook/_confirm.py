"""Confirmation before anything destructive: a parameter headless, a widget interactively.

Headless (papermill, a scheduler) a destructive step runs only when ``dry_run`` is
False *and* ``confirm`` names the target (e.g. the bucket), so a typo in a cron
line cannot empty the wrong bucket. Interactively, when ``confirm`` is not set,
a small widget asks for the target's name; the destructive cell then proceeds
once it was clicked. No step ever waits on ``input()`` (it raises headless).

The widget is pluggable: :func:`set_confirm_widget` lets a richer panel (the
widgets package) replace the default one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hybridkit.runbook._display import is_interactive, show
from hybridkit.runbook._errors import RunbookError

__all__ = ["Gate", "confirm", "set_confirm_widget"]

WidgetFactory = Callable[["Gate"], Any]
_factory: WidgetFactory | None = None


def set_confirm_widget(factory: WidgetFactory | None) -> None:
    """Use ``factory(gate)`` to build the interactive confirmation (``None``: the default).

    The factory displays its widget and calls ``gate.approve()`` when the person
    confirmed.
    """
    global _factory
    _factory = factory


@dataclass
class Gate:
    """The answer to "may this runbook change ``target``?".

    Attributes:
        target: what the confirmation must name (a bucket name).
        action: the change in words, for messages (``"delete bucket 'logs'"``).
        dry_run: True when the run only reports what it would do.
        approved: True once confirmed (by parameter or widget).
    """

    target: str
    action: str
    dry_run: bool
    approved: bool = False
    widget: Any = field(default=None, repr=False)

    def approve(self) -> None:
        """Mark the change as confirmed (what the widget's button does)."""
        self.approved = True

    def proceed(self) -> bool:
        """True: make the change. False: dry run, report only. Raises when not confirmed.

        Raises:
            RunbookError: not a dry run, and the change was not confirmed; nothing changed.
        """
        if self.dry_run:
            return False
        if self.approved:
            return True
        if self.widget is not None:
            raise RunbookError(
                f"not confirmed: {self.action}",
                hint=f"type {self.target!r} in the confirmation box above, click Confirm, "
                "then run this cell again",
                nothing_changed=True,
            )
        raise RunbookError(
            f"not confirmed: refusing to {self.action}",
            hint=f"pass -p confirm {self.target} (the exact name) together with -p dry_run False; "
            "the plan above shows what would change",
            nothing_changed=True,
        )


def _default_widget(gate: Gate) -> Any:
    import ipywidgets as widgets  # type: ignore[import-not-found,import-untyped,unused-ignore]

    text = widgets.Text(placeholder=gate.target, description="Type name:")
    button = widgets.Button(description="Confirm", button_style="danger", disabled=True)
    status = widgets.Label(value=f"To {gate.action}, type {gate.target!r} and click Confirm.")
    button.add_class("hk-confirm")

    def on_text(change: dict[str, Any]) -> None:
        button.disabled = change["new"] != gate.target

    def on_click(_: Any) -> None:
        if text.value == gate.target:
            gate.approve()
            button.disabled = True
            text.disabled = True
            status.value = f"Confirmed: run the next cell to {gate.action}."

    text.observe(on_text, names="value")
    button.on_click(on_click)
    box = widgets.VBox([status, widgets.HBox([text, button])])
    from IPython.display import display

    display(box)  # type: ignore[no-untyped-call]
    return box


def confirm(target: str, *, action: str, dry_run: bool, confirm: str = "") -> Gate:
    """Decide whether a destructive step may run, and say so in the notebook.

    Args:
        target: the name the confirmation must match (the bucket).
        action: the change in words (``"empty bucket 'logs'"``).
        dry_run: the runbook's ``dry_run`` parameter.
        confirm: the runbook's ``confirm`` parameter.

    Returns:
        A :class:`Gate`; the destructive cell calls ``gate.proceed()``.
    """
    gate = Gate(target=target, action=action, dry_run=dry_run)
    if dry_run:
        show(
            f"DRY RUN: would {action}. Nothing will be changed. "
            f"To do it, run with dry_run = False and confirm = {target!r}."
        )
        return gate
    if confirm:
        if confirm != target:
            raise RunbookError(
                f"confirm is {confirm!r} but the target is {target!r}: refusing to {action}",
                hint=f"pass exactly -p confirm {target}",
                nothing_changed=True,
            )
        gate.approve()
        show(f"Confirmed by parameter: will {action}.")
        return gate
    if is_interactive():
        factory = _factory
        if factory is None and importlib.util.find_spec("ipywidgets") is not None:
            factory = _default_widget
        if factory is not None:
            gate.widget = factory(gate)
            return gate
        show(
            f"Not confirmed yet: to {action}, set confirm = {target!r} in the parameters cell "
            "and run the notebook again (install ipywidgets for a confirmation button)."
        )
        return gate
    show(f"Not confirmed: will not {action} (headless runs need -p confirm {target}).")
    return gate
