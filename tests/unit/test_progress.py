"""Progress tracking: throttling, rate/ETA, thread safety, a callback that raises."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from hybridkit.progress import Progress, ProgressTracker, TqdmProgress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttled_to_the_interval_but_first_and_last_always_go_out() -> None:
    clock = FakeClock()
    seen: list[Progress] = []
    tracker = ProgressTracker(total=1000, callback=seen.append, interval=0.5, clock=clock)
    tracker.advance(10)  # first: emitted
    clock.now += 0.125
    tracker.advance(10)  # throttled
    clock.now += 0.25
    tracker.advance(10)  # still throttled (0.375 s since the last)
    clock.now += 0.125
    tracker.advance(10)  # 0.5 s: emitted
    clock.now += 0.125
    tracker.advance(960)  # complete: emitted despite the throttle
    tracker.close()  # final: always emitted, marked finished
    assert [p.done for p in seen] == [10, 40, 1000, 1000]
    assert [p.finished for p in seen] == [False, False, False, True]
    tracker.close()
    assert len(seen) == 4  # close is idempotent


def test_rate_and_eta() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(total=1000, interval=0, clock=clock)
    clock.now += 1.0
    tracker.advance(100)
    clock.now += 1.0
    tracker.advance(100)
    snap = tracker.snapshot()
    assert snap.done == 200
    assert snap.elapsed == pytest.approx(2.0)
    assert snap.rate == pytest.approx(100.0)
    assert snap.eta == pytest.approx(8.0)
    assert snap.fraction == pytest.approx(0.2)


def test_rate_follows_the_recent_window() -> None:
    clock = FakeClock()
    tracker = ProgressTracker(total=None, interval=0, clock=clock)
    for _ in range(10):  # 10 s at 1000 B/s
        clock.now += 1.0
        tracker.advance(1000)
    for _ in range(10):  # then 10 s at 100 B/s
        clock.now += 1.0
        tracker.advance(100)
    snap = tracker.snapshot()
    assert snap.rate == pytest.approx(100.0, rel=0.25)
    assert snap.eta is None and snap.fraction is None


def test_unknown_rate_gives_no_eta_and_done_gives_zero() -> None:
    tracker = ProgressTracker(total=10, interval=0, clock=FakeClock())
    assert tracker.snapshot().eta is None
    tracker.set_done(10)
    assert tracker.snapshot().eta == 0.0


def test_set_done_rewinds_for_a_retry_and_never_goes_negative() -> None:
    seen: list[Progress] = []
    tracker = ProgressTracker(total=100, callback=seen.append, interval=0, clock=FakeClock())
    tracker.advance(60)
    tracker.set_done(30)  # a resume from the server's offset
    tracker.advance(-50)
    assert [p.done for p in seen] == [60, 30, 0]


def test_add_total_grows_an_unknown_total() -> None:
    tracker = ProgressTracker(interval=0, clock=FakeClock())
    assert tracker.snapshot().total is None
    tracker.add_total(5)
    tracker.add_total(7)
    assert tracker.snapshot().total == 12


def test_a_raising_callback_does_not_stop_the_transfer(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def broken(progress: Progress) -> None:
        calls.append(progress.done)
        raise RuntimeError("widget gone")

    tracker = ProgressTracker(total=3, callback=broken, interval=0, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="hybridkit.progress"):
        tracker.advance(1)
        tracker.advance(1)
        tracker.advance(1)
        tracker.close()
    assert calls == [1, 2, 3, 3]
    assert tracker.done == 3
    assert tracker.callback_errors == 4
    warnings = [r for r in caplog.records if "widget gone" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not per update


def test_counts_from_many_threads() -> None:
    seen: list[Progress] = []
    tracker = ProgressTracker(total=8 * 10_000, callback=seen.append, interval=0.0)

    def work() -> None:
        for _ in range(10_000):
            tracker.advance(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracker.close()
    assert tracker.done == 80_000
    assert seen[-1].done == 80_000 and seen[-1].finished
    dones = [p.done for p in seen]
    assert dones == sorted(dones)  # callbacks are serialised and in order


def test_tqdm_bridge_follows_the_snapshots() -> None:
    bar = TqdmProgress("x", disable=False, file=io.StringIO())
    bar(Progress(done=5, total=10, elapsed=1, rate=5, eta=1))
    assert (bar._bar.n, bar._bar.total) == (5, 10)
    bar(Progress(done=2, total=10, elapsed=2, rate=1, eta=8))  # a retry rewound
    assert bar._bar.n == 2
    bar(Progress(done=10, total=10, elapsed=3, rate=5, eta=0, finished=True))
    assert bar._bar.n == 10
    bar.close()
