"""Retry policy, failure classification and the circuit breaker.

Three pieces, used together by the storage manager:

* :func:`classify` (written in ``hybridkit._classify``, re-exported here) is the
  one place where a foreign failure (storage3's ``StorageApiError``, postgrest's
  ``APIError``, an httpx transport error, a raw HTTP response from the TUS or
  download paths) becomes a :mod:`hybridkit.errors` exception: ``RetryableError``
  ("try again") or a ``NonRetryableError`` subclass ("the server said no"). The
  Storage API answers HTTP 400 for almost everything, so classification reads the
  body's ``statusCode``/``code`` first.
* :class:`Retrier` runs a call under a :class:`RetryPolicy` on tenacity:
  exponential backoff with full jitter, a retry budget, a per-operation
  deadline, ``Retry-After`` honoured, and an injectable ``sleep``/``clock`` so
  tests are instant and exact.
* :class:`CircuitBreaker` opens after N consecutive retryable failures; the calls
  behind it *wait* for the half-open probe (one call, after a jittered cool-down)
  and go on at full concurrency once it succeeds. Only a call that asked not to
  wait (``wait_for_breaker=False``) fails fast with ``CircuitOpenError``.

A retry budget counts attempts that made no progress: a call that reports its
progress (``progress=``, a resumable upload's server offset) gets its budget and
its deadline back whenever the number grew since the last failure.

A write is retried only when a retry cannot duplicate or lose data: callers say
``idempotent=False`` for a write that has no way to recognise its own earlier
success, and then only failures where the request surely never reached the
server (connection refused, pool timeout, 429, 503) are retried.

A call may be cancelled (``cancel=``, a ``threading.Event``): no attempt starts
once it is set, a backoff wait ends early, and ``CancelledError`` passes straight
through, never retried and not counted by the breaker either way.

Example:
    >>> retrier = Retrier(RetryPolicy(max_retries=2), sleep=lambda s: None)
    >>> retrier.call(lambda attempt: attempt.number, operation="demo")
    1
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from hybridkit import _classify
from hybridkit._classify import *  # noqa: F403 (re-exported: __all__ below)
from hybridkit._classify import classify, is_safe_to_resend
from hybridkit.errors import (
    CancelledError,
    CircuitOpenError,
    HybridError,
    RetriesExhausted,
    RetryableError,
)

__all__ = [
    "UPLOAD_LOCKED",
    "Attempt",
    "AttemptLog",
    "BreakerStatus",
    "CircuitBreaker",
    "CountingRetrier",
    "Retrier",
    "RetryPolicy",
    "ServerUnreachable",
]
# The classifier is written in hybridkit._classify; its public names are re-exported here.
__all__ += _classify.__all__

T = TypeVar("T")
_log = logging.getLogger("hybridkit.retry")

UPLOAD_LOCKED = "UploadLocked"
"""The code of a failure that only says "the server is still busy with your own
earlier request" (a TUS upload's lock, held by a stalled PATCH until the server
notices the dead connection). It proves the server reachable and spends no retry
budget; the per-operation deadline bounds the wait."""


# --------------------------------------------------------------------------- circuit breaker


class ServerUnreachable(RetriesExhausted):
    """No request has succeeded for ``unreachable_after`` seconds while the breaker stayed open.

    It ends a waiting job the way its deadline would, so an unattended run never
    hangs on a server that is gone.
    """


@dataclass(frozen=True)
class BreakerStatus:
    """A snapshot of the breaker for progress lines and panels.

    Attributes:
        state: ``closed``, ``open`` or ``half_open``.
        next_probe_in: seconds until the next probe may go out (0 when closed).
        waiting: calls waiting for the probe right now.
        consecutive_failures: retryable failures since the last success.
        unreachable_for: seconds since the last successful request.
    """

    state: str
    next_probe_in: float
    waiting: int
    consecutive_failures: int
    unreachable_for: float

    def describe(self) -> str:
        """``server unreachable — next probe in 12 s, 3 waiting`` (empty when closed)."""
        if self.state == "closed":
            return ""
        if self.state == "half_open":
            return f"server unreachable — probing, {self.waiting} waiting"
        return (
            f"server unreachable — next probe in {self.next_probe_in:.0f} s, {self.waiting} waiting"
        )


class CircuitBreaker:
    """Stop the retry storm after ``failure_threshold`` consecutive retryable failures.

    States: ``closed`` (calls pass), ``open`` (no call goes out until ``cooldown``
    seconds have passed), ``half_open`` (one probe call passes; its success closes
    the breaker, its failure opens it again). A response that says no (a
    ``NonRetryableError``) proves the server is reachable and counts as a success
    here. Thread-safe.

    An open breaker makes work *wait*, it does not fail it: :meth:`wait_ready`
    blocks until the caller may send (each waiter wakes at the end of the cool-down
    plus its own jitter; the first becomes the probe, the others wait for its
    verdict). Only a caller that asked not to wait (:meth:`before_call`) sees
    ``CircuitOpenError``. A wait ends with :class:`ServerUnreachable` once no request
    has succeeded for ``unreachable_after`` seconds.

    Example:
        >>> breaker = CircuitBreaker(failure_threshold=2, cooldown=10, clock=lambda: 0.0)
        >>> breaker.record_failure(); breaker.record_failure(); breaker.state
        'open'
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: float = 0.5,
        unreachable_after: float | None = 900.0,
        rng: Callable[[], float] = random.random,
        poll: float = 0.5,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.jitter = jitter
        self.unreachable_after = unreachable_after
        self.poll = poll
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._last_success = clock()
        self._waiting = 0
        self.times_opened = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (an open breaker past its cool-down)."""
        with self._lock:
            if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
                return "half_open"
            return self._state

    @property
    def consecutive_failures(self) -> int:
        """Retryable failures since the last success."""
        with self._lock:
            return self._failures

    def status(self) -> BreakerStatus:
        """A snapshot: state, seconds to the next probe, how many calls wait."""
        state = self.state
        with self._lock:
            now = self._clock()
            left = max(0.0, self.cooldown - (now - self._opened_at)) if state == "open" else 0.0
            return BreakerStatus(
                state, left, self._waiting, self._failures, now - self._last_success
            )

    def before_call(self) -> None:
        """Raise ``CircuitOpenError`` unless a call may go out now (the non-waiting check)."""
        with self._lock:
            if self._state == "closed":
                return
            remaining = self.cooldown - (self._clock() - self._opened_at)
            if self._state == "open" and remaining <= 0:
                self._state = "half_open"
                self._probe_in_flight = False
            if self._state == "half_open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return
            wait = max(0.0, remaining)
            raise CircuitOpenError(
                f"circuit open after {self._failures} consecutive transient failures; "
                f"failing fast for another {wait:.1f}s (cool-down {self.cooldown:g}s)"
            )

    def wait_ready(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        cancel: threading.Event | None = None,
        deadline_at: float | None = None,
        operation: str = "request",
    ) -> bool:
        """Block until a call may go out: at once when closed, else until the probe says so.

        Returns:
            True when the caller goes out as the half-open probe (its failure then
            says "the server is still away", not "this call is hopeless").

        Raises:
            CancelledError: ``cancel`` was set while waiting.
            ServerUnreachable: no success for ``unreachable_after`` seconds.
            RetriesExhausted: ``deadline_at`` would pass before this call could go out.
        """
        with self._lock:
            if self._state == "closed":
                return False
            self._waiting += 1
        try:
            return self._wait(sleep, cancel, deadline_at, operation)
        finally:
            with self._lock:
                self._waiting -= 1

    def _wait(
        self,
        sleep: Callable[[float], None],
        cancel: threading.Event | None,
        deadline_at: float | None,
        operation: str,
    ) -> bool:
        offset = self._rng() * self.jitter * self.cooldown
        opened_at = None
        while True:
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"{operation}: cancelled while waiting for the server")
            with self._lock:
                now = self._clock()
                if self._state == "closed":
                    return False
                if self._opened_at != opened_at:  # (re)opened: draw a new place in the line
                    opened_at = self._opened_at
                    offset = self._rng() * self.jitter * self.cooldown
                quiet = now - self._last_success
                if self.unreachable_after is not None and quiet >= self.unreachable_after:
                    raise ServerUnreachable(
                        f"{operation}: the server has been unreachable for {quiet:.0f}s "
                        f"(no successful request; limit {self.unreachable_after:g}s)",
                        attempts=0,
                        last_cause=None,
                    )
                ready_at = self._opened_at + self.cooldown + offset
                if self._state == "open" and now >= ready_at:
                    self._state = "half_open"
                    self._probe_in_flight = False
                if self._state == "half_open" and not self._probe_in_flight:
                    self._probe_in_flight = True
                    _log.info("%s: probing the server", operation)
                    return True
                pause = self.poll if self._state == "half_open" else max(ready_at - now, 0.0)
                pause = min(max(pause, 0.01), self.poll * 20)
                if deadline_at is not None and (
                    now + pause > deadline_at or (self._state == "open" and ready_at > deadline_at)
                ):
                    raise RetriesExhausted(
                        f"{operation}: the server is unreachable (circuit open) and the "
                        "deadline passes before the next probe",
                        attempts=0,
                        last_cause=None,
                    )
            sleep(pause)

    def record_success(self) -> None:
        """A call got an answer: close the breaker."""
        with self._lock:
            if self._state != "closed":
                _log.warning("server reachable again: resuming at full concurrency")
            self._state = "closed"
            self._failures = 0
            self._probe_in_flight = False
            self._last_success = self._clock()

    def record_failure(self) -> None:
        """A call failed transiently: count it, and open at the threshold."""
        with self._lock:
            self._failures += 1
            if self._state == "half_open" or (
                self._state == "closed" and self._failures >= self.failure_threshold
            ):
                self._state = "open"
                self._opened_at = self._clock()
                self._probe_in_flight = False
                self.times_opened += 1
                _log.warning(
                    "server unreachable after %d consecutive transient failures: "
                    "waiting %gs for the next probe (%d call(s) waiting)",
                    self._failures,
                    self.cooldown,
                    self._waiting,
                )

    def release(self) -> None:
        """A call ended without a verdict (it was cancelled): free the half-open probe."""
        with self._lock:
            self._probe_in_flight = False

    def reset(self) -> None:
        """Close the breaker and forget the failures."""
        self.record_success()


# --------------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    Attributes:
        max_retries: retries after the first attempt (``SUPABASE_MAX_RETRIES``).
        base_delay: the backoff cap for the first retry; it doubles per retry.
        max_delay: the largest backoff cap.
        deadline: seconds one operation may take, retries and waits included
            (``SUPABASE_UPLOAD_TIMEOUT``); ``None`` for no deadline.
        max_retry_after: the longest ``Retry-After`` honoured before giving up.

    Example:
        >>> RetryPolicy(max_retries=3, base_delay=1).backoff_cap(3)
        4.0
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float | None = 300.0
    max_retry_after: float = 120.0

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RetryPolicy:
        """Build from ``Settings`` (``max_retries``, ``upload_timeout``)."""
        values: dict[str, Any] = {
            "max_retries": settings.max_retries,
            "deadline": settings.upload_timeout,
        }
        values.update(overrides)
        return cls(**values)

    def backoff_cap(self, retry_number: int) -> float:
        """The upper bound of the jittered wait before retry ``retry_number`` (1-based)."""
        return float(min(self.max_delay, self.base_delay * (2 ** (retry_number - 1))))


@dataclass
class Attempt:
    """What the called function learns about the attempt it is making.

    Attributes:
        number: 1 for the first attempt.
        previous_error: the failure of the attempt before, if any. A create that
            meets "already exists" after an ambiguous failure checks whether the
            earlier attempt landed.
        deadline_at: the clock value at which the operation's deadline passes.
    """

    number: int
    previous_error: HybridError | None = None
    deadline_at: float | None = None

    @property
    def is_retry(self) -> bool:
        """True after the first attempt."""
        return self.number > 1

    @property
    def may_have_landed(self) -> bool:
        """True when an earlier attempt may have been carried out by the server."""
        return self.previous_error is not None and not is_safe_to_resend(self.previous_error)


@dataclass
class AttemptLog:
    """What happened during one :meth:`Retrier.call` (attempts, waits, errors)."""

    attempts: int = 0
    """Requests made, over every call that shared this log."""
    retries: int = 0
    """Attempts that followed a failure (a log shared by several calls, such as the
    chunks of one resumable upload, counts each call's first attempt as no retry)."""
    waited: float = 0.0
    errors: list[str] = field(default_factory=list)
    uncertain: bool = False
    """True once an attempt failed in a way that may have hidden a success (a reset
    or timeout after the request went out): a later "already exists" may be it."""


class Retrier:
    """Run calls under a :class:`RetryPolicy`, classifying every failure.

    Args:
        policy: the budget and backoff.
        breaker: an optional shared :class:`CircuitBreaker`.
        sleep: how to wait (``time.sleep``); inject a fake in tests.
        clock: a monotonic clock for the deadline; inject a fake in tests.
        rng: returns a float in [0, 1) for full jitter.
        wait_for_breaker: the default for :meth:`call`: wait for an open breaker's
            probe (True) or fail fast with ``CircuitOpenError`` (False).

    Example:
        >>> import httpx
        >>> calls = []
        >>> def flaky(attempt):
        ...     calls.append(attempt.number)
        ...     if attempt.number < 3:
        ...         raise httpx.ReadTimeout("slow")
        ...     return "ok"
        >>> Retrier(RetryPolicy(), sleep=lambda s: None).call(flaky, operation="demo")
        'ok'
        >>> calls
        [1, 2, 3]
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        wait_for_breaker: bool = True,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.breaker = breaker
        self.wait_for_breaker = wait_for_breaker
        self._sleep = sleep
        self._clock = clock
        self._rng = rng

    @property
    def sleep(self) -> Callable[[float], None]:
        """How this retrier waits (so that a derived retrier waits the same way)."""
        return self._sleep

    def call(
        self,
        fn: Callable[[Attempt], T],
        *,
        operation: str,
        idempotent: bool = True,
        log: AttemptLog | None = None,
        deadline: float | None = None,
        cancel: threading.Event | None = None,
        progress: Callable[[], int] | None = None,
        wait_for_breaker: bool | None = None,
        max_retries: int | None = None,
    ) -> T:
        """Call ``fn(attempt)`` until it succeeds, the budget is spent, or it fails for good.

        Args:
            fn: the work; it may raise any exception, which is classified.
            operation: a short description used in error messages.
            idempotent: False for a write that cannot recognise its own earlier
                success; it is then retried only after failures that surely had
                no effect (see :func:`is_safe_to_resend`).
            log: filled with attempts, waits and error summaries.
            deadline: overrides the policy's deadline for this call (seconds).
            cancel: once set, no further attempt starts and a wait ends early.
            progress: how far the work has got (a resumable upload's server
                offset); a failure after which it grew does not use up the budget,
                and the deadline starts again.
            wait_for_breaker: wait for an open breaker's probe (default: the
                retrier's setting) or fail fast with ``CircuitOpenError``.
            max_retries: overrides the policy's budget for this call.

        Returns:
            What ``fn`` returned.

        Raises:
            NonRetryableError: the server said no; never retried.
            CircuitOpenError: the breaker is open and the call asked not to wait.
            CancelledError: ``cancel`` was set (or ``fn`` raised it); never retried.
            ServerUnreachable: the breaker stayed open with no success for too long.
            RetriesExhausted: retryable failures used up the attempts or the deadline.
        """
        policy = self.policy
        retries_allowed = policy.max_retries if max_retries is None else max_retries
        log = log if log is not None else AttemptLog()
        budget = policy.deadline if deadline is None else deadline
        wait = self.wait_for_breaker if wait_for_breaker is None else wait_for_breaker
        start = self._clock()
        state: dict[str, Any] = {
            "previous": None,
            "why_stop": "",
            "number": 0,
            "idle": 0,  # failed attempts since the work last made progress
            "mark": progress() if progress is not None else 0,
            "deadline_at": None if budget is None else start + budget,
        }

        sleep = self._sleep
        if cancel is not None and sleep is time.sleep:
            # A real wait ends as soon as the caller cancels (the next attempt then
            # raises); an injected sleep (tests) is used as it is.
            def sleep(seconds: float) -> None:
                cancel.wait(seconds)

        def attempt_once() -> T:
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"{operation}: cancelled")
            probe = False
            if self.breaker is not None:
                if wait:
                    probe = self.breaker.wait_ready(
                        sleep=sleep,
                        cancel=cancel,
                        deadline_at=state["deadline_at"],
                        operation=operation,
                    )
                else:
                    self.breaker.before_call()
            log.attempts += 1
            state["number"] += 1
            # The number is this call's own: a log shared by several calls (the chunks
            # of one upload) must not make a first attempt look like a retry.
            attempt = Attempt(state["number"], state["previous"], state["deadline_at"])
            try:
                value = fn(attempt)
            except CancelledError:
                # The caller stopped: no verdict on the server, for or against.
                if self.breaker is not None:
                    self.breaker.release()
                raise
            except Exception as exc:  # classified below; BaseException passes through
                error = classify(exc, context=operation)
                now_at = progress() if progress is not None else state["mark"]
                moved = now_at > state["mark"]
                busy = isinstance(error, RetryableError) and error.code == UPLOAD_LOCKED
                if self.breaker is not None:
                    # Progress proves the server is there and taking bytes: a
                    # flaky link is not a server in trouble.
                    if isinstance(error, RetryableError) and not moved and not busy:
                        self.breaker.record_failure()
                    elif not isinstance(error, CircuitOpenError):
                        self.breaker.record_success()
                log.errors.append(f"attempt {state['number']}: {error.message}")
                if isinstance(error, RetryableError) and not is_safe_to_resend(error):
                    log.uncertain = True
                state["previous"] = error
                if moved:
                    # The work moved forward: the budget and the deadline start again.
                    state["mark"], state["idle"] = now_at, 0
                    if budget is not None:
                        state["deadline_at"] = self._clock() + budget
                elif not busy and not (probe and isinstance(error, RetryableError)):
                    # A failed probe says the server is still away: the breaker
                    # counts that, and the wait for the next probe is not this
                    # call's budget to spend.
                    state["idle"] += 1
                if error is exc:
                    raise
                raise error from exc
            if self.breaker is not None:
                self.breaker.record_success()
            return value

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, RetryableError) or isinstance(exc, RetriesExhausted):
                return False
            if not idempotent and not is_safe_to_resend(exc):
                state["why_stop"] = (
                    "not retried: the server may have carried out this write, and sending it "
                    "again could duplicate it"
                )
                return False
            return True

        def backoff(rs: tenacity.RetryCallState) -> float:
            retry_number = max(1, state["idle"])  # progress starts the backoff again
            cap = policy.backoff_cap(retry_number)
            delay = self._rng() * cap
            exc = rs.outcome.exception() if rs.outcome is not None else None
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                delay = max(delay, float(retry_after))
            return delay

        def stop(rs: tenacity.RetryCallState) -> bool:
            if state["idle"] > retries_allowed:
                state["why_stop"] = (
                    f"gave up after {rs.attempt_number} attempts"
                    if progress is None or state["idle"] == rs.attempt_number
                    else f"gave up after {state['idle']} attempts without progress "
                    f"({rs.attempt_number} in all)"
                )
                return True
            exc = rs.outcome.exception() if rs.outcome is not None else None
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None and retry_after > policy.max_retry_after:
                state["why_stop"] = (
                    f"the server asked to wait {retry_after:g}s (Retry-After), "
                    f"longer than {policy.max_retry_after:g}s"
                )
                return True
            deadline_at = state["deadline_at"]
            if deadline_at is not None and self._clock() + rs.upcoming_sleep > deadline_at:
                state["why_stop"] = (
                    f"the {budget:g}s deadline would pass before attempt {rs.attempt_number + 1}"
                )
                return True
            return False

        def before_sleep(rs: tenacity.RetryCallState) -> None:
            log.waited += rs.upcoming_sleep
            log.retries += 1

        retrying = tenacity.Retrying(
            stop=stop,
            wait=backoff,
            retry=tenacity.retry_if_exception(should_retry),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt_once)
        except RetryableError as error:
            if isinstance(error, RetriesExhausted):
                raise
            why = state["why_stop"] or f"gave up after {state['number']} attempts"
            raise RetriesExhausted(
                f"{operation}: {why}; last error: {error.message}",
                attempts=state["number"],
                last_cause=error,
            ) from error


class CountingRetrier(Retrier):
    """A :class:`Retrier` that reports each call's attempts and retries to ``count``.

    The manager gives its SQL and RPC calls one, with the storage session's
    ``count``, so that they roll up into the running operation as storage calls do.

    Args:
        policy: as for :class:`Retrier`.
        count: receives what each call adds to its log (an :class:`AttemptLog`).
        **options: the rest of :class:`Retrier`'s arguments (``breaker``, ``sleep`` ...).
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        count: Callable[[AttemptLog], None],
        **options: Any,
    ) -> None:
        super().__init__(policy, **options)
        self._report = count

    def call(
        self, fn: Callable[[Attempt], T], *, log: AttemptLog | None = None, **options: Any
    ) -> T:
        """``Retrier.call`` (the same arguments), counting what it adds to ``log``."""
        log = log if log is not None else AttemptLog()
        # A log may be shared by several calls: count only what this one adds.
        attempts, retries = log.attempts, log.retries
        try:
            return super().call(fn, log=log, **options)
        finally:
            self._report(AttemptLog(log.attempts - attempts, log.retries - retries))

    def once(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` once, never resent, counted as one attempt."""
        try:
            return fn()
        finally:
            self._report(AttemptLog(attempts=1))
