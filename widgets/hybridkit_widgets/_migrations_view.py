"""The migration dashboard: a thin ipywidgets view over :class:`MigrationState`."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridkit.config import Settings
from hybridkit_widgets._common import Panel, PanelError
from hybridkit_widgets._confirm import ConfirmDialog
from hybridkit_widgets._migrations import KitMigrations, MigrationBackend, MigrationState

if TYPE_CHECKING:
    from hybridkit.manager import HybridSupabaseManager

__all__ = ["MigrationDashboard"]

_RESULT_COLOURS = {"ok": "#1a7f37", "ERROR": "#cf222e", "WARNING": "#9a6700", "INFO": "#57606a"}
_STATE_COLOURS = {
    "applied": "#1a7f37",
    "applied elsewhere": "#1a7f37",
    "pending": "#9a6700",
    "out of order": "#cf222e",
    "changed": "#cf222e",
    "missing locally": "#cf222e",
}


def html_table(rows: list[dict[str, str]], colour_column: str, colours: dict[str, str]) -> str:
    """Rows of text as an HTML table, one column coloured by value."""
    if not rows:
        return "<i>(none)</i>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = html.escape(row[c])
            if c == colour_column:
                value = f"<span style='color:{colours.get(row[c], 'inherit')}'>{value}</span>"
            cells.append(f"<td>{value}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<div class='hk-table'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


class MigrationDashboard(Panel):
    """Migration status, checks and lints; the SQL of a dry run; apply after confirmation.

    The work goes through the manager's ``migration_status``, ``apply_migrations``
    and ``check_migrations`` (:class:`KitMigrations`), as in the ``migration_check``
    runbook.

    Args:
        manager: the ``HybridSupabaseManager`` to work through (not closed here); or,
            as before, ``Settings`` to build one from (closed by :meth:`close`).
            Its settings say where the database is (``SUPABASE_DB_URL``, or an
            access token with a project ref).
        folder: the migrations folder (default: the kit's ``migrations/``).
        backend: use this instead of :class:`KitMigrations` (tests).
        lints: run the advisor's security lints (``None``: as ``checks.toml`` says).
        settings: the settings, by keyword (with a manager: only for the target
            line and for keeping its secrets off the page).

    Example:
        >>> MigrationDashboard(conn.manager, folder="migrations")  # doctest: +SKIP
    """

    title = "Migrations"

    def __init__(
        self,
        manager: HybridSupabaseManager | Settings | None = None,
        *,
        folder: str | Path | None = None,
        backend: MigrationBackend | None = None,
        lints: bool | None = True,
        settings: Settings | None = None,
    ) -> None:
        if isinstance(manager, Settings):
            manager, settings = None, manager if settings is None else settings
        if settings is None and manager is not None:
            settings = getattr(manager, "settings", None)
        super().__init__(settings)
        # The backend this panel built (and closes); a given one is the caller's.
        self._owned: KitMigrations | None = None
        w = self._widgets
        self.state: MigrationState | None = None
        self.summary = w.HTML(value="")
        self.summary.add_class("hk-migrations-summary")
        # The tables scroll inside the panel: the results stay near the buttons.
        self.status_table = w.HTML(value="", layout=w.Layout(max_height="300px", overflow="auto"))
        self.status_table.add_class("hk-migrations-status")
        self.findings_table = w.HTML(value="", layout=w.Layout(max_height="300px", overflow="auto"))
        self.findings_table.add_class("hk-migrations-checks")
        self.sql = w.HTML(value="")
        self.sql.add_class("hk-migrations-sql")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.add_class("hk-migrations-refresh")
        self.plan_button = w.Button(description="Show SQL (dry run)", icon="eye")
        self.plan_button.add_class("hk-migrations-plan")
        self.apply_button = w.Button(description="Apply pending…", button_style="danger")
        self.apply_button.add_class("hk-migrations-apply")
        self.confirm_area = w.VBox([])
        for button in (self.refresh_button, self.plan_button, self.apply_button):
            button.layout = w.Layout(width="auto")  # the whole label ("Show SQL (dry run)")
        self.refresh_button.on_click(self.guard(self._refresh, "refresh"))
        self.plan_button.on_click(self.guard(self._plan, "dry run"))
        self.apply_button.on_click(self.guard(self._ask_apply, "apply"))
        self.widget = w.VBox(
            [
                *self.header(),
                w.HBox([self.refresh_button, self.plan_button, self.apply_button]),
                # each action's result right under its button, replacing the last one
                self.status,
                self.confirm_area,
                self.sql,
                self.summary,
                w.HTML(value="<b>Status</b>"),
                self.status_table,
                w.HTML(value="<b>Checks and lints</b>"),
                self.findings_table,
            ]
        )
        self.widget.add_class("hk-panel")
        self.widget.add_class("hk-migrations")

        def start() -> None:
            if backend is not None:
                chosen: MigrationBackend = backend
            else:
                if manager is None and settings is None:
                    raise PanelError("no manager: pass the runbook's conn.manager")
                chosen = self._owned = KitMigrations(
                    manager, folder, lints=lints, settings=settings
                )
            self.state = MigrationState(chosen)
            self._refresh()

        self.guard(start)()
        self._enable()

    def close(self) -> None:
        """Release what this panel built: the manager made from ``Settings`` (idempotent)."""
        if self._owned is not None:
            self._owned.close()

    def _state(self) -> MigrationState:
        if self.state is None:
            raise PanelError("the migrations are not available (see the message above)")
        return self.state

    def _enable(self) -> None:
        ready = self.state is not None and self.state.status is not None
        self.plan_button.disabled = not ready
        self.apply_button.disabled = not ready or self._state().pending_count == 0

    def render(self) -> None:
        """Show the status, the findings and the verdict."""
        state = self._state()
        target = html.escape(str(getattr(state.backend, "target", "")))
        self.summary.value = f"<b>{html.escape(state.verdict)}</b> — ledger: {target}"
        self.status_table.value = html_table(state.status_rows(), "state", _STATE_COLOURS)
        self.findings_table.value = html_table(state.finding_rows(), "result", _RESULT_COLOURS)
        self._enable()

    def _refresh(self, _: Any = None) -> None:
        state = self._state()
        self.report("busy", "reading the ledger and running the checks")
        try:
            state.load()
        finally:
            if state.status is not None:
                self.render()
        self.report("ok" if state.report is not None and state.report.ok else "info", state.verdict)

    def _plan(self, _: Any = None) -> None:
        self.confirm_area.children = []  # a new dry run replaces an open confirmation
        plan = self._state().plan()
        if not plan.files:
            self.sql.value = "<i>nothing to apply: the database is up to date</i>"
            self.report("info", "nothing to apply")
            return
        files = "".join(f"<li>{html.escape(f)}</li>" for f in plan.files)
        self.sql.value = (
            f"<b>DRY RUN</b>: would apply {len(plan.files)} migration(s):<ul>{files}</ul>"
            f"<pre style='max-height:240px;overflow:auto;font-size:11px'>"
            f"{html.escape(plan.sql)}</pre>"
        )
        self.report("info", f"dry run: {len(plan.files)} migration(s) would be applied")

    def _ask_apply(self, _: Any = None) -> None:
        state = self._state()
        plan = state.plan()
        if not plan.files:
            raise PanelError("nothing to apply: no pending migration")
        action = f"apply {len(plan.files)} migration(s) to {getattr(state.backend, 'target', '')}"

        def run() -> str:
            try:
                applied = state.apply()
            finally:
                self.render()
            # What it replaced goes: the dry run's SQL and the confirmation box.
            self.sql.value = ""
            self.confirm_area.children = []
            done = f"applied {len(applied)} migration(s)" + (
                f" ({', '.join(applied)})" if applied else ""
            )
            self.report("ok", f"{done}; {state.verdict}")
            return done

        dialog = ConfirmDialog(
            "apply",
            action,
            on_confirm=run,
            detail=", ".join(plan.files),
            settings=self._settings,
        )
        self.confirm_area.children = [dialog.widget]
        self.report("info", f"confirm: {action}")
