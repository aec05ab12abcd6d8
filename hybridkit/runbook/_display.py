"""Rendering for runbooks: tables as HTML (JupyterLab, GitHub, nbviewer) and plain text.

Everything shown goes through :func:`show`, which sends one display message with a
``text/plain`` and a ``text/html`` view (and, for summaries, a JSON payload that
``hybridkit run`` copies into the run's JSON record). Outside IPython it prints
the plain text.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hybridkit._tables import text_table
from hybridkit.config import kit_env

__all__ = [
    "SUMMARY_MIME",
    "TARGET_MIME",
    "banner",
    "format_bytes",
    "format_duration",
    "format_skew",
    "is_interactive",
    "show",
    "summary",
    "table",
]

SUMMARY_MIME = "application/vnd.hybridkit.summary+json"
TARGET_MIME = "application/vnd.hybridkit.target+json"


def is_interactive() -> bool:
    """True in a kernel a person drives (JupyterLab/Notebook), False headless.

    Jupyter Server gives its kernels ``JPY_SESSION_NAME``; papermill, nbclient and
    nbval do not. ``HYBRIDKIT_INTERACTIVE=1``/``0`` overrides (``hybridkit run``
    sets 0) for front ends that do not set it.
    """
    forced = kit_env("HYBRIDKIT_INTERACTIVE").strip().lower()
    if forced in ("1", "true", "yes"):
        return True
    if forced in ("0", "false", "no"):
        return False
    return bool(kit_env("JPY_SESSION_NAME"))


def _in_ipython() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        from IPython import get_ipython

        return get_ipython() is not None
    except ImportError:  # pragma: no cover
        return False


def show(text: str, html_text: str | None = None, extra: Mapping[str, Any] | None = None) -> None:
    """Display ``text`` (and its HTML view) in a notebook, or print it elsewhere."""
    if not _in_ipython():
        print(text)
        return
    from IPython.display import display

    bundle: dict[str, Any] = {"text/plain": text}
    if html_text is not None:
        bundle["text/html"] = html_text
    if extra:
        bundle.update(extra)
    display(bundle, raw=True)  # type: ignore[no-untyped-call]


def format_bytes(n: float | None) -> str:
    """``1536`` → ``'1.5 KiB'``.

    Example:
        >>> format_bytes(0), format_bytes(1536), format_bytes(5 * 1024**3)
        ('0 B', '1.5 KiB', '5.0 GiB')
    """
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def format_skew(seconds: float | None) -> str:
    """A clock skew as a person reads it: ``"< 1 s"``, ``"+3 s"``, ``"-"`` when unknown.

    An HTTP ``Date`` header counts whole seconds, so nothing finer is claimed.

    Example:
        >>> format_skew(0.0), format_skew(-0.4), format_skew(2.6), format_skew(None)
        ('< 1 s', '< 1 s', '+3 s', '-')
    """
    if seconds is None:
        return "-"
    if abs(seconds) < 1:
        return "< 1 s"
    return f"{seconds:+.0f} s"


def format_duration(seconds: float | None) -> str:
    """``75.2`` → ``'1m 15s'``; ``0.0123`` → ``'12 ms'``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        zone = value.strftime(" %Z") if value.tzinfo is not None else ""
        return value.strftime("%Y-%m-%d %H:%M:%S") + zone
    return str(value)


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    title: str = "",
    limit: int = 50,
) -> None:
    """Show ``rows`` (dicts) as a table; at most ``limit`` rows, with a count of the rest.

    Example:
        >>> table([{"bucket": "logs", "public": False}], title="buckets")
        buckets
        bucket  public
        ------  ------
        logs    no
    """
    columns = list(columns or (rows[0].keys() if rows else []))
    shown = [[_cell(row.get(c)) for c in columns] for row in rows[:limit]]
    more = len(rows) - len(shown)
    note = f"... and {more} more" if more > 0 else ("(none)" if not rows else "")
    text = "\n".join(text_table(columns, shown)) if columns else ""
    parts_text = [p for p in (title, text, note) if p]
    parts_html = []
    if title:
        parts_html.append(f"<b>{html.escape(title)}</b>")
    if columns:
        parts_html.append(_html_table(columns, shown))
    if note:
        parts_html.append(f"<i>{html.escape(note)}</i>")
    show("\n".join(parts_text), "\n".join(parts_html))


def _pairs_text(title: str, pairs: Sequence[tuple[str, str]]) -> str:
    width = max((len(k) for k, _ in pairs), default=0)
    lines = [title, "=" * len(title)] if title else []
    lines += [f"{k.ljust(width)}  {v}" for k, v in pairs]
    return "\n".join(lines)


def _pairs_html(title: str, pairs: Sequence[tuple[str, str]], colour: str = "") -> str:
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in pairs
    )
    style = f" style='border-left:4px solid {colour};padding-left:8px'" if colour else ""
    head = f"<b>{html.escape(title)}</b>" if title else ""
    return f"<div{style}>{head}<table>{rows}</table></div>"


def banner(
    title: str,
    pairs: Mapping[str, Any],
    *,
    warn: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Show a key/value block (the target banner)."""
    items = [(k, _cell(v)) for k, v in pairs.items()]
    colour = "#d9534f" if warn else "#5bc0de"
    show(_pairs_text(title, items), _pairs_html(title, items, colour), extra)


def summary(
    title: str, values: Mapping[str, Any], *, ok: bool = True, warning: bool = False
) -> None:
    """Show the run's summary table and hand it to ``hybridkit run`` for the JSON record.

    The summary is the run's verdict, and ``hybridkit run`` keeps to it: ``OK`` and
    ``WARNING`` exit 0 (the record and ``hybridkit runs`` say ``ok`` or ``warning``),
    ``FAILED`` exits 1 even if no cell raised.

    Args:
        title: e.g. ``"upload summary"``.
        values: label → value, in display order (numbers stay numbers in the JSON).
        ok: whether the run did what it was asked; ``False`` is FAILED (call
            :func:`fail` afterwards to say why).
        warning: the run did what it was asked but found something to look at (files
            that failed with ``fail_on_error`` off, pending migrations): WARNING.
    """
    items = [(k, _cell(v)) for k, v in values.items()]
    verdict = "failed" if not ok else "warning" if warning else "ok"
    heading = f"{title}: {verdict.upper()}"
    colour = {"ok": "#5cb85c", "warning": "#f0ad4e", "failed": "#d9534f"}[verdict]
    payload = {
        "title": title,
        "ok": ok,
        "verdict": verdict,
        "values": {
            k: v if isinstance(v, int | float | bool | str) or v is None else str(v)
            for k, v in values.items()
        },
        # Notebooks are saved with sorted keys: keep the display order explicitly.
        "order": list(values),
    }
    show(
        _pairs_text(heading, items),
        _pairs_html(heading, items, colour),
        {SUMMARY_MIME: payload},
    )
