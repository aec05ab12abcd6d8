"""Classification, retry timing (injected sleep and clock) and the circuit breaker."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from postgrest.exceptions import APIError
from storage3.exceptions import StorageApiError

from hybridkit.errors import (
    AuthError,
    CircuitOpenError,
    ConflictError,
    HybridError,
    InvalidInputError,
    NonRetryableError,
    NotFoundError,
    QuotaError,
    RetriesExhausted,
    RetryableError,
)
from hybridkit.retry import (
    Attempt,
    AttemptLog,
    CircuitBreaker,
    Retrier,
    RetryPolicy,
    classify,
    classify_response,
    is_safe_to_resend,
    parse_retry_after,
    sqlstate_error,
)

# --------------------------------------------------------------------------- helpers


def storage_error(
    http_status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
) -> StorageApiError:
    """Build the StorageApiError storage3 raises, chained the way storage3 chains it."""
    request = httpx.Request("POST", "http://127.0.0.1/storage/v1/object/b/k")
    if isinstance(body, dict):
        response = httpx.Response(http_status, json=body, headers=headers, request=request)
    else:
        response = httpx.Response(http_status, text=body, headers=headers, request=request)
    status_error = httpx.HTTPStatusError("boom", request=request, response=response)
    try:
        try:
            raise status_error
        except httpx.HTTPStatusError as exc:
            try:
                data = exc.response.json()
                raise StorageApiError(data["message"], data["error"], data["statusCode"]) from exc
            except (KeyError, TypeError, ValueError) as err:
                raise StorageApiError(
                    f"Unable to parse error message: {exc.response.text}",
                    "InternalError",
                    exc.response.status_code,
                ) from err
    except StorageApiError as built:
        return built
    raise AssertionError("unreachable")


def body(status: str, code: str, error: str = "e", message: str = "m") -> dict[str, Any]:
    return {"statusCode": status, "error": error, "message": message, "code": code}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------- classification

STORAGE_TABLE = [
    # (HTTP status, body, expected class, expected status, expected code)
    (400, body("404", "NoSuchKey", "not_found"), NotFoundError, 404, "NoSuchKey"),
    (400, body("404", "NoSuchBucket", "Bucket not found"), NotFoundError, 404, "NoSuchBucket"),
    (400, body("409", "KeyAlreadyExists", "Duplicate"), ConflictError, 409, "KeyAlreadyExists"),
    (400, body("409", "ResourceNotEmpty"), ConflictError, 409, "ResourceNotEmpty"),
    (400, body("413", "EntityTooLarge"), QuotaError, 413, "EntityTooLarge"),
    (400, body("415", "InvalidMimeType"), QuotaError, 415, "InvalidMimeType"),
    (400, body("403", "AccessDenied", "Unauthorized"), AuthError, 403, "AccessDenied"),
    (403, body("403", "AccessDenied"), AuthError, 403, "AccessDenied"),
    (400, body("400", "InvalidJWT", "InvalidJWT"), AuthError, 400, "InvalidJWT"),
    (400, body("400", "InvalidKey"), InvalidInputError, 400, "InvalidKey"),
    (400, body("400", "InvalidBucketName"), InvalidInputError, 400, "InvalidBucketName"),
    (400, body("503", "LockTimeout", "acquiring_lock_timeout"), RetryableError, 503, "LockTimeout"),
    (400, body("503", "DatabaseReadOnly"), RetryableError, 503, "DatabaseReadOnly"),
    (400, body("423", "ResourceLocked"), RetryableError, 423, "ResourceLocked"),
    (429, body("429", "SlowDown", "too_many_connections"), RetryableError, 429, "SlowDown"),
    (500, body("500", "InternalError", "Internal"), RetryableError, 500, "InternalError"),
    (544, body("544", "DatabaseTimeout"), RetryableError, 544, "DatabaseTimeout"),
    (502, "<html>bad gateway</html>", RetryableError, 502, "InternalError"),
    (503, "upstream unavailable", RetryableError, 503, "InternalError"),
    (404, "not here", NotFoundError, 404, "InternalError"),
]


@pytest.mark.parametrize(("http", "payload", "cls", "status", "code"), STORAGE_TABLE)
def test_storage_api_errors_classify_by_body(
    http: int, payload: Any, cls: type[HybridError], status: int, code: str
) -> None:
    error = classify(storage_error(http, payload), context="upload b/k")
    assert type(error) is cls
    assert error.status == status
    assert error.code == code
    assert error.message.startswith("upload b/k: ")
    assert isinstance(error.__cause__, StorageApiError)


def test_storage_retry_after_is_read_from_the_response() -> None:
    error = classify(storage_error(429, body("429", "SlowDown"), {"Retry-After": "7"}))
    assert isinstance(error, RetryableError)
    assert error.retry_after == 7.0


POSTGREST_TABLE = [
    ({"code": "PGRST000", "message": "db down"}, RetryableError),
    ({"code": "PGRST003", "message": "timed out acquiring connection"}, RetryableError),
    ({"code": "08006", "message": "connection failure"}, RetryableError),
    ({"code": "40001", "message": "serialization failure"}, RetryableError),
    ({"code": "40P01", "message": "deadlock"}, RetryableError),
    ({"code": "503", "message": "Service Unavailable"}, RetryableError),
    ({"code": "520", "message": "?"}, RetryableError),
    ({"code": "42501", "message": "permission denied"}, AuthError),
    ({"code": "PGRST301", "message": "JWT expired"}, AuthError),
    ({"code": "PGRST202", "message": "no function"}, NotFoundError),
    ({"code": "PGRST205", "message": "no table"}, NotFoundError),
    ({"code": "23505", "message": "duplicate key"}, ConflictError),
    ({"code": "22P02", "message": "invalid input syntax"}, InvalidInputError),
    ({"code": "PGRST100", "message": "parse error"}, InvalidInputError),
    ({"code": "P0001", "message": "raised by function"}, NonRetryableError),
]


@pytest.mark.parametrize(("payload", "cls"), POSTGREST_TABLE)
def test_postgrest_errors_classify_by_code(payload: dict[str, str], cls: type[HybridError]) -> None:
    error = classify(APIError(payload), context="rpc f")
    assert type(error) is cls
    assert error.code == payload["code"]


SQLSTATE_TABLE = [
    ("28P01", AuthError, 401),
    ("42501", AuthError, 403),
    ("57P02", RetryableError, None),
    ("40001", RetryableError, None),
    ("42P01", NotFoundError, 404),
    ("3D000", NotFoundError, 404),
    ("42P07", ConflictError, 409),
    ("22P02", InvalidInputError, 400),
    ("P0001", NonRetryableError, None),
]


@pytest.mark.parametrize(("sqlstate", "cls", "status"), SQLSTATE_TABLE)
def test_one_sqlstate_table_serves_postgrest_and_direct_sql(
    sqlstate: str, cls: type[HybridError], status: int | None
) -> None:
    direct = sqlstate_error(sqlstate, "sql: boom")
    via_rest = classify(APIError({"code": sqlstate, "message": "boom"}), context="rpc f")
    assert (type(direct), direct.status, direct.code) == (cls, status, sqlstate)
    assert (type(via_rest), via_rest.status, via_rest.code) == (cls, status, sqlstate)


def _request() -> httpx.Request:
    return httpx.Request("GET", "http://127.0.0.1:1/x")


TRANSPORT_TABLE = [
    (httpx.ConnectError("refused", request=_request()), True),
    (httpx.ConnectTimeout("slow connect", request=_request()), True),
    (httpx.PoolTimeout("pool", request=_request()), True),
    (httpx.ReadTimeout("stall", request=_request()), False),
    (httpx.WriteTimeout("stall", request=_request()), False),
    (httpx.ReadError("reset", request=_request()), False),
    (httpx.WriteError("reset", request=_request()), False),
    (httpx.RemoteProtocolError("peer closed", request=_request()), False),
]


@pytest.mark.parametrize(("exc", "unsent"), TRANSPORT_TABLE)
def test_transport_errors_are_retryable(exc: Exception, unsent: bool) -> None:
    error = classify(exc)
    assert type(error) is RetryableError
    assert error.code == type(exc).__name__
    assert is_safe_to_resend(error) is unsent


def test_other_failures() -> None:
    assert type(classify(httpx.UnsupportedProtocol("ftp"))) is InvalidInputError
    assert type(classify(KeyError("Key"))) is NonRetryableError
    assert "unexpected KeyError" in classify(KeyError("Key")).message
    same = NotFoundError("x")
    assert classify(same) is same


TUS_TABLE = [
    # A TUS 409 is told by its body: behind the server's offset (retried after a
    # HEAD), or the object exists (a conflict, never retried).
    (409, "Upload-Offset conflict", RetryableError),
    (409, "The resource already exists", ConflictError),
    (404, "Not Found", NotFoundError),
    (410, "Gone", NotFoundError),
    (413, "Maximum size exceeded", QuotaError),
    (415, "mime type image/png is not supported", QuotaError),
    (412, "Tus-Resumable Required", NonRetryableError),
    (423, "locked", RetryableError),
    (460, "checksum mismatch", NonRetryableError),
    (500, "oops", RetryableError),
    (503, "busy", RetryableError),
]


@pytest.mark.parametrize(("status", "text", "cls"), TUS_TABLE)
def test_tus_statuses_classify_by_http_status(
    status: int, text: str, cls: type[HybridError]
) -> None:
    error = classify_response(httpx.Response(status, text=text), context="tus PATCH")
    assert type(error) is cls
    assert error.status == status
    assert text in error.message


def test_json_body_status_wins_over_http_status() -> None:
    response = httpx.Response(400, json=body("503", "LockTimeout"), headers={"Retry-After": "2"})
    error = classify_response(response)
    assert isinstance(error, RetryableError)
    assert (error.status, error.code, error.retry_after) == (503, "LockTimeout", 2.0)


def test_parse_retry_after() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("12.5") == 12.5
    assert parse_retry_after("nonsense") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


# --------------------------------------------------------------------------- retry timing


def make_retrier(
    clock: FakeClock, *, policy: RetryPolicy | None = None, jitter: float = 1.0, **kw: Any
) -> Retrier:
    return Retrier(
        policy or RetryPolicy(max_retries=3, base_delay=1.0, max_delay=30.0, deadline=None),
        sleep=clock.sleep,
        clock=clock,
        rng=lambda: jitter,
        **kw,
    )


def failing(times: int, exc_factory: Any, result: str = "ok") -> Any:
    calls: list[Attempt] = []

    def fn(attempt: Attempt) -> str:
        calls.append(attempt)
        if attempt.number <= times:
            raise exc_factory()
        return result

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_exponential_backoff_full_jitter_upper_bound() -> None:
    clock = FakeClock()
    fn = failing(3, lambda: httpx.ReadTimeout("stall"))
    log = AttemptLog()
    assert make_retrier(clock).call(fn, operation="op", log=log) == "ok"
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert (log.attempts, log.retries, log.waited) == (4, 3, 7.0)
    assert [a.number for a in fn.calls] == [1, 2, 3, 4]
    assert fn.calls[0].previous_error is None
    assert isinstance(fn.calls[1].previous_error, RetryableError)
    assert fn.calls[1].may_have_landed  # a read timeout may hide a completed write


def test_a_log_shared_by_several_calls_counts_only_real_retries() -> None:
    # The chunks of one resumable upload share a log: a chunk's first attempt is
    # no retry (it used to look like one, which made every chunk ask HEAD first).
    clock = FakeClock()
    retrier = make_retrier(clock)
    log = AttemptLog()
    clean = failing(0, lambda: httpx.ReadError("x"))
    for _ in range(3):
        retrier.call(clean, operation="chunk", log=log)
    assert [a.number for a in clean.calls] == [1, 1, 1]
    assert not any(a.is_retry for a in clean.calls)
    flaky = failing(2, lambda: httpx.ReadError("reset"))
    retrier.call(flaky, operation="chunk", log=log)
    assert [a.number for a in flaky.calls] == [1, 2, 3]
    assert (log.attempts, log.retries) == (6, 2)
    with pytest.raises(RetriesExhausted) as info:
        retrier.call(failing(99, lambda: httpx.ReadError("x")), operation="chunk", log=log)
    assert info.value.attempts == 4  # this call's attempts, not the log's total
    assert (log.attempts, log.retries) == (10, 5)


def test_full_jitter_scales_the_cap() -> None:
    clock = FakeClock()
    fn = failing(2, lambda: httpx.ConnectError("refused"))
    make_retrier(clock, jitter=0.25).call(fn, operation="op")
    assert clock.sleeps == [0.25, 0.5]
    assert not fn.calls[1].may_have_landed


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_retries=6, base_delay=1.0, max_delay=5.0, deadline=None)
    clock = FakeClock()
    make_retrier(clock, policy=policy).call(failing(6, lambda: httpx.ReadError("x")), operation="o")
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_retries_exhausted_carries_attempts_and_cause() -> None:
    clock = FakeClock()
    with pytest.raises(RetriesExhausted) as info:
        make_retrier(clock).call(failing(99, lambda: httpx.ReadError("reset")), operation="get x")
    assert info.value.attempts == 4
    assert isinstance(info.value.last_cause, RetryableError)
    assert "get x" in info.value.message and "4 attempts" in info.value.message
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_zero_retries_means_one_attempt() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_retries=0, deadline=None)
    with pytest.raises(RetriesExhausted) as info:
        make_retrier(clock, policy=policy).call(
            failing(1, lambda: httpx.ReadError("x")), operation="o"
        )
    assert info.value.attempts == 1
    assert clock.sleeps == []


def test_non_retryable_fails_after_one_attempt() -> None:
    clock = FakeClock()
    fn = failing(99, lambda: storage_error(400, body("404", "NoSuchKey", "not_found")))
    log = AttemptLog()
    with pytest.raises(NotFoundError):
        make_retrier(clock).call(fn, operation="o", log=log)
    assert log.attempts == 1
    assert clock.sleeps == []


def test_retry_after_is_honoured_over_jitter() -> None:
    clock = FakeClock()
    fn = failing(1, lambda: storage_error(429, body("429", "SlowDown"), {"Retry-After": "9"}))
    make_retrier(clock, jitter=0.0).call(fn, operation="o")
    assert clock.sleeps == [9.0]


def test_retry_after_beyond_the_limit_gives_up() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_retries=3, deadline=None, max_retry_after=5.0)
    fn = failing(1, lambda: storage_error(503, body("503", "X"), {"Retry-After": "60"}))
    with pytest.raises(RetriesExhausted, match="Retry-After"):
        make_retrier(clock, policy=policy).call(fn, operation="o")
    assert clock.sleeps == []


def test_deadline_stops_before_the_wait_that_would_cross_it() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_retries=10, base_delay=1.0, max_delay=100.0, deadline=5.0)

    def slow_fail(attempt: Attempt) -> str:
        clock.now += 0.5  # each attempt takes half a second
        raise httpx.ReadTimeout("stall")

    log = AttemptLog()
    with pytest.raises(RetriesExhausted, match="deadline") as info:
        make_retrier(clock, policy=policy).call(slow_fail, operation="o", log=log)
    # t=0.5 fail, sleep 1 -> t=1.5, +0.5 fail at 2.0, sleep 2 -> 4.0, +0.5 fail at 4.5;
    # the next wait (4 s) would end at 8.5 > 5.
    assert clock.sleeps == [1.0, 2.0]
    assert info.value.attempts == 3


def test_per_call_deadline_overrides_policy() -> None:
    clock = FakeClock()
    with pytest.raises(RetriesExhausted):
        make_retrier(clock).call(
            failing(9, lambda: httpx.ReadError("x")), operation="o", deadline=2.5
        )
    assert clock.sleeps == [1.0]


def test_non_idempotent_write_is_not_resent_after_an_ambiguous_failure() -> None:
    clock = FakeClock()
    fn = failing(1, lambda: httpx.ReadTimeout("response lost"))
    with pytest.raises(RetriesExhausted, match="duplicate") as info:
        make_retrier(clock).call(fn, operation="rpc f", idempotent=False)
    assert info.value.attempts == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "exc_factory",
    [
        lambda: httpx.ConnectError("refused"),
        lambda: storage_error(429, body("429", "SlowDown")),
        lambda: storage_error(400, body("503", "LockTimeout")),
        lambda: APIError({"code": "503", "message": "unavailable"}),
    ],
)
def test_non_idempotent_write_is_resent_when_surely_unsent(exc_factory: Any) -> None:
    clock = FakeClock()
    assert make_retrier(clock).call(failing(1, exc_factory), operation="o", idempotent=False)
    assert len(clock.sleeps) == 1


def test_base_exceptions_pass_through() -> None:
    def interrupted(attempt: Attempt) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_retrier(FakeClock()).call(interrupted, operation="o")


def test_policy_from_settings() -> None:
    from hybridkit.config import Settings

    settings = Settings.load(env={}, env_file=None, max_retries=5, upload_timeout=42)
    policy = RetryPolicy.from_settings(settings)
    assert (policy.max_retries, policy.deadline) == (5, 42.0)


# --------------------------------------------------------------------------- circuit breaker


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=10.0, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError, match=r"10\.0s"):
        breaker.before_call()
    clock.now = 9.9
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now = 10.0
    assert breaker.state == "half_open"
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # only one probe at a time
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0
    breaker.before_call()


def test_breaker_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.times_opened == 2
    clock.now = 9.0
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now = 10.0
    breaker.before_call()


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown=1.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_retrier_feeds_the_breaker_and_fails_fast() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=60.0, clock=clock)
    retrier = make_retrier(clock, breaker=breaker, wait_for_breaker=False)
    with pytest.raises(CircuitOpenError):
        retrier.call(failing(99, lambda: httpx.ConnectError("down")), operation="o")
    assert breaker.state == "open"
    log = AttemptLog()
    fn = failing(0, lambda: None)
    with pytest.raises(CircuitOpenError):
        retrier.call(fn, operation="o", log=log)
    assert fn.calls == [] and log.attempts == 0  # failed fast, nothing sent
    clock.now += 60.0
    assert retrier.call(fn, operation="o") == "ok"  # the half-open probe succeeds
    assert breaker.state == "closed"


def test_an_open_breaker_makes_a_call_wait_for_the_probe_not_fail() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        failure_threshold=2, cooldown=30.0, clock=clock, jitter=0.5, rng=lambda: 0.5
    )
    retrier = make_retrier(clock, breaker=breaker, jitter=0.0)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.status().describe() == "server unreachable — next probe in 30 s, 0 waiting"
    fn = failing(0, lambda: None)
    assert retrier.call(fn, operation="o") == "ok"
    # It waited out the cool-down plus its jitter (0.5 * 0.5 * 30 s), then probed.
    assert clock.now == pytest.approx(37.5)
    assert len(fn.calls) == 1 and breaker.state == "closed"


def test_a_failed_probe_sends_the_waiters_back_to_wait() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=10.0, clock=clock, jitter=0.0)
    retrier = make_retrier(
        clock,
        breaker=breaker,
        jitter=0.0,
        policy=RetryPolicy(max_retries=5, base_delay=0.0, deadline=None),
    )
    breaker.record_failure()
    fn = failing(2, lambda: httpx.ConnectError("down"))
    assert retrier.call(fn, operation="o") == "ok"
    # Probe at 10 s fails (reopens), probe at 20 s fails, probe at 30 s succeeds.
    assert [a.number for a in fn.calls] == [1, 2, 3]
    assert clock.now == pytest.approx(30.0)
    assert breaker.times_opened == 3 and breaker.state == "closed"


def test_only_one_waiter_probes_the_others_wait_for_its_verdict() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=10.0, clock=clock, jitter=0.0)
    breaker.record_failure()
    clock.now = 10.0
    breaker.wait_ready(sleep=clock.sleep)  # the probe
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        breaker.record_success()  # the probe's verdict arrives while the other waits

    breaker.wait_ready(sleep=sleep)
    assert slept == [breaker.poll] and breaker.state == "closed"


def test_waiting_ends_with_cancel_or_when_the_server_stays_unreachable() -> None:
    from hybridkit.errors import CancelledError
    from hybridkit.retry import ServerUnreachable

    clock = FakeClock()
    breaker = CircuitBreaker(
        failure_threshold=1, cooldown=10.0, clock=clock, unreachable_after=60.0, jitter=0.0
    )
    retrier = make_retrier(
        clock, breaker=breaker, policy=RetryPolicy(max_retries=1000, base_delay=0, deadline=None)
    )
    fn = failing(10_000, lambda: httpx.ConnectError("down"))
    with pytest.raises(ServerUnreachable, match="unreachable for 60s"):
        retrier.call(fn, operation="o")
    assert clock.now == pytest.approx(60.0)
    assert len(fn.calls) == 6  # one attempt, then a probe every 10 s

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        breaker.wait_ready(sleep=clock.sleep, cancel=cancel)


def test_a_deadline_ends_the_wait_before_the_next_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=100.0, clock=clock, jitter=0.0)
    breaker.record_failure()
    with pytest.raises(RetriesExhausted, match="deadline passes"):
        breaker.wait_ready(sleep=clock.sleep, deadline_at=50.0)
    assert clock.now < 50.0


def test_the_budget_starts_again_when_the_offset_advanced() -> None:
    clock = FakeClock()
    retrier = make_retrier(
        clock, policy=RetryPolicy(max_retries=2, base_delay=1.0, max_delay=30.0, deadline=100.0)
    )
    offset = [0]

    def patch(attempt: Attempt) -> str:
        if attempt.number <= 8:
            offset[0] += 1  # each failed attempt still moved the server's offset
            raise httpx.ReadTimeout("reset mid-body")
        return "done"

    log = AttemptLog()
    assert retrier.call(patch, operation="o", progress=lambda: offset[0], log=log) == "done"
    assert log.attempts == 9 and log.retries == 8
    assert clock.sleeps == [1.0] * 8  # the backoff starts again too

    stuck = failing(99, lambda: httpx.ReadTimeout("stalled"))
    with pytest.raises(RetriesExhausted, match="gave up after 3 attempts"):
        retrier.call(stuck, operation="o", progress=lambda: offset[0])


def test_progress_then_no_progress_spends_the_budget() -> None:
    clock = FakeClock()
    retrier = make_retrier(clock, policy=RetryPolicy(max_retries=2, base_delay=0, deadline=None))
    offset = [0]

    def patch(attempt: Attempt) -> str:
        if attempt.number <= 3:
            offset[0] += 1
        raise httpx.ReadTimeout("stalled")

    with pytest.raises(RetriesExhausted, match="3 attempts without progress \\(6 in all\\)"):
        retrier.call(patch, operation="o", progress=lambda: offset[0])


def test_non_retryable_answers_count_as_reachable() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=60.0, clock=clock)
    retrier = make_retrier(clock, breaker=breaker)
    breaker.record_failure()
    with pytest.raises(NotFoundError):
        retrier.call(failing(9, lambda: NotFoundError("gone")), operation="o")
    assert breaker.consecutive_failures == 0


def test_breaker_is_thread_safe() -> None:
    breaker = CircuitBreaker(failure_threshold=1000, cooldown=1.0, clock=FakeClock())

    def hammer() -> None:
        for _ in range(250):
            breaker.record_failure()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.consecutive_failures == 1000
    assert breaker.state == "open"


# --------------------------------------------------------------------------- cancel


def test_cancelled_error_passes_straight_through_unretried_and_uncounted() -> None:
    from hybridkit.errors import CancelledError

    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown=60.0, clock=clock)
    breaker.record_failure()
    log = AttemptLog()
    fn = failing(9, lambda: CancelledError("upload b/k: cancelled"))
    with pytest.raises(CancelledError):
        make_retrier(clock, breaker=breaker).call(fn, operation="o", log=log)
    assert len(fn.calls) == 1 and clock.sleeps == []
    assert (log.attempts, log.retries, log.errors) == (1, 0, [])
    assert breaker.consecutive_failures == 1  # neither a failure nor a success


def test_a_set_cancel_event_stops_before_the_next_attempt() -> None:
    from hybridkit.errors import CancelledError

    clock = FakeClock()
    cancel = threading.Event()
    cancel.set()
    log = AttemptLog()
    fn = failing(0, lambda: None)
    with pytest.raises(CancelledError, match="o: cancelled"):
        make_retrier(clock).call(fn, operation="o", log=log, cancel=cancel)
    assert fn.calls == [] and log.attempts == 0  # nothing sent

    cancel.clear()

    def fails_then_cancels(attempt: Attempt) -> str:
        cancel.set()  # e.g. the person clicks Cancel while the request times out
        raise httpx.ReadTimeout("slow")

    with pytest.raises(CancelledError):
        make_retrier(clock).call(fails_then_cancels, operation="o", log=log, cancel=cancel)
    assert log.attempts == 1 and clock.sleeps == [1.0]  # no second attempt after the wait


def test_a_real_backoff_wait_ends_when_cancelled() -> None:
    import time

    from hybridkit.errors import CancelledError

    cancel = threading.Event()
    # The default sleep (time.sleep): a 30 s backoff that the cancel must cut short.
    retrier = Retrier(RetryPolicy(max_retries=3, base_delay=30.0, deadline=None), rng=lambda: 1.0)

    def fails(attempt: Attempt) -> str:
        threading.Timer(0.05, cancel.set).start()
        raise httpx.ReadTimeout("slow")

    began = time.monotonic()
    with pytest.raises(CancelledError):
        retrier.call(fails, operation="o", cancel=cancel)
    assert time.monotonic() - began < 10


def test_a_cancelled_half_open_probe_frees_the_slot() -> None:
    from hybridkit.errors import CancelledError

    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=10.0, clock=clock)
    retrier = make_retrier(clock, breaker=breaker)
    breaker.record_failure()
    clock.now += 10.0
    with pytest.raises(CancelledError):
        retrier.call(failing(1, lambda: CancelledError("c")), operation="o")
    assert breaker.state == "half_open"  # no verdict: still waiting for a probe
    assert retrier.call(failing(0, lambda: None), operation="o") == "ok"
    assert breaker.state == "closed"


def test_a_locked_upload_is_waited_for_without_spending_the_budget() -> None:
    from hybridkit.retry import UPLOAD_LOCKED

    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown=60.0, clock=clock)
    retrier = make_retrier(
        clock, breaker=breaker, policy=RetryPolicy(max_retries=1, base_delay=0, deadline=30.0)
    )

    def locked() -> RetryableError:
        return RetryableError("still locked", status=500, code=UPLOAD_LOCKED, retry_after=2.0)

    fn = failing(6, locked)
    assert retrier.call(fn, operation="o") == "ok"  # six waits, on a budget of one retry
    assert breaker.state == "closed" and clock.sleeps == [2.0] * 6
    # The per-operation deadline still bounds the wait.
    with pytest.raises(RetriesExhausted, match="30s deadline"):
        retrier.call(failing(99, locked), operation="o")
