"""What every panel shares: error capture, the status line, the target line, formatting.

ipywidgets swallows an exception raised in a callback (it goes to the kernel's log,
never under the cell), so every callback a panel registers goes through
:meth:`Panel.guard`: the error is caught, logged, and shown in the panel's status
line. Text shown there passes through a :class:`Redactor` first, so no key reaches
the page, a saved notebook or a screenshot.
"""

from __future__ import annotations

import html
import importlib
import logging
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from hybridkit.config import Settings, mask_url
from hybridkit.errors import HybridError

__all__ = [
    "Level",
    "Panel",
    "PanelError",
    "Redactor",
    "describe",
    "expect",
    "format_age",
    "format_bytes",
    "require_ipywidgets",
    "target_text",
]

_log = logging.getLogger("hybridkit_widgets")

Level = Literal["info", "busy", "ok", "error"]

INSTALL_HINT = "the hybridkit panels need ipywidgets: pip install hybridkit-widgets (or ipywidgets)"

# A JWT as Supabase keys and signed-URL tokens are written: three base64url parts.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")

_COLOURS: dict[Level, str] = {
    "info": "#31708f",
    "busy": "#8a6d3b",
    "ok": "#3c763d",
    "error": "#a94442",
}

# One stylesheet for every panel: inline <style> in an HTML widget works in
# JupyterLab and Notebook 7, and repeating it in several panels is harmless.
STYLE = """
<style>
.hk-panel { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 10px; margin: 4px 0; }
.hk-panel .hk-title { font-weight: 600; font-size: 14px; }
.hk-panel .hk-target { color: #57606a; font-size: 12px; }
.hk-listing select { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.hk-table table { border-collapse: collapse; font-size: 12px; }
.hk-table th, .hk-table td { text-align: left; padding: 1px 8px 1px 0; white-space: nowrap; }
.hk-bar { display: inline-block; width: 90px; height: 8px; background: #eaeef2;
          border-radius: 4px; vertical-align: middle; overflow: hidden; }
.hk-bar > span { display: block; height: 100%; background: #2da44e; }
.hk-bar.hk-bar-failed { background: #ffebe9; }
.hk-bar.hk-bar-failed > span { background: #cf222e; }
.hk-bar.hk-bar-skipped > span { background: #8c959f; }
.hk-table td.hk-detail { white-space: normal; overflow-wrap: anywhere; max-width: 420px; }
.hk-table tr.hk-row-failed td { background: #fff5f5; }
.hk-counts span { white-space: nowrap; }
.hk-result { margin: 2px 0 4px 0; }
.hk-confirm { border-left: 4px solid #d9534f; padding-left: 8px; margin: 4px 0; }
</style>
"""


def require_ipywidgets() -> Any:
    """Import ipywidgets, or fail with the install command.

    Raises:
        ImportError: ipywidgets is not installed; the message says what to install.
    """
    try:
        return importlib.import_module("ipywidgets")
    except ImportError:
        raise ImportError(INSTALL_HINT) from None


class PanelError(Exception):
    """A panel action that could not be done; its message is what the panel shows."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def expect(result: Any, what: str) -> Any:
    """``result.data`` of a successful ``HybridOperationResult``, else :class:`PanelError`.

    Example:
        >>> from hybridkit.manager import HybridOperationResult
        >>> expect(HybridOperationResult(True, [1], None), "list buckets")
        [1]
    """
    if getattr(result, "success", False):
        return result.data
    error = getattr(result, "error", None)
    kind = type(error).__name__ if isinstance(error, BaseException) else "error"
    raise PanelError(f"{what} failed: {kind}: {error}")


def describe(exc: BaseException) -> str:
    """A one-line description of a failure, for the status line."""
    if isinstance(exc, PanelError):
        return exc.message
    if isinstance(exc, HybridError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"unexpected {type(exc).__name__}: {exc}"


class Redactor:
    """Removes secrets from text before a panel shows it.

    Every secret value of the settings (keys, access token, JWT secret, the
    database password) and anything shaped like a JWT is replaced by ``***``.

    Example:
        >>> Redactor(["s3cret"]).clean("key s3cret and eyJhbGciOi.eyJzdWIiOi.c2ln")
        'key *** and ***'
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    @classmethod
    def for_settings(cls, settings: Settings | None) -> Redactor:
        """A redactor for every secret the settings hold."""
        if settings is None:
            return cls()
        from hybridkit.redact import known_secrets

        env: dict[str, str] = {}
        names = {
            "service_role_key": "SUPABASE_SERVICE_ROLE_KEY",
            "anon_key": "SUPABASE_ANON_KEY",
            "access_token": "SUPABASE_ACCESS_TOKEN",
            "db_url": "SUPABASE_DB_URL",
            "read_only_db_url": "SUPABASE_READ_ONLY_DB_URL",
        }
        for name, var in names.items():
            secret = getattr(settings, name, None)
            if secret:
                env[var] = secret.get_secret_value()
        # The local stack's signing secret is exported next to the keys (binder/start).
        env["SUPABASE_JWT_SECRET"] = os.environ.get("SUPABASE_JWT_SECRET", "")
        return cls(known_secrets(env))

    def clean(self, text: str) -> str:
        """``text`` with every secret replaced by ``***`` (hybridkit.redact's rules)."""
        from hybridkit.redact import REDACTED, redact_text

        return redact_text(text, self._secrets)[0].replace(REDACTED, "***")


def target_text(settings: Settings | None) -> str:
    """``http://127.0.0.1:54321 · service_role key (not shown)`` — never the key."""
    if settings is None or not settings.supabase_url:
        return "no target"
    return f"{mask_url(settings.supabase_url)} · {settings.key_role} key (not shown)"


def format_bytes(n: float | None) -> str:
    """``1536`` → ``'1.5 KiB'`` (the runbooks' format).

    Example:
        >>> format_bytes(1536), format_bytes(None)
        ('1.5 KiB', '-')
    """
    from hybridkit.runbook import format_bytes as _format

    return _format(n)


def format_age(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``when`` was, shortly: ``'42 s'``, ``'5 min'``, ``'3 h'``, ``'12 days'``.

    Example:
        >>> from datetime import timedelta
        >>> now = datetime(2026, 11, 22, tzinfo=UTC)
        >>> format_age(now - timedelta(minutes=5), now), format_age(None, now)
        ('5 min', '-')
    """
    if when is None:
        return "-"
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0.0, (now - when).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h"
    days = seconds // 86400
    return f"{days:.0f} day" if days == 1 else f"{days:.0f} days"


def status_html(level: Level, text: str) -> str:
    """The status line's HTML: one coloured line, escaped."""
    prefix = {"info": "", "busy": "… ", "ok": "✓ ", "error": "Error: "}[level]
    colour = _COLOURS[level]
    body = html.escape(prefix + text).replace("\n", "<br>")
    return f"<div class='hk-status hk-status-{level}' style='color:{colour}'>{body}</div>"


class Panel:
    """The base of every panel: a root widget, a status line, guarded callbacks.

    Subclasses build ``self.widget`` and register callbacks through :meth:`guard`.
    A panel displays itself when it is the last expression of a cell.
    """

    title = ""

    def __init__(self, settings: Settings | None = None) -> None:
        self._widgets = require_ipywidgets()
        self.redactor = Redactor.for_settings(settings)
        self.status = self._widgets.HTML(value="")
        self.status.add_class("hk-status-line")
        self.level: Level = "info"
        self.message = ""
        self.errors: list[str] = []
        self.widget: Any = None
        self._settings = settings

    # ---------------------------------------------------------------- status

    def report(self, level: Level, text: str) -> None:
        """Show ``text`` in the status line (secrets removed)."""
        text = self.redactor.clean(text)
        self.level, self.message = level, text
        if level == "error":
            self.errors.append(text)
        self.status.value = status_html(level, text)

    def guard(self, fn: Callable[..., Any], what: str = "") -> Callable[..., Any]:
        """Wrap a callback so that any exception is shown in the panel, not swallowed."""

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                # A PanelError is an expected refusal; anything else deserves its traceback.
                expected = isinstance(exc, PanelError)
                _log.log(
                    logging.INFO if expected else logging.WARNING,
                    "%s%s",
                    f"{what}: " if what else "",
                    describe(exc),
                    exc_info=not expected,
                )
                # A message that already starts with what failed ("create bucket 'x'
                # failed: ...") is not prefixed again ("create bucket: create bucket ...").
                text = describe(exc)
                repeats = bool(what) and text.lower().startswith(what.lower())
                self.report("error", text if repeats or not what else f"{what}: {text}")
                return None

        guarded.__name__ = getattr(fn, "__name__", "callback")
        return guarded

    # ---------------------------------------------------------------- layout

    def header(self) -> list[Any]:
        """The panel's title, target line (URL and key role only) and stylesheet."""
        w = self._widgets
        title = w.HTML(
            value=STYLE
            + f"<div class='hk-title'>{html.escape(self.title)}</div>"
            + f"<div class='hk-target'>{html.escape(target_text(self._settings))}</div>"
        )
        return [title]

    def _ipython_display_(self) -> None:
        # A panel as the last expression of a cell shows its widget.
        self.show()

    def show(self) -> None:
        """Display the panel in the notebook."""
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
