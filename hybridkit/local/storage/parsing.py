"""Request parsing for the Storage API: JSON bodies, query strings, headers, multipart.

The real server is fastify with ajv (``coerceTypes: 'array'``, ``allErrors: false``),
so validation failures read like ``body must have required property 'prefix'`` or
``body/expiresIn must be >= 1``, and ``"60"`` passes an integer field. :func:`validate`
reproduces the subset of JSON Schema the routes use, with ajv's coercions and
messages.

Multipart bodies are parsed while they stream, with python-multipart's
callback parser: fields before the file part are collected (they are small), and
the file part's bytes are handed on chunk by chunk, never held whole.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from hybridkit.local.storage.errors import (
    BodyTooLarge,
    EntityTooLarge,
    InvalidJSON,
    InvalidRequest,
)

__all__ = [
    "JSON_BODY_LIMIT",
    "MultipartReader",
    "cache_control_from_seconds",
    "is_multipart",
    "parse_range",
    "parse_x_metadata",
    "read_json_body",
    "truthy_header",
    "validate",
]

# fastify's default bodyLimit for parsed (JSON) bodies.
JSON_BODY_LIMIT = 1_048_576
# Form fields (metadata, cacheControl, contentType) are small; metadata may be 1 MiB.
FIELD_LIMIT = 1_048_576
Schema = Mapping[str, Any]


# --- JSON bodies and ajv-like validation ----------------------------------------
async def read_json_body(request: Request, *, required: bool = True) -> Any:
    """Read a JSON body as fastify would; ``None`` when no JSON body was sent.

    Raises:
        InvalidJSON: the content type says JSON but the body does not parse.
        BodyTooLarge: over fastify's 1 MiB body limit.
    """
    content_type = request.headers.get("content-type", "")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > JSON_BODY_LIMIT:
            raise BodyTooLarge()
    is_json = content_type.split(";")[0].strip().lower() == "application/json"
    if not is_json:
        return None
    if not data.strip():
        if not required:
            return None
        raise InvalidJSON("Body cannot be empty when content-type is set to 'application/json'")
    try:
        return json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError):
        raise InvalidJSON() from None


def validate(value: Any, schema: Schema, path: str = "body") -> Any:
    """Validate and coerce ``value`` against an ajv-style ``schema``.

    Supports ``type`` (one name), ``nullable``, ``properties``, ``required``,
    ``enum``, ``minimum``, ``maximum``, ``minItems``, ``maxItems``, ``items``, ``pattern`` and
    ``anyOf`` — what the Storage API's routes use.

    Returns:
        The value with ajv's type coercions applied.

    Raises:
        InvalidRequest: with ajv's message, e.g. ``body/limit must be integer``.
    """
    errors: list[str] = []
    result = _validate(value, schema, path, errors)
    if errors:
        raise InvalidRequest(", ".join(errors))
    return result


_MISSING = object()


def _validate(value: Any, schema: Schema, path: str, errors: list[str]) -> Any:
    # ajv's order: the type, then keywords of any type (anyOf, enum), then the typed ones.
    if value is None and schema.get("nullable"):
        return None
    kind = schema.get("type")
    if kind is not None:
        value = _coerce(value, kind)
        if value is _MISSING:
            errors.append(f"{path} must be {kind}")
            return None
    if "anyOf" in schema:
        branch_errors: list[str] = []
        for branch in schema["anyOf"]:
            attempt: list[str] = []
            coerced = _validate(value, branch, path, attempt)
            if not attempt:
                break
            branch_errors.extend(attempt)
        else:
            errors.extend([*branch_errors, f"{path} must match a schema in anyOf"])
            return value
        if kind is None:
            return coerced
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path} must be equal to one of the allowed values")
        return value
    if kind in ("integer", "number") and "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{path} must be >= {schema['minimum']}")
        return value
    if kind in ("integer", "number") and "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{path} must be <= {schema['maximum']}")
        return value
    if kind == "string" and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f'{path} must match pattern "{schema["pattern"]}"')
        return value
    if kind == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{path} must NOT have fewer than {schema['minItems']} items")
            return value
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path} must NOT have more than {schema['maxItems']} items")
            return value
        if "items" in schema:
            items = []
            for index, item in enumerate(value):
                items.append(_validate(item, schema["items"], f"{path}/{index}", errors))
                if errors:
                    return value
            value = items
    if kind == "object" or (kind is None and isinstance(value, dict)):
        for name in schema.get("required", ()):
            if name not in value:
                errors.append(f"{path} must have required property '{name}'")
                return value
        value = dict(value)
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                value[name] = _validate(value[name], sub, f"{path}/{name}", errors)
                if errors:
                    return value
    return value


def _coerce(value: Any, kind: str) -> Any:
    """ajv's ``coerceTypes: 'array'`` for one value; ``_MISSING`` when impossible."""
    if kind == "object":
        return value if isinstance(value, dict) else _MISSING
    if kind == "array":
        if isinstance(value, list):
            return value
        return [value] if value is not None and not isinstance(value, dict) else _MISSING
    if isinstance(value, list):
        # coerceTypes "array": a one-item array is taken as its item.
        if len(value) != 1:
            return _MISSING
        value = value[0]
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return _js_number(value)
        return "" if value is None else _MISSING
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        return False if value is None else _MISSING
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if kind == "number":
                return value
            return int(value) if value.is_integer() else _MISSING
        if isinstance(value, str) and value.strip() == value and value:
            try:
                number = float(value)
            except ValueError:
                return _MISSING
            if kind == "number":
                return number
            return int(number) if number.is_integer() else _MISSING
        return 0 if value is None else _MISSING
    return value


def _js_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


# --- headers --------------------------------------------------------------------
def truthy_header(value: str | None) -> bool:
    """``x-upsert: true`` (the real server compares with the string ``"true"``)."""
    return value is not None and value.strip().lower() == "true"


def parse_x_metadata(value: str | None) -> dict[str, Any] | None:
    """``x-metadata``: base64 of a JSON object (storage-js raw uploads, copy).

    Raises:
        InvalidRequest: not base64 of a JSON object.
    """
    if value is None or not value.strip():
        return None
    try:
        decoded = json.loads(base64.b64decode(value.strip(), validate=False))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Invalid x-metadata header: must be base64 encoded JSON") from None
    if not isinstance(decoded, dict):
        raise InvalidRequest("Invalid x-metadata header: must be base64 encoded JSON")
    return decoded


def parse_json_metadata(value: str) -> dict[str, Any]:
    """The multipart ``metadata``/``userMetadata`` field (a JSON object)."""
    try:
        decoded = json.loads(value)
    except ValueError:
        raise InvalidRequest("Invalid metadata: must be a JSON object") from None
    if not isinstance(decoded, dict):
        raise InvalidRequest("Invalid metadata: must be a JSON object")
    return decoded


def cache_control_from_seconds(value: str | None) -> str:
    """The multipart ``cacheControl`` field (seconds) as stored: ``max-age=<n>``."""
    if value is None or value == "":
        return "no-cache"
    return f"max-age={value}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """Parse a single ``Range: bytes=a-b`` against an object of ``size`` bytes.

    Returns:
        ``(start, end)`` inclusive; ``None`` when there is no usable range header
        (absent, malformed or multi-range: the whole object is served); ``False``
        when the range cannot be satisfied (416).
    """
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return False
    return start, min(end, size - 1)


def is_multipart(content_type: str | None) -> bool:
    """Whether an upload body is ``multipart/form-data``."""
    if not content_type:
        return False
    return content_type.split(";")[0].strip().lower() == "multipart/form-data"


# --- multipart ------------------------------------------------------------------
@dataclass
class FilePart:
    """The file part's headers."""

    field_name: str
    filename: str | None
    content_type: str | None


@dataclass
class _PartState:
    headers: dict[str, str] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)


class MultipartReader:
    """Streams a ``multipart/form-data`` upload: fields first, then the file's bytes.

    Args:
        chunks: the request body as it arrives.
        content_type: the request's ``Content-Type`` (carries the boundary).

    Example::

        reader = MultipartReader(request.stream(), request.headers["content-type"])
        fields, part = await reader.read_until_file()
        async for chunk in reader.file_chunks():
            ...
    """

    def __init__(self, chunks: AsyncIterator[bytes], content_type: str) -> None:
        _, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidRequest("Multipart: Boundary not found")
        self._chunks = chunks
        self._events: deque[tuple[str, Any]] = deque()
        self._state = _PartState()
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(("end_part", None)),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": lambda: self._events.append(
                    ("headers", dict(self._state.headers))
                ),
            },
        )
        self._exhausted = False
        self._in_file = False

    # python-multipart callbacks: record what happened; the async side acts on it.
    def _on_part_begin(self) -> None:
        self._state = _PartState()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end]))

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._state.header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._state.header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._state.header_field.decode("latin-1").strip().lower()
        self._state.headers[name] = self._state.header_value.decode("utf-8", "replace").strip()
        self._state.header_field = bytearray()
        self._state.header_value = bytearray()

    async def _next_event(self) -> tuple[str, Any] | None:
        while not self._events:
            if self._exhausted:
                return None
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                chunk = b""
            if not chunk:
                self._exhausted = True
                self._parser.finalize()
                continue
            try:
                self._parser.write(chunk)
            except Exception as exc:  # python-multipart's MultipartParseError and friends
                raise InvalidRequest(f"Multipart: {exc}") from None
        return self._events.popleft()

    async def read_until_file(self) -> tuple[dict[str, str], FilePart | None]:
        """Collect the fields that precede the first file part.

        Returns:
            The fields (name → text) and the file part's headers, or ``None``
            when the body has no file part.

        Raises:
            EntityTooLarge: a field over 1 MiB (busboy's ``fieldSize`` limit).
        """
        fields: dict[str, str] = {}
        headers: dict[str, str] | None = None
        value = bytearray()
        while (event := await self._next_event()) is not None:
            kind, payload = event
            if kind == "headers":
                headers = payload
                disposition = headers.get("content-disposition", "")
                _, params = parse_options_header(disposition)
                name = params.get(b"name", b"").decode("utf-8", "replace")
                filename = params.get(b"filename")
                if filename is not None:
                    self._in_file = True
                    content_type = headers.get("content-type")
                    if content_type:
                        # busboy hands on the bare type: "text/plain;charset=UTF-8" → "text/plain"
                        content_type = content_type.split(";")[0].strip()
                    return fields, FilePart(
                        name, filename.decode("utf-8", "replace"), content_type or None
                    )
                value = bytearray()
            elif kind == "data":
                value += payload
                if len(value) > FIELD_LIMIT:
                    raise EntityTooLarge()
            elif kind == "end_part" and headers is not None:
                _, params = parse_options_header(headers.get("content-disposition", ""))
                name = params.get(b"name", b"").decode("utf-8", "replace")
                if name and len(fields) < 10:
                    fields.setdefault(name, value.decode("utf-8", "replace"))
                headers = None
        return fields, None

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file part's bytes, as they arrive; stops at the end of the part."""
        if not self._in_file:
            return
        while (event := await self._next_event()) is not None:
            kind, payload = event
            if kind == "data":
                yield payload
            elif kind == "end_part":
                self._in_file = False
                return
        raise InvalidRequest("Multipart: Unexpected end of form")
