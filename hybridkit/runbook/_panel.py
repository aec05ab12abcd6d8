"""The runbooks' interactive panels, shown only when a person runs the notebook."""

from __future__ import annotations

import importlib
from typing import Any

from hybridkit.runbook._display import is_interactive, show

__all__ = ["panel"]

_HINT = (
    "Interactive panels need the hybridkit-widgets package: "
    "`pip install -e ./widgets` from the repository (Binder and `./run` install it)."
)


def panel(conn: Any, params: Any, *, runbook: str) -> Any:
    """Show the hybridkit-widgets panel that fits ``runbook``; headless, do nothing.

    Headless runs (papermill, ``hybridkit run``, nbval) keep to the parameters and
    never import ipywidgets, so their saved notebooks hold no widget output. In
    JupyterLab the panel (and the runbooks' confirmation dialog) come from the
    separate ``hybridkit-widgets`` distribution when it is installed.

    Example:
        >>> panel(None, None, runbook="upload") is None  # outside JupyterLab
        True
    """
    if not is_interactive():
        return None
    try:
        widgets = importlib.import_module("hybridkit_widgets")
    except ImportError:
        show(_HINT)
        return None
    return widgets.runbook_panel(conn, params, runbook=runbook)
