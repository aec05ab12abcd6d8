"""Progress for runbooks: a live tqdm widget in JupyterLab, a short text bar headless.

Headless, a tqdm bar is the wrong tool: the widget's saved text stays frozen at
"0%", and a text tqdm bar stores every refresh as a separate output (thousands
of lines in the saved notebook). :class:`TextBar` prints one plain line at each
tenth of the way (or, with no known total, at most every ``interval`` seconds
and at most ``max_lines`` times), plus a final line: a 200-file upload leaves a
dozen readable lines, whatever its length.

:func:`progress` picks one. Both accept the storage manager's
:class:`~hybridkit.progress.Progress` snapshots (call the bar with one) and plain
counts (``bar.update(n)``), from any thread.

Example:
    >>> bar = TextBar("files", unit="files", total=4, steps=2)
    >>> for _ in range(4):
    ...     bar.update(1)  # doctest: +ELLIPSIS
    files  [#####.....]  50%  2/4 files
    files  [##########] 100%  4/4 files  in ...
    >>> bar.close()
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from hybridkit.config import kit_env
from hybridkit.progress import Progress
from hybridkit.runbook._display import format_bytes, format_duration, is_interactive

__all__ = ["FEED_ENV", "Bar", "FedBar", "TextBar", "TqdmBar", "progress"]


class Bar(Protocol):
    """What a runbook's progress bar offers."""

    def __call__(self, snapshot: Progress) -> None: ...

    def update(self, n: int = 1) -> None: ...

    def set_total(self, total: int | None) -> None: ...

    def close(self) -> None: ...


def amount_text(n: float, total: float | None, unit: str) -> str:
    """``15.0 MiB/30.1 MiB``, or ``3/21 files`` for another unit (every bar's figures)."""
    if unit == "B":
        return format_bytes(n) + (f"/{format_bytes(total)}" if total else "")
    return (f"{int(n)}/{int(total)}" if total else f"{int(n)}") + f" {unit}"


class TextBar:
    """A bounded text progress bar for saved notebooks and logs.

    Args:
        desc: the label at the start of each line.
        unit: ``"B"`` for bytes (shown as KiB/MiB…), or a word such as ``"files"``.
        total: the expected amount, if known.
        steps: lines per full bar (10 → one line per 10%).
        interval: with no total, the minimum seconds between lines.
        max_lines: with no total, the most lines printed before the final one.
        out: where lines go (``print``).
        clock: a monotonic clock (inject a fake in tests).
    """

    def __init__(
        self,
        desc: str,
        *,
        unit: str = "B",
        total: int | None = None,
        steps: int = 10,
        interval: float = 15.0,
        max_lines: int = 20,
        out: Callable[[str], Any] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc = desc
        self.unit = unit
        self.total = total
        self.steps = max(1, steps)
        self.interval = interval
        self.max_lines = max_lines
        self._out = out
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self.n = 0
        self._step_shown = 0
        self._lines = 0
        self._last = self._start
        self._closed = False
        self._rate = 0.0
        self.skipped = 0
        """Bytes of ``n`` counted without being sent (unchanged files)."""
        self.files_done: int | None = None
        self.files_total: int | None = None
        self._final_shown = False

    def set_total(self, total: int | None) -> None:
        """Set (or grow) the expected total."""
        with self._lock:
            self.total = total

    def update(self, n: int = 1) -> None:
        """Count ``n`` more."""
        with self._lock:
            self.n += n
            self._maybe_print()

    def __call__(self, snapshot: Progress) -> None:
        """Follow a :class:`~hybridkit.progress.Progress` snapshot."""
        with self._lock:
            if snapshot.total is not None:
                self.total = snapshot.total
            self.n = snapshot.done
            self._rate = snapshot.rate
            self.skipped = snapshot.skipped
            self.files_done, self.files_total = snapshot.files_done, snapshot.files_total
            self._maybe_print()
        if snapshot.finished:
            self.close()

    def close(self) -> None:
        """Print the final line unless it is out already; nothing prints after (idempotent)."""
        with self._lock:
            self._closed = True
            if not self._final_shown:
                self._emit(final=True)

    def _line(self, *, final: bool) -> str:
        elapsed = self._clock() - self._start
        sent = self.n - self.skipped
        rate = sent / elapsed if final and elapsed > 0 else self._rate
        if self.total:
            frac = min(1.0, self.n / self.total)
            width = 10
            filled = int(frac * width)
            bar = "#" * filled + "." * (width - filled)
            figures = amount_text(self.n, self.total, self.unit)
            text = f"{self.desc}  [{bar}] {frac * 100:3.0f}%  {figures}"
        else:
            text = f"{self.desc}  {amount_text(self.n, None, self.unit)}"
        files = files_text(self.files_done, self.files_total)
        if files:
            text += f"  {files}"
        if final:
            text += f"  in {format_duration(elapsed)}"
            if self.unit == "B" and rate > 0:
                text += f" ({format_bytes(rate)}/s)"
        return text

    def _emit(self, *, final: bool = False) -> None:
        self._final_shown = final
        self._lines += 1
        self._last = self._clock()
        self._out(self._line(final=final))

    def _maybe_print(self) -> None:
        if self._closed:
            return
        if self.total:
            step = int(min(1.0, self.n / self.total) * self.steps)
            if step > self._step_shown:
                self._step_shown = step
                # All bytes are in, but the last file's answer may not be: the final
                # line (on close) then carries the final file count.
                pending = self.files_total is not None and (self.files_done or 0) < self.files_total
                self._emit(final=step >= self.steps and not pending)
            return
        if self._lines < self.max_lines and self._clock() - self._last >= self.interval:
            self._emit()


def files_text(done: int | None, total: int | None) -> str:
    """``3/21 files`` for a folder transfer, ``""`` for one file."""
    return f"{done}/{total} files" if done is not None and total else ""


def _tqdm_amounts(
    n: float,
    total: float | None,
    elapsed: float,
    unit: str,
    *,
    skipped: float = 0,
    files: str = "",
) -> str:
    """The text right of a tqdm bar, in the runbooks' units:
    ``3/21 files · 15.0 MiB/30.1 MiB · 29.8 MiB/s`` (skipped bytes are no throughput)."""
    text = amount_text(n, total, unit)
    if files:
        text = f"{files} \u00b7 {text}"
    sent = n - skipped
    if unit == "B" and elapsed > 0 and sent > 0:
        text += f" \u00b7 {format_bytes(sent / elapsed)}/s"
    return text + f" \u00b7 {format_duration(elapsed)}"


def _tqdm_class() -> Any:
    """``tqdm.notebook``'s bar when ipywidgets is there (in a kernel), else ``tqdm.auto``'s,
    with the text in MiB and MiB/s (as the summaries) instead of tqdm's ``M`` and ``MB/s``."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as base  # type: ignore[import-untyped,unused-ignore]

        widget = True
    else:  # pragma: no cover - a kernel without ipywidgets
        from tqdm.auto import tqdm as base  # type: ignore[import-untyped,unused-ignore]

        widget = False

    class _Bar(base):  # type: ignore[misc,valid-type,unused-ignore]
        hk_unit = "B"
        hk_widget = widget
        hk_skipped = 0
        hk_files = ""

        @property
        def format_dict(self) -> dict[str, Any]:
            d: dict[str, Any] = dict(super().format_dict)
            d["hk"] = _tqdm_amounts(
                d["n"],
                d["total"],
                float(d["elapsed"]),
                self.hk_unit,
                skipped=self.hk_skipped,
                files=self.hk_files,
            )
            return d

    return _Bar


class TqdmBar:
    """A live tqdm bar: in JupyterLab an ipywidgets progress bar at a readable width
    (up to 720 px, not tqdm's 20 px default), its text in MiB and MiB/s."""

    def __init__(self, desc: str, *, unit: str = "B", total: int | None = None) -> None:
        cls = _tqdm_class()
        cls.hk_unit = unit
        options: dict[str, Any] = {
            "desc": desc,
            "total": total,
            "leave": True,
            "disable": False,
            "bar_format": "{desc}: {percentage:3.0f}%|{bar}| {hk}",
        }
        self._bar = cls(**options)
        container = getattr(self._bar, "container", None)
        if cls.hk_widget and container is not None:
            # What tqdm.notebook does for ``ncols="100%"`` (which breaks its text repr):
            # the row takes the output's width (up to 720 px) and the bar the room left.
            container.layout.width = "100%"
            container.layout.max_width = "720px"
            container.layout.display = "inline-flex"
            container.layout.flex_flow = "row nowrap"
            bar = container.children[1]
            bar.layout.flex = "2"
            bar.layout.min_width = "160px"
        self._lock = threading.Lock()

    def set_total(self, total: int | None) -> None:
        with self._lock:
            self._bar.total = total
            self._bar.refresh()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self._bar.update(n)

    def __call__(self, snapshot: Progress) -> None:
        with self._lock:
            if snapshot.total is not None and self._bar.total != snapshot.total:
                self._bar.total = snapshot.total
            self._bar.hk_skipped = snapshot.skipped
            self._bar.hk_files = files_text(snapshot.files_done, snapshot.files_total)
            delta = snapshot.done - self._bar.n
            if delta:
                self._bar.update(delta)
            else:
                self._bar.refresh()
        if snapshot.finished:
            self.close()

    def close(self) -> None:
        with self._lock:
            self._bar.close()


FEED_ENV = "HYBRIDKIT_PROGRESS_FEED"
"""Set by ``hybridkit run`` on a terminal: a file the headless bars also report to."""


class FedBar:
    """A headless bar that also appends its state to ``hybridkit run``'s progress feed.

    The saved notebook keeps the bounded :class:`TextBar` lines; the feed (one JSON
    line per update, at most every ``interval`` seconds, and a last one on close) is
    what the terminal running ``hybridkit run`` draws as a live bar.
    """

    def __init__(
        self,
        inner: TextBar,
        feed: str,
        *,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._feed = feed
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last = -interval
        self._lock = threading.Lock()
        self._id = f"{id(self):x}"
        self._done = False

    def _report(self, *, done: bool = False) -> None:
        with self._lock:
            now = self._clock()
            if self._done or (not done and now - self._last < self._interval):
                return
            self._last = now
            self._done = done
            line = {
                "bar": self._id,
                "desc": self._inner.desc,
                "unit": self._inner.unit,
                "n": self._inner.n,
                "total": self._inner.total,
                "skipped": self._inner.skipped,
                "files_done": self._inner.files_done,
                "files_total": self._inner.files_total,
                "elapsed": round(now - self._start, 3),
                "done": done,
            }
            try:
                with open(self._feed, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(line) + "\n")
            except OSError:
                pass  # the terminal's bar is a courtesy; the notebook keeps the record

    def set_total(self, total: int | None) -> None:
        self._inner.set_total(total)
        self._report()

    def update(self, n: int = 1) -> None:
        self._inner.update(n)
        self._report()

    def __call__(self, snapshot: Progress) -> None:
        self._inner(snapshot)
        self._report(done=snapshot.finished)

    def close(self) -> None:
        self._inner.close()
        self._report(done=True)


def progress(desc: str, *, unit: str = "B", total: int | None = None) -> Bar:
    """A progress bar for this kernel: a widget when a person watches, text otherwise.

    Args:
        desc: the label (``"upload"``).
        unit: ``"B"`` for bytes, or a word such as ``"files"``.
        total: the expected amount, if known.

    Example:
        >>> bar = progress("upload", total=10)   # headless: a TextBar
        >>> bar.update(10)  # doctest: +ELLIPSIS
        upload  [##########] 100%  10 B/10 B  in ...
        >>> bar.close()
    """
    if is_interactive() and importlib.util.find_spec("ipywidgets") is not None:
        return TqdmBar(desc, unit=unit, total=total)
    text = TextBar(desc, unit=unit, total=total)
    feed = kit_env(FEED_ENV)
    return FedBar(text, feed) if feed else text
