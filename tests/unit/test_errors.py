"""The exception tree's shape and attributes (DESIGN.md, "The result type and the error tree")."""

from __future__ import annotations

import pytest

import hybridkit.errors as errors_module
from hybridkit.errors import (
    AuthError,
    CancelledError,
    CircuitOpenError,
    ConfigError,
    ConflictError,
    HybridError,
    InvalidInputError,
    LocalStackError,
    MigrationError,
    NonRetryableError,
    NotFoundError,
    QuotaError,
    RetriesExhausted,
    RetryableError,
)

# child -> parent, exactly as drawn in the design
TREE: dict[type[HybridError], type[Exception]] = {
    HybridError: Exception,
    ConfigError: HybridError,
    RetryableError: HybridError,
    RetriesExhausted: RetryableError,
    NonRetryableError: HybridError,
    AuthError: NonRetryableError,
    NotFoundError: NonRetryableError,
    ConflictError: NonRetryableError,
    QuotaError: NonRetryableError,
    InvalidInputError: NonRetryableError,
    CircuitOpenError: HybridError,
    CancelledError: HybridError,
    MigrationError: HybridError,
    LocalStackError: HybridError,
}


@pytest.mark.parametrize(("child", "parent"), list(TREE.items()), ids=lambda c: c.__name__)
def test_direct_parent(child: type[HybridError], parent: type[Exception]) -> None:
    assert child.__bases__ == (parent,)


def test_the_tree_is_complete() -> None:
    public = {getattr(errors_module, name) for name in errors_module.__all__}
    assert public == set(TREE)


@pytest.mark.parametrize("cls", list(TREE), ids=lambda c: c.__name__)
def test_every_error_is_a_hybrid_error_and_an_exception(cls: type[HybridError]) -> None:
    assert issubclass(cls, HybridError)
    assert issubclass(cls, Exception)


def test_retryable_and_non_retryable_branches_are_disjoint() -> None:
    retryable = {c for c in TREE if issubclass(c, RetryableError)}
    non_retryable = {c for c in TREE if issubclass(c, NonRetryableError)}
    assert retryable == {RetryableError, RetriesExhausted}
    assert non_retryable == {
        NonRetryableError,
        AuthError,
        NotFoundError,
        ConflictError,
        QuotaError,
        InvalidInputError,
    }
    assert not retryable & non_retryable


@pytest.mark.parametrize(
    "cls",
    [ConfigError, CircuitOpenError, CancelledError, MigrationError, LocalStackError],
    ids=lambda c: c.__name__,
)
def test_standalone_branches(cls: type[HybridError]) -> None:
    assert not issubclass(cls, RetryableError)
    assert not issubclass(cls, NonRetryableError)


def test_base_attributes() -> None:
    err = NotFoundError("Object not found: b/k.txt", status=404, code="NoSuchKey")
    assert str(err) == "Object not found: b/k.txt"
    assert err.message == "Object not found: b/k.txt"
    assert err.status == 404
    assert err.code == "NoSuchKey"
    assert err.args == ("Object not found: b/k.txt",)


def test_status_and_code_default_to_none() -> None:
    err = ConflictError("exists")
    assert err.status is None
    assert err.code is None


def test_every_error_carries_a_hint_without_secrets() -> None:
    assert ConflictError("exists").hint == ""
    err = NotFoundError("bucket 'b' not found", hint="create it with `hybridkit storage buckets`")
    assert err.hint == "create it with `hybridkit storage buckets`"
    leaky = HybridError("no", hint="connect with postgresql://postgres:s3cret-pw@db:5432/postgres")
    assert "s3cret-pw" not in leaky.hint and "postgresql://postgres:" in leaky.hint
    from hybridkit.mcp._boundary import hint_for

    assert hint_for(err) == err.hint  # MCP answers show the error's own hint first


def test_status_and_code_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        HybridError("msg", 404)  # type: ignore[misc]


def test_retryable_carries_retry_after() -> None:
    err = RetryableError("slow down", status=429, code="SlowDown", retry_after=2.5)
    assert (err.status, err.code, err.retry_after) == (429, "SlowDown", 2.5)
    assert RetryableError("x").retry_after is None


def test_retries_exhausted_carries_attempts_and_cause() -> None:
    cause = RetryableError("database timed out", status=544, code="DatabaseTimeout")
    err = RetriesExhausted("gave up after 4 attempts", attempts=4, last_cause=cause)
    assert err.attempts == 4
    assert err.last_cause is cause
    assert err.status == 544  # taken from the last cause
    assert err.code == "DatabaseTimeout"
    assert str(err) == "gave up after 4 attempts"
    assert isinstance(err, RetryableError)


def test_retries_exhausted_with_a_foreign_cause() -> None:
    cause = ConnectionResetError("reset by peer")
    err = RetriesExhausted("gave up", attempts=2, last_cause=cause)
    assert err.last_cause is cause
    assert err.status is None
    assert err.code is None
    bare = RetriesExhausted("gave up", attempts=1, last_cause=None)
    assert (bare.status, bare.code, bare.last_cause) == (None, None, None)


def test_catching_by_branch() -> None:
    with pytest.raises(NonRetryableError):
        raise QuotaError("too large", status=413, code="EntityTooLarge")
    with pytest.raises(RetryableError):
        raise RetriesExhausted("spent", attempts=3, last_cause=None)
    with pytest.raises(HybridError):
        raise LocalStackError("cannot start")


def test_the_module_docstring_draws_the_tree() -> None:
    doc = errors_module.__doc__ or ""
    for cls in TREE:
        assert cls.__name__ in doc
