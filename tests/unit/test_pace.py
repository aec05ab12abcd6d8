"""The pace of a job: rclone-style rates, the token bucket, adaptive concurrency."""

from __future__ import annotations

import pytest

from hybridkit.errors import InvalidInputError
from hybridkit.storage.pace import Concurrency, Throttle, parse_rate


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def test_parse_rate_reads_rclone_syntax() -> None:
    assert parse_rate("10M") == 10 * 1024**2
    assert parse_rate("512k") == 512 * 1024
    assert parse_rate("1.5G") == 1.5 * 1024**3
    assert parse_rate("100") == 100 * 1024  # a bare number is KiB/s, as in rclone
    assert parse_rate("2MiB") == 2 * 1024**2
    for bad in ("fast", "0", "-1M", "10X"):
        with pytest.raises(InvalidInputError):
            parse_rate(bad)


def test_throttle_holds_the_average_rate() -> None:
    fake = FakeTime()
    throttle = Throttle(1024 * 1024, burst=64 * 1024, clock=fake.clock, sleep=fake.sleep)
    for _ in range(160):  # 10 MiB in 64 KiB blocks
        throttle.take(64 * 1024)
    assert throttle.taken == 10 * 1024 * 1024
    assert 9.9 <= fake.now <= 10.0


def test_concurrency_grows_while_the_rate_rises_then_holds() -> None:
    fake = FakeTime()
    pace = Concurrency(2, 8, clock=fake.clock, sleep=fake.sleep, min_seconds=0.0)

    def run_window(seconds_per_file: float) -> None:
        for _ in range(2 * pace.limit):
            pace.acquire()
            fake.now += seconds_per_file
            pace.release()

    run_window(0.1)  # first look: any rate beats none
    assert pace.limit == 3
    run_window(0.05)  # faster: grow again
    assert pace.limit == 4
    run_window(0.05)  # no faster: hold
    run_window(0.01)
    assert pace.limit == 4 and pace.history == [2, 3, 4]


def test_pushback_halves_and_pauses_for_retry_after() -> None:
    fake = FakeTime()
    pace = Concurrency(8, 16, clock=fake.clock, sleep=fake.sleep)
    pace.pushback(5.0)
    assert pace.limit == 4
    pace.acquire()  # waits out the pause
    assert fake.now >= 5.0
    pace.pushback(None)
    pace.pushback(None)
    pace.pushback(None)
    assert pace.limit == 1 and pace.pushbacks == 4
