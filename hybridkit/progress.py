"""Thread-safe, throttled progress tracking for transfers.

Progress is data: a :class:`ProgressTracker` counts real bytes as they are read
from disk or the network and hands a frozen :class:`Progress` to a callback no
more often than ``interval`` seconds (``SUPABASE_PROGRESS_INTERVAL``). The first
and the final update always go out. A callback that raises is logged once and
otherwise ignored: a broken progress bar must not fail an upload.

Rendering lives at the edge: :class:`TqdmProgress` bridges to ``tqdm.auto`` for
the CLI and the runbooks. The library itself never prints.

Example:
    >>> seen = []
    >>> tracker = ProgressTracker(total=10, callback=seen.append, interval=0)
    >>> tracker.advance(4); tracker.advance(6); tracker.close()
    >>> [p.done for p in seen]
    [4, 10, 10]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hybridkit._closing import Closing

__all__ = ["Progress", "ProgressCallback", "ProgressTracker", "TqdmProgress"]

_log = logging.getLogger("hybridkit.progress")

# How far back the rate looks: long enough to smooth chunk bursts, short enough
# to follow a link that slows down.
_RATE_WINDOW = 5.0


@dataclass(frozen=True)
class Progress:
    """One snapshot of a transfer.

    Attributes:
        done: bytes transferred so far (goes back down when a retry restarts a body).
        total: bytes expected, or ``None`` when unknown.
        elapsed: seconds since tracking started.
        rate: bytes per second over the last few seconds.
        eta: seconds left at the current rate, or ``None`` when unknown.
        label: what is being transferred (a key or a file name).
        finished: True on the final update.
        files_done: files finished so far (transferred, skipped or failed), for a
            folder transfer; ``None`` for one file.
        files_total: files in the folder transfer, or ``None``.
        skipped: bytes of ``done`` that were not sent (unchanged files): counted as
            done, never as throughput.
    """

    done: int
    total: int | None
    elapsed: float
    rate: float
    eta: float | None
    label: str = ""
    finished: bool = False
    files_done: int | None = None
    files_total: int | None = None
    skipped: int = 0

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or ``None`` when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], Any]


class ProgressTracker:
    """Count bytes from any thread; report them to a callback, throttled.

    Args:
        total: bytes expected (``None`` if unknown); :meth:`add_total` grows it.
        callback: receives :class:`Progress` snapshots; may be ``None``.
        interval: minimum seconds between two reports (the final one always goes out).
        label: copied into every snapshot.
        clock: a monotonic clock; inject a fake in tests.
        files: the number of files of a folder transfer (snapshots then count them,
            see :meth:`file_finished`).

    Example:
        >>> t = ProgressTracker(total=100, interval=0)
        >>> t.advance(25)
        >>> t.snapshot().fraction
        0.25
    """

    def __init__(
        self,
        total: int | None = None,
        callback: ProgressCallback | None = None,
        *,
        interval: float = 0.5,
        label: str = "",
        clock: Callable[[], float] = time.monotonic,
        files: int | None = None,
    ) -> None:
        self._files_total = files
        self._files_done = 0 if files is not None else None
        self._skipped = 0
        self._total = total
        self._callback = callback
        self._interval = interval
        self._label = label
        self._clock = clock
        self._lock = threading.Lock()
        # Serialises callbacks so that a bar never sees updates out of order.
        self._emit_lock = threading.Lock()
        self._start = clock()
        self._done = 0
        self._last_emit: float | None = None
        self._samples: deque[tuple[float, int]] = deque([(self._start, 0)])
        self._finished = False
        self.callback_errors = 0

    # ---------------------------------------------------------------- counting

    def advance(self, nbytes: int) -> None:
        """Count ``nbytes`` more (negative to take bytes back)."""
        if nbytes == 0:
            return
        with self._lock:
            self._done = max(0, self._done + nbytes)
            self._sample()
        self._maybe_emit()

    def set_done(self, done: int) -> None:
        """Set the count outright, e.g. to the server's offset after a resume."""
        with self._lock:
            self._done = max(0, done)
            self._sample()
        self._maybe_emit()

    def skip(self, nbytes: int) -> None:
        """Count ``nbytes`` as done without their being sent (an unchanged file):
        they fill the bar but are never throughput."""
        if nbytes <= 0:
            return
        with self._lock:
            self._done += nbytes
            self._skipped += nbytes
            self._sample()
        self._maybe_emit()

    def file_finished(self) -> None:
        """One more file of a folder transfer is finished (sent, skipped or failed)."""
        with self._lock:
            if self._files_done is not None:
                self._files_done += 1
        self._maybe_emit()

    def add_total(self, nbytes: int) -> None:
        """Grow the expected total (a folder walk discovering files)."""
        with self._lock:
            self._total = (self._total or 0) + nbytes
        self._maybe_emit()

    def close(self) -> None:
        """Send the final update (always, regardless of the throttle)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._maybe_emit(force=True)

    @property
    def done(self) -> int:
        """Bytes counted so far."""
        with self._lock:
            return self._done

    # ---------------------------------------------------------------- reporting

    def snapshot(self) -> Progress:
        """The current state as a frozen :class:`Progress`."""
        with self._lock:
            return self._snapshot_locked()

    def _sample(self) -> None:
        now = self._clock()
        self._samples.append((now, self._done - self._skipped))  # rate: bytes sent
        while len(self._samples) > 2 and now - self._samples[1][0] > _RATE_WINDOW:
            self._samples.popleft()

    def _snapshot_locked(self) -> Progress:
        now = self._clock()
        first_t, first_done = self._samples[0]
        span = now - first_t
        rate = (self._done - self._skipped - first_done) / span if span > 0 else 0.0
        rate = max(0.0, rate)
        eta: float | None = None
        if self._total is not None:
            remaining = max(0, self._total - self._done)
            if remaining == 0:
                eta = 0.0
            elif rate > 0:
                eta = remaining / rate
        return Progress(
            done=self._done,
            total=self._total,
            elapsed=now - self._start,
            rate=rate,
            eta=eta,
            label=self._label,
            finished=self._finished,
            files_done=self._files_done,
            files_total=self._files_total,
            skipped=self._skipped,
        )

    def _maybe_emit(self, *, force: bool = False) -> None:
        if self._callback is None:
            return
        with self._emit_lock:
            with self._lock:
                now = self._clock()
                due = (
                    force
                    or self._last_emit is None
                    or now - self._last_emit >= self._interval
                    or (self._total is not None and self._done >= self._total)
                )
                if not due:
                    return
                self._last_emit = now
                snapshot = self._snapshot_locked()
            try:
                self._callback(snapshot)
            except Exception as exc:
                self.callback_errors += 1
                if self.callback_errors == 1:
                    _log.warning(
                        "progress callback raised %s: %s; the transfer goes on",
                        type(exc).__name__,
                        exc,
                    )


class TqdmProgress(Closing):
    """A progress callback that drives a ``tqdm.auto`` bar (widgets in Jupyter).

    Args:
        desc: the bar's description.
        disable: ``None`` hides the bar when output is not a terminal; True hides it.
        **tqdm_kwargs: passed on to ``tqdm.auto.tqdm``.

    Example:
        >>> bar = TqdmProgress("upload", disable=True)
        >>> bar(Progress(done=5, total=10, elapsed=1.0, rate=5.0, eta=1.0))
        >>> bar.close()
    """

    def __init__(self, desc: str = "", *, disable: bool | None = None, **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        options: dict[str, Any] = {
            "unit": "B",
            "unit_scale": True,
            "unit_divisor": 1024,
            "dynamic_ncols": True,
            "leave": True,
        }
        options.update(tqdm_kwargs)
        self._bar = tqdm(total=None, desc=desc, disable=disable, **options)
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            bar = self._bar
            if progress.total is not None and bar.total != progress.total:
                bar.total = progress.total
            delta = progress.done - bar.n
            if delta:
                bar.update(delta)
            else:
                bar.refresh()
            if progress.finished:
                bar.close()

    def close(self) -> None:
        """Close the bar (idempotent)."""
        with self._lock:
            self._bar.close()
