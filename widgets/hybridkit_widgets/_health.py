"""The health panel: the health_check runbook's probes again, on a click."""

from __future__ import annotations

import html
from typing import Any

from hybridkit.config import Settings
from hybridkit_widgets._common import Panel

__all__ = ["HealthPanel", "health_table"]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _skew(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return "< 1 s" if seconds == 0 else f"{seconds:+.0f} s"


def health_table(report: Any) -> str:
    """One row per probed service: reachable, auth, HTTP status, latency, clock skew."""
    rows = []
    for c in getattr(report, "checks", ()):
        colour = "#1a7f37" if c.ok else "#cf222e"
        rows.append(
            "<tr>"
            f"<td>{html.escape(c.name)}</td>"
            f"<td style='color:{colour}'>{'ok' if c.ok else 'FAILED'}</td>"
            f"<td>{'yes' if c.reachable else 'no'}</td>"
            f"<td>{'yes' if c.auth_ok else 'no'}</td>"
            f"<td>{c.status if c.status is not None else '-'}</td>"
            f"<td>{_ms(c.latency)}</td>"
            f"<td>{_skew(c.clock_skew)}</td>"
            f"<td class='hk-detail'>{html.escape(c.detail)}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("service", "result", "reachable", "auth", "status", "latency", "skew", "detail")
    )
    return (
        f"<div class='hk-table hk-health-table'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


class HealthPanel(Panel):
    """Probe storage and REST again (``manager.health_check``, as the runbook does).

    Example:
        >>> HealthPanel(conn.manager)  # doctest: +SKIP
    """

    title = "Health"

    def __init__(self, manager: Any, *, settings: Settings | None = None) -> None:
        super().__init__(settings if settings is not None else getattr(manager, "settings", None))
        w = self._widgets
        self.manager = manager
        self.check_button = w.Button(description="Check again", icon="heartbeat")
        self.check_button.add_class("hk-health-check")
        self.table = w.HTML(value="")
        self.table.add_class("hk-health-result")
        self.check_button.on_click(self.guard(self._check, "health check"))
        self.widget = w.VBox([*self.header(), self.check_button, self.status, self.table])
        self.widget.add_class("hk-panel")
        self.widget.add_class("hk-health")
        self.guard(self._check, "health check")()

    def _check(self, _: Any = None) -> None:
        self.report("busy", "probing storage and REST")
        result = self.manager.health_check()
        report = result.data
        self.table.value = health_table(report) if report is not None else ""
        if result.success:
            self.report("ok", "healthy: every service reachable and authorised")
        else:
            self.report("error", str(result.error))
