"""The runbooks' interactive panels, shown only when a person runs the notebook."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from hybridkit.runbook._display import is_interactive, show

__all__ = ["PANELS_GROUP", "find_panel", "panel"]

PANELS_GROUP = "hybridkit.panels"
"""The entry-point group an add-on registers its runbook panels under (name ``runbook``)."""

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
    factory = find_panel()
    if factory is None:
        show(_HINT)
        return None
    return factory(conn, params, runbook=runbook)


def find_panel(name: str = "runbook") -> Callable[..., Any] | None:
    """The panel factory an installed add-on registered under ``hybridkit.panels``.

    Returns ``None`` when none is installed (or it cannot be loaded).
    """
    for point in entry_points(group=PANELS_GROUP, name=name):
        try:
            factory: Callable[..., Any] = point.load()
        except ImportError:
            continue
        return factory
    return None
