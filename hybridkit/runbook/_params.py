"""Typed parameter validation for runbooks.

The parameters cell is the schema: each parameter is an annotated literal with a
comment (``bucket: str = "reports"  # target bucket``), which papermill's
``inspect_notebook`` and ``hybridkit runbooks`` read. Papermill never enforces
those types (``-p bucket 007`` arrives as the number 7), so the cell after the
parameters calls :func:`validate`, which checks every annotated parameter against
its declared type, applies the extra rules the runbook gives, and fails with one
message naming every problem and what to pass instead — before anything changes.

Example:
    >>> ns = {"__annotations__": {"bucket": str, "jobs": int}, "bucket": "logs", "jobs": 4}
    >>> p = validate(ns, jobs=between(1, 32))
    >>> p.bucket, p.jobs
    ('logs', 4)
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hybridkit.runbook._errors import RunbookError

__all__ = [
    "Params",
    "Rule",
    "between",
    "bucket_name",
    "byte_size",
    "glob_list",
    "local_path",
    "mime_types",
    "non_empty",
    "one_of",
    "prefix",
    "validate",
]

Rule = Callable[[Any], Any]
"""A check on one value: returns the (normalised) value or raises ``ValueError(reason)``."""

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|jwt|credential|db_url", re.I)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*((?:[kmgt]i?)?b?)\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


class Params(Mapping[str, Any]):
    """Validated parameters: a read-only mapping with attribute access (``p.bucket``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter named {name!r}") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"


def _type_name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list | tuple):
        return f"the list {list(value)!r}"
    return f"{value!r} ({type(value).__name__})"


def coerce(declared: str, value: Any) -> Any:
    """Check ``value`` against a declared type name; convert only where nothing is lost.

    Raises:
        ValueError: the value does not fit, with a message saying what to pass.
    """
    kind = declared.replace(" ", "")
    if kind == "str":
        if isinstance(value, str):
            return value
        hint = ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            hint = (
                " (papermill's -p guesses types, so `-p NAME 007` arrives as 7: run it with "
                "`hybridkit run`, which keeps declared types, or with papermill's -r NAME VALUE)"
            )
        raise ValueError(f"expected text, got {_describe(value)}{hint}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"expected True or False, got {_describe(value)}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        raise ValueError(f"expected a whole number, got {_describe(value)}")
    if kind == "float":
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is not None and not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {_describe(value)}")
        if number is not None:
            return number
        raise ValueError(f"expected a number, got {_describe(value)}")
    if kind in ("list[str]", "list"):
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError(
            f"expected a list of text like ['*.csv', '*.json'] (or 'a,b'), got {_describe(value)}"
        )
    raise ValueError(f"the runbook declares an unsupported type {declared!r}")


def validate(namespace: Mapping[str, Any], /, **rules: Rule) -> Params:
    """Check every annotated parameter in ``namespace`` (pass ``globals()``).

    Args:
        namespace: the notebook's globals: the parameters cell's ``__annotations__``
            give the declared types, the names give the (possibly injected) values.
        **rules: extra checks per parameter, e.g. ``jobs=between(1, 32)``.

    Returns:
        The checked, normalised values as :class:`Params`.

    Raises:
        RunbookError: naming every invalid parameter and what to pass; nothing has
            changed yet.
    """
    annotations = dict(namespace.get("__annotations__", {}))
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in rules:
        if name not in annotations:
            problems.append(f"{name}: has a rule but is not declared in the parameters cell")
    for name, annotation in annotations.items():
        if _SECRET_NAME.search(name):
            problems.append(
                f"{name}: secrets are never parameters (they would be saved in the output "
                "notebook); read them from the environment"
            )
            continue
        if name not in namespace:
            problems.append(f"{name}: declared but has no value")
            continue
        value = namespace[name]
        try:
            value = coerce(_type_name(annotation), value)
            rule = rules.get(name)
            if rule is not None:
                value = rule(value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        values[name] = value
    if problems:
        raise RunbookError(
            "invalid parameters:\n" + "\n".join(f"- {p}" for p in problems),
            hint="fix them in the parameters cell, or pass them as "
            "`hybridkit run RUNBOOK -p NAME VALUE` (`hybridkit runbooks` lists them)",
            nothing_changed=True,
        )
    return Params(values)


# ----------------------------------------------------------------------------- rules


def one_of(*choices: str) -> Rule:
    """The value must be one of ``choices`` (case-insensitive; returned as listed)."""

    def rule(value: Any) -> Any:
        for choice in choices:
            if str(value).strip().lower() == choice.lower():
                return choice
        raise ValueError(f"must be one of {', '.join(choices)}; got {value!r}")

    return rule


def between(low: float, high: float) -> Rule:
    """A number from ``low`` to ``high`` inclusive."""

    def rule(value: Any) -> Any:
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {value!r}")
        return value

    return rule


def non_empty() -> Rule:
    """Text that is not blank (returned stripped)."""

    def rule(value: Any) -> Any:
        if not str(value).strip():
            raise ValueError("must not be empty")
        return str(value).strip()

    return rule


def bucket_name(*, allow_empty: bool = False) -> Rule:
    """A plausible bucket name; the storage manager checks the details before any request."""

    def rule(value: Any) -> Any:
        text = str(value)
        if not text and allow_empty:
            return text
        if not text.strip():
            raise ValueError("a bucket name is required, e.g. 'reports'")
        if text != text.strip() or "/" in text or len(text) > 100:
            raise ValueError(
                f"{text!r} is not a bucket name: 1-100 characters, no '/' and no "
                "leading or trailing spaces"
            )
        return text

    return rule


def prefix() -> Rule:
    """An object key prefix: ``/`` at either end dropped; ``.`` and ``..`` refused."""

    def rule(value: Any) -> Any:
        text = str(value).strip().strip("/")
        if any(part in (".", "..") for part in text.split("/")):
            raise ValueError(f"{value!r}: '.' and '..' are not allowed in a prefix")
        if "//" in text:
            raise ValueError(f"{value!r}: empty path segments ('//') are not allowed")
        return text

    return rule


def local_path(*, must_exist: bool = False, allow_empty: bool = False) -> Rule:
    """A local file or folder (``~`` expanded); returned as an absolute path string."""

    def rule(value: Any) -> Any:
        text = str(value).strip()
        if not text:
            if allow_empty:
                return ""
            raise ValueError("a path is required")
        path = Path(text).expanduser().absolute()
        if must_exist and not path.exists():
            where = "" if Path(text).expanduser().is_absolute() else f" (relative to {Path.cwd()})"
            raise ValueError(f"{text!r} does not exist{where}")
        return str(path)

    return rule


def glob_list() -> Rule:
    """A list of glob patterns; blank entries dropped."""

    def rule(value: Any) -> Any:
        return [v.strip() for v in value if v.strip()]

    return rule


def mime_types() -> Rule:
    """A list of mime types like ``image/png`` or ``image/*``."""
    pattern = re.compile(r"^[\w.+-]+/(\*|[\w.+-]+)$")

    def rule(value: Any) -> Any:
        bad = [v for v in value if not pattern.match(v.strip())]
        if bad:
            raise ValueError(f"not mime types: {', '.join(map(repr, bad))} (e.g. 'image/png')")
        return [v.strip() for v in value]

    return rule


def byte_size(*, allow_empty: bool = True) -> Rule:
    """A size in bytes from ``"1048576"``, ``"50MB"``, ``"1.5GiB"`` or ``""`` (→ ``None``).

    Example:
        >>> byte_size()("50MB"), byte_size()("1KiB"), byte_size()("")
        (50000000, 1024, None)
    """

    def rule(value: Any) -> Any:
        text = str(value).strip()
        if not text:
            if allow_empty:
                return None
            raise ValueError("a size is required, e.g. '50MB'")
        match = _SIZE.match(text)
        if not match:
            raise ValueError(f"{text!r} is not a size: use bytes or e.g. '50MB', '1GiB'")
        number, unit = float(match.group(1)), (match.group(2) or "").lower()
        factor = _UNITS.get(unit[:1], 1)
        if unit[:1] in _BINARY and "i" in unit:
            factor = _BINARY[unit[:1]]
        size = int(number * factor)
        if size <= 0:
            raise ValueError(f"{text!r}: a size must be greater than 0")
        return size

    return rule
