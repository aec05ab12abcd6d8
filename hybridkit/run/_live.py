"""Live progress on the terminal that runs ``hybridkit run``.

The kernel runs headless: its bars write a bounded text record into the output
notebook (:class:`hybridkit.runbook.TextBar`). When ``hybridkit run`` has a
terminal, it also hands the kernel a feed file (``HYBRIDKIT_PROGRESS_FEED``); the
bars append their state to it and :class:`LiveProgress` draws that as one line
that redraws in place, in the same units as the runbooks' summaries (MiB, MiB/s).
Nothing of this reaches a log or a saved notebook: without a terminal there is no
feed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import IO, Any

from hybridkit.runbook._bar import FEED_ENV, amount_text, files_text
from hybridkit.runbook._display import format_bytes, format_duration

__all__ = ["FEED_ENV", "LiveProgress"]


class _Bar:
    def __init__(self, desc: str, unit: str) -> None:
        self.desc = desc
        self.unit = unit
        self.n = 0.0
        self.total: float | None = None
        self.elapsed = 0.0
        self.skipped = 0.0
        self.files = ""
        self.samples: list[tuple[float, float]] = []

    def rate(self) -> float:
        """Per second over the last few seconds (what is happening now)."""
        now = time.monotonic()
        self.samples = [(t, n) for t, n in self.samples if now - t <= 5.0]
        if len(self.samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def line(self, width: int, *, final: bool = False) -> str:
        parts = [self.desc]
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = int(frac * 20)
            parts.append(f"[{'#' * filled}{'.' * (20 - filled)}] {frac * 100:3.0f}%")
        if self.files:
            parts.append(self.files)
        parts.append(amount_text(self.n, self.total, self.unit))
        sent = self.n - self.skipped
        if final:
            parts.append(f"in {format_duration(self.elapsed)}")
            if self.unit == "B" and self.elapsed > 0 and sent > 0:
                parts.append(f"({format_bytes(sent / self.elapsed)}/s)")
        else:
            rate = self.rate()
            if rate > 0:
                per = f"{format_bytes(rate)}/s" if self.unit == "B" else f"{rate:.1f} {self.unit}/s"
                parts.append(per)
        return "  ".join(parts)[: max(20, width - 1)]


class LiveProgress:
    """Follow a progress feed and draw it on ``stream`` (a terminal).

    Example:
        >>> with LiveProgress() as live:  # doctest: +SKIP
        ...     run_notebook(env={FEED_ENV: live.path})
    """

    def __init__(self, stream: IO[str] | None = None, *, interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._folder = tempfile.mkdtemp(prefix="hybridkit-progress-")
        self.path = os.path.join(self._folder, "feed.jsonl")
        with open(self.path, "w", encoding="utf-8"):
            pass
        self._offset = 0
        self._bars: dict[str, _Bar] = {}
        self._shown = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="hybridkit-live", daemon=True)

    def env(self) -> dict[str, str]:
        """What the kernel needs to report here."""
        return {FEED_ENV: self.path}

    def __enter__(self) -> LiveProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._poll()
        self._clear()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def _width(self) -> int:
        return shutil.get_terminal_size((100, 20)).columns

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def _poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]  # a half-written last line waits
        self._offset += len(complete.encode("utf-8"))
        latest: _Bar | None = None
        for text in complete.splitlines():
            try:
                state: dict[str, Any] = json.loads(text)
            except ValueError:
                continue
            key = str(state.get("bar"))
            bar = self._bars.get(key)
            if bar is None:
                bar = self._bars[key] = _Bar(str(state.get("desc", "")), str(state.get("unit", "")))
            bar.n = float(state.get("n") or 0)
            bar.skipped = float(state.get("skipped") or 0)
            bar.files = files_text(state.get("files_done"), state.get("files_total"))
            bar.elapsed = float(state.get("elapsed") or 0)
            total = state.get("total")
            bar.total = float(total) if total else None
            bar.samples.append((time.monotonic(), bar.n))
            if state.get("done"):
                self._clear()
                self.stream.write(bar.line(self._width(), final=True) + "\n")
                self.stream.flush()
                del self._bars[key]
                latest = None
            else:
                latest = bar
        if latest is not None:
            self.stream.write("\r\x1b[K" + latest.line(self._width()))
            self.stream.flush()
            self._shown = True
