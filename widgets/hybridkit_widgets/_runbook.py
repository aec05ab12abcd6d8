"""How the runbooks use the panels: interactively only; headless runs stay parameter-driven.

Two hooks:

* :func:`install` registers :func:`~hybridkit_widgets.confirm_gate` as the runbooks'
  confirmation widget (``hybridkit.runbook.set_confirm_widget``). Loading the
  package as an IPython extension does it for every kernel
  (``c.InteractiveShellApp.extensions = ["hybridkit_widgets"]``, which Binder's
  ``postBuild`` writes), or run ``%load_ext hybridkit_widgets`` in a notebook.
* :func:`runbook_panel` shows the panel that fits a runbook (the upload panel and
  a bucket browser for ``upload``; the migration dashboard for
  ``migration_check``...) — when a person runs the notebook. Headless it shows
  nothing and returns ``None``, so a scheduled run's output never holds widgets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hybridkit_widgets._browser_view import BucketBrowser
from hybridkit_widgets._common import Panel, require_ipywidgets
from hybridkit_widgets._confirm import confirm_gate
from hybridkit_widgets._health import HealthPanel
from hybridkit_widgets._migrations_view import MigrationDashboard
from hybridkit_widgets._upload_view import UploadPanel

__all__ = [
    "RunbookPanels",
    "install",
    "load_ipython_extension",
    "runbook_name",
    "runbook_panel",
    "uninstall",
    "unload_ipython_extension",
]


def install() -> None:
    """Use the widgets' confirmation dialog in the runbooks' ``rb.confirm`` gates."""
    from hybridkit.runbook import set_confirm_widget

    set_confirm_widget(confirm_gate)


def uninstall() -> None:
    """Go back to the runbooks' own confirmation widget."""
    from hybridkit.runbook import set_confirm_widget

    set_confirm_widget(None)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hybridkit_widgets`` (or the kernel's ``extensions`` setting)."""
    install()


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hybridkit_widgets``."""
    uninstall()


def runbook_name(explicit: str | None = None) -> str:
    """The running runbook's name: given, else ``hybridkit run``'s, else the notebook's file."""
    if explicit:
        return explicit
    name = os.environ.get("HYBRIDKIT_RUNBOOK", "")
    if name:
        return name
    session = os.environ.get("JPY_SESSION_NAME", "")  # JupyterLab gives kernels the path
    return Path(session).stem if session else ""


class RunbookPanels:
    """The panels shown under a runbook, and their common box.

    Attributes:
        runbook: the runbook's name.
        panels: the panels, by kind (``upload``, ``browser``, ``migrations``, ``health``).
        widget: the box holding them.
    """

    def __init__(self, runbook: str, panels: Mapping[str, Panel]) -> None:
        w = require_ipywidgets()
        self.runbook = runbook
        self.panels = dict(panels)
        self.widget = w.VBox([p.widget for p in self.panels.values()])
        self.widget.add_class("hk-runbook-panels")
        self.shown = False

    def __getitem__(self, kind: str) -> Panel:
        return self.panels[kind]

    def show(self) -> None:
        """Display the panels (once: :func:`runbook_panel` already did)."""
        if self.shown:
            return
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
        self.shown = True

    def _ipython_display_(self) -> None:
        # ``hkw.runbook_panel(conn, p)`` as a cell's last line must not show them twice.
        self.show()


def _param(params: Any, name: str, default: Any = "") -> Any:
    if params is None:
        return default
    if isinstance(params, Mapping):
        return params.get(name, default)
    return getattr(params, name, default)


def build_panels(runbook: str, manager: Any, settings: Any, params: Any = None) -> dict[str, Panel]:
    """The panels that fit ``runbook``, filled in from its parameters."""
    bucket = str(_param(params, "bucket", "") or "")
    prefix = str(_param(params, "prefix", "") or "")
    if runbook == "health_check":
        return {"health": HealthPanel(manager, settings=settings)}
    if runbook == "migration_check":
        folder = _param(params, "migrations_dir", "") or None
        return {"migrations": MigrationDashboard(manager, folder=folder, settings=settings)}
    panels: dict[str, Panel] = {}
    if runbook == "upload":
        panels["upload"] = UploadPanel(
            manager,
            bucket=bucket,
            prefix=prefix,
            path=str(_param(params, "source", "") or ""),
            upsert=bool(_param(params, "upsert", False)),
            # the runbook's defaults: 4 at a time, a missing bucket created
            jobs=int(_param(params, "concurrency", 4) or 4),
            create_bucket=bool(_param(params, "create_bucket", True)),
            include=list(_param(params, "include", []) or []),
            exclude=list(_param(params, "exclude", []) or []),
            verify=bool(_param(params, "verify", True)),
            settings=settings,
        )
    panels["browser"] = BucketBrowser(
        manager, bucket=bucket or None, prefix=prefix, settings=settings
    )
    return panels


def runbook_panel(
    conn: Any = None,
    params: Any = None,
    *,
    runbook: str | None = None,
    interactive: bool | None = None,
) -> RunbookPanels | None:
    """Show the panel for this runbook when a person runs it; headless, do nothing.

    Args:
        conn: the runbook's ``rb.connect()`` connection (its settings are used; the
            panels get their own manager, so the runbook's ``conn.close()`` does not
            stop them). ``None``: connect now.
        params: the runbook's validated parameters (``p``), to fill the panel in.
        runbook: the runbook's name (default: from the environment, see :func:`runbook_name`).
        interactive: force the mode (default: ``hybridkit.runbook.is_interactive()``).

    Returns:
        The panels shown, or ``None`` headless (and for runbooks with nothing to click).

    Example:
        >>> import hybridkit_widgets as hkw
        >>> hkw.runbook_panel(interactive=False) is None
        True
    """
    import hybridkit.runbook as rb

    if not (rb.is_interactive() if interactive is None else interactive):
        return None
    install()
    name = runbook_name(runbook)
    if conn is None:
        conn = rb.connect()
    settings = conn.settings
    from hybridkit.manager import HybridSupabaseManager

    manager = HybridSupabaseManager(settings)
    panels = build_panels(name, manager, settings, params)
    if not panels:
        manager.close()
        return None
    shown = RunbookPanels(name, panels)
    shown.show()
    return shown
