"""The Storage API's rules for names, keys, sizes and MIME types.

These are the real server's rules (shared/reference/storage-api.md §4.1, §5):

* bucket names: ``/^[A-Za-z0-9_!.*'() &$=@;:+,?-]*$/``, 1–100 characters, no
  leading or trailing whitespace on create, not ending with ``--table-s3``;
* object keys: non-empty and ``/^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$/`` (S3-safe
  characters). Keys with ``.``/``..`` path segments pass that regex but are refused
  as the real file backend refuses them, with its message. Keys are also limited to
  1024 UTF-8 bytes, as on S3: the real file backend fails on long keys with an HTTP
  500 (ENAMETOOLONG); here they are an ``InvalidKey`` instead, since bytes are
  addressed by version, not by key;
* ``file_size_limit`` strings: ``<n>(B|KB|MB|GB)``, decimal units, rounded to three
  significant digits;
* ``allowed_mime_types`` entries and the upload-time MIME check (wildcards ``a/*``;
  ``*`` alone matches nothing; an empty or null list allows everything).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from hybridkit.local.storage.errors import (
    DotSegmentKey,
    InvalidBucketName,
    InvalidKey,
    InvalidMimeType,
    InvalidRequest,
)

__all__ = [
    "MAX_KEY_BYTES",
    "is_empty_folder_placeholder",
    "is_uuid",
    "must_be_valid_bucket_name",
    "must_be_valid_key",
    "parse_file_size",
    "validate_allowed_mime_types",
    "validate_mime_type",
]

MAX_KEY_BYTES = 1024
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9_!.*'() &$=@;:+,?-]*$")
_KEY = re.compile(r"^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$")
_UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)$", re.IGNORECASE)
# The pattern the create/update bucket schema gives the string form (ajv reports it).
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?(gb|mb|kb|b|GB|MB|KB|B)$"
_MIME_ENTRY = re.compile(
    r"^([a-zA-Z0-9\-+.]+)/([a-zA-Z0-9\-+.]+)(;\s*charset=[a-zA-Z0-9\-]+)?$|\*$"
)
_ICEBERG_SUFFIX = "--table-s3"
_UNITS = {"GB": 10**9, "MB": 10**6, "KB": 10**3, "B": 1}


def must_be_valid_bucket_name(name: str | None, *, creating: bool = False) -> str:
    """Return ``name`` if it is a valid bucket name, else raise ``InvalidBucketName``."""
    if not name or len(name) > 100 or not _BUCKET_NAME.match(name):
        raise InvalidBucketName()
    if creating and (name != name.strip() or name.endswith(_ICEBERG_SUFFIX)):
        raise InvalidBucketName()
    return name


def must_be_valid_key(key: str | None, *, bucket: str = "", version: str = "") -> str:
    """Return ``key`` if it is a valid object key, else raise ``InvalidKey``.

    Keys are capped at 1024 UTF-8 bytes (S3's limit); see the module docstring.
    """
    if not key or not _KEY.match(key) or len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidKey(key or "")
    if any(segment in (".", "..") for segment in key.split("/")):
        # The real server finds these when writing the bytes of a new version.
        raise DotSegmentKey(bucket, key, version or str(uuid.uuid4()))
    return key


def is_uuid(value: str) -> bool:
    """Whether ``value`` passes the real server's strict UUID regex (owner column)."""
    return bool(_UUID.match(value))


def is_empty_folder_placeholder(key: str) -> bool:
    """The dashboard's zero-byte folder markers, which skip the MIME check."""
    return key.endswith(".emptyFolderPlaceholder")


def parse_file_size(value: str) -> int:
    """Parse ``"1.5MB"``-style sizes (decimal units, three significant digits).

    Raises:
        InvalidRequest: ``value`` is not ``<number>(B|KB|MB|GB)``.
    """
    match = _SIZE.match(value.strip())
    if match is None:
        raise InvalidRequest(
            "body/file_size_limit must be integer, "
            f'body/file_size_limit must match pattern "{SIZE_PATTERN}", '
            "body/file_size_limit must match a schema in anyOf"
        )
    number = float(f"{float(match.group(1)):.3g}")
    return int(number * _UNITS[match.group(2).upper()])


def validate_allowed_mime_types(entries: Sequence[str] | None) -> list[str] | None:
    """Check a bucket's ``allowed_mime_types``; empty strings are dropped as on the server.

    Raises:
        InvalidMimeType: an entry is not ``type/subtype`` (or a wildcard form).
    """
    if entries is None:
        return None
    kept = [entry for entry in entries if entry]
    for entry in kept:
        if len(entry) > 1000 or not _MIME_ENTRY.search(entry):
            raise InvalidMimeType(entry)
    return kept


def validate_mime_type(mime_type: str, allowed: Sequence[str] | None) -> None:
    """The upload-time check against a bucket's ``allowed_mime_types``.

    ``text/plain;charset=UTF-8`` is not stripped of its parameter (a raw upload
    with it fails against ``text/plain`` and passes ``text/*``), and ``*`` or
    ``*/*`` alone match nothing — both as on the real server.

    Raises:
        InvalidMimeType: ``mime_type`` matches no entry.
    """
    if not allowed:
        return
    parts = mime_type.split("/")
    kind, sub = parts[0], parts[1] if len(parts) > 1 else None
    for entry in allowed:
        entry_parts = entry.split("/")
        allowed_kind = entry_parts[0]
        allowed_sub = entry_parts[1] if len(entry_parts) > 1 else None
        if allowed_kind == kind and (allowed_sub == "*" or allowed_sub == sub):
            return
    raise InvalidMimeType(mime_type)
