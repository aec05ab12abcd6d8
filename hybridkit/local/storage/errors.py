"""The Storage API's wire errors, one class per error the real service sends.

Each class carries, as class attributes, what the real server puts on the wire:
the HTTP status (``http_status``), and the JSON body's ``statusCode`` (a string),
``error``, ``code`` and ``message``. The real server answers almost every handled
error with **HTTP 400** and the semantic status in the body (404, 409, 413, ...);
the few real statuses (403 for the empty-bucket role check, 416, 500, 544, route
not found 404) are spelled out below. See shared/reference/storage-api.md §2.

::

    StorageError                      JSON body {"statusCode","error","message","code"}
    ├── NoSuchBucket, NoSuchKey, BucketAlreadyExists, KeyAlreadyExists, ...
    ├── InvalidRequest                 fastify/ajv validation ("body must ...")
    ├── AccessDenied / InvalidRole     JWT failures, RLS denials, role checks
    └── RouteNotFound, InternalError, DatabaseError, DatabaseTimeout ...
    TusError                          text/plain body with a real HTTP status
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from starlette.responses import Response

from hybridkit.local.errors import WireError

__all__ = [
    "TUS_EXPOSED_HEADERS",
    "TUS_HEADERS",
    "TUS_RESUMABLE",
    "AccessDenied",
    "BodyTooLarge",
    "BucketAlreadyExists",
    "BucketNotEmptyEnough",
    "DatabaseError",
    "DatabaseTimeout",
    "DeleteAccessDenied",
    "DotSegmentKey",
    "EntityTooLarge",
    "ImageProcessingError",
    "InternalError",
    "InvalidBucketName",
    "InvalidFileSizeLimit",
    "InvalidJSON",
    "InvalidJWT",
    "InvalidKey",
    "InvalidMimeType",
    "InvalidRange",
    "InvalidRequest",
    "InvalidRole",
    "InvalidSignature",
    "KeyAlreadyExists",
    "LockTimeout",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "RLSViolation",
    "RelatedResourceNotFound",
    "ResourceAlreadyExists",
    "ResourceMissing",
    "ResourceNotEmpty",
    "RouteNotFound",
    "SlowDown",
    "StorageError",
    "TusError",
    "tus_reply",
]


class StorageError(WireError):
    """A handled error, rendered as the real server renders it."""

    http_status = 400
    status_code: ClassVar[str] = "400"
    error: ClassVar[str] = "Error"
    code: ClassVar[str] = "InvalidRequest"
    default_message: ClassVar[str] = "Bad request"

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def body(self) -> dict[str, str]:
        """The JSON body, keys in the real server's order."""
        return {
            "statusCode": self.status_code,
            "error": self.error,
            "message": self.message,
            "code": self.code,
        }


class NoSuchBucket(StorageError):
    status_code = "404"
    error = "Bucket not found"
    code = "NoSuchBucket"
    default_message = "Bucket not found"


class NoSuchKey(StorageError):
    status_code = "404"
    error = "not_found"
    code = "NoSuchKey"
    default_message = "Object not found"


class NoSuchUpload(StorageError):
    status_code = "404"
    error = "NoSuchUpload"
    code = "NoSuchUpload"
    default_message = "Upload not found"


class ResourceMissing(StorageError):
    """The object's row exists but its bytes are gone."""

    status_code = "404"
    error = "Not found"
    code = "NoSuchKey"
    default_message = "The resource was not found"

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-store"}


class RelatedResourceNotFound(StorageError):
    """A foreign key failed, e.g. copy/move into a bucket that does not exist."""

    status_code = "404"
    error = "InvalidRequest"
    code = "InvalidRequest"
    default_message = "The related resource does not exist"


# --- conflicts ------------------------------------------------------------------
class BucketAlreadyExists(StorageError):
    status_code = "409"
    error = "Duplicate"
    code = "BucketAlreadyExists"
    default_message = "The resource already exists"


class KeyAlreadyExists(StorageError):
    status_code = "409"
    error = "Duplicate"
    code = "KeyAlreadyExists"
    default_message = "The resource already exists"


class ResourceAlreadyExists(StorageError):
    status_code = "409"
    error = "Duplicate"
    code = "ResourceAlreadyExists"
    default_message = "The resource already exists"


class ResourceNotEmpty(StorageError):
    status_code = "409"
    error = "ResourceNotEmpty"
    code = "ResourceNotEmpty"
    default_message = "The bucket you tried to delete is not empty"


class BucketNotEmptyEnough(StorageError):
    """Emptying a bucket that holds more objects than the server empties at once."""

    status_code = "409"
    error = "InvalidRequest"
    code = "InvalidRequest"
    default_message = (
        "Unable to empty the bucket because it contains too many objects, "
        "try deleting them in smaller batches"
    )


# --- limits ---------------------------------------------------------------------
class EntityTooLarge(StorageError):
    status_code = "413"
    error = "Payload too large"
    code = "EntityTooLarge"
    default_message = "The object exceeded the maximum allowed size"


class BodyTooLarge(StorageError):
    """Fastify's own body limit on JSON routes (a real HTTP 413)."""

    http_status = 413
    status_code = "413"
    error = "Payload Too Large"
    code = "FST_ERR_CTP_BODY_TOO_LARGE"
    default_message = "Request body is too large"


class InvalidMimeType(StorageError):
    status_code = "415"
    error = "invalid_mime_type"
    code = "InvalidMimeType"

    def __init__(self, mime_type: str) -> None:
        super().__init__(f"mime type {mime_type} is not supported")


class InvalidRange(StorageError):
    """A ``Range`` the object cannot satisfy: a real HTTP 416, and no ``Content-Range``.

    (RFC 9110 suggests ``Content-Range: bytes */<size>``; the real server sends none.)
    """

    http_status = 416
    status_code = "416"
    error = "invalid_range"
    code = "InvalidRange"
    default_message = "invalid range provided"


# --- invalid input --------------------------------------------------------------
class InvalidRequest(StorageError):
    """Fastify/ajv validation failures (``body must have required property 'prefix'``)."""

    status_code = "400"
    error = "Error"
    code = "InvalidRequest"


class InvalidJSON(StorageError):
    status_code = "400"
    error = "FastifyError"
    code = "InvalidRequest"
    default_message = "Body is not valid JSON but content-type is set to 'application/json'"


class InvalidFileSizeLimit(StorageError):
    status_code = "400"
    error = "InvalidRequest"
    code = "InvalidRequest"
    default_message = "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B"


class InvalidBucketName(StorageError):
    status_code = "400"
    error = "Invalid Input"
    code = "InvalidBucketName"
    default_message = "Bucket name invalid"


class InvalidKey(StorageError):
    status_code = "400"
    error = "InvalidKey"
    code = "InvalidKey"

    def __init__(self, key: str) -> None:
        super().__init__(f"Invalid key: {key}")


class DotSegmentKey(InvalidKey):
    """A ``.``/``..`` path segment, refused by the real server's file backend.

    Its message names the backend path: ``<GLOBAL_S3_BUCKET>/<TENANT_ID>/<bucket>/<key>/<version>``,
    both ``stub`` in the Supabase CLI's stack.
    """

    def __init__(self, bucket: str, key: str, version: str) -> None:
        StorageError.__init__(
            self, f"Invalid key: stub/stub/{bucket}/{key}/{version} contains dot path segment"
        )


class ImageProcessingError(StorageError):
    """A render that failed (the real server's ``ImageProcessingError``: ``error`` is the code)."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.http_status = 500 if status == 500 else 400
        self.status_code = str(status)  # type: ignore[misc]
        self.code = code or ("InternalError" if status > 499 else "InvalidRequest")  # type: ignore[misc]
        self.error = self.code  # type: ignore[misc]


# --- authorization --------------------------------------------------------------
class AccessDenied(StorageError):
    """A JWT the server cannot use (the message is jose's)."""

    status_code = "403"
    error = "Unauthorized"
    code = "AccessDenied"
    default_message = "Access denied"


class RLSViolation(AccessDenied):
    default_message = "new row violates row-level security policy"


class DeleteAccessDenied(AccessDenied):
    default_message = "Access denied"


class InvalidRole(AccessDenied):
    """``POST /bucket/:id/empty`` by anything but the service role (a real HTTP 403)."""

    http_status = 403
    default_message = "Access denied: Invalid role"


class InvalidJWT(StorageError):
    """A signed-URL token that fails verification (the message is jose's)."""

    status_code = "400"
    error = "InvalidJWT"
    code = "InvalidJWT"
    default_message = "Invalid JWT"


class InvalidSignature(StorageError):
    status_code = "400"
    error = "InvalidSignature"
    code = "InvalidSignature"
    default_message = "Invalid signature"


# --- routing and server side ----------------------------------------------------
class RouteNotFound(StorageError):
    """Fastify's 404 for ``/bucket``, ``/object`` and ``/render`` paths."""

    http_status = 404
    status_code = "404"
    error = "Not Found"
    code = "InvalidRequest"

    def __init__(self, method: str, path: str, *, legacy: bool = False) -> None:
        super().__init__(f"Route {method}:{path} not found")
        self.legacy = legacy

    def body(self) -> dict[str, str]:
        if self.legacy:
            # Outside the storage prefixes fastify's stock 404 (numeric statusCode) is sent.
            return {"message": self.message, "error": "Not Found", "statusCode": 404}  # type: ignore[dict-item]
        return super().body()


class InternalError(StorageError):
    http_status = 500
    status_code = "500"
    error = "Internal"
    code = "InternalError"
    default_message = "Internal Server Error"


class DatabaseError(StorageError):
    http_status = 500
    status_code = "500"
    error = "DatabaseError"
    code = "DatabaseError"

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"database error, code: {sqlstate or 'XX000'}")


class DatabaseTimeout(StorageError):
    http_status = 544
    status_code = "544"
    error = "DatabaseTimeout"
    code = "DatabaseTimeout"
    default_message = "The connection to the database timed out"


class SlowDown(StorageError):
    http_status = 429
    status_code = "429"
    error = "too_many_connections"
    code = "SlowDown"
    default_message = "Too many connections issued to the database"


class LockTimeout(StorageError):
    status_code = "503"
    error = "acquiring_lock_timeout"
    code = "LockTimeout"
    default_message = "acquiring lock timeout"


# --- TUS ------------------------------------------------------------------------
TUS_RESUMABLE = "1.0.0"
# @tus/server's HEADERS: the CORS lists it sends are built from them.
TUS_HEADERS = (
    "Authorization", "Content-Type", "Location", "Tus-Extension", "Tus-Max-Size",
    "Tus-Resumable", "Tus-Version", "Upload-Concat", "Upload-Defer-Length", "Upload-Length",
    "Upload-Metadata", "Upload-Offset", "X-HTTP-Method-Override", "X-Requested-With",
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded",
)  # fmt: skip
# @tus/server 2.4.2 joins [...HEADERS, exposedHeaders ?? []]: the empty list leaves a
# trailing ", ", which the Fetch Headers trim to a trailing comma. Byte for byte.
TUS_EXPOSED_HEADERS = ", ".join(TUS_HEADERS) + ","
TUS_TEXT = "text/plain;charset=UTF-8"  # a Fetch Response's type for a string body


def tus_reply(
    status: int, headers: Mapping[str, str] | None = None, body: str = "", *, cors: bool = True
) -> Response:
    """A response as @tus/server writes it (through the Fetch API, as srvx sends it).

    ``Tus-Resumable`` always; the CORS headers once the request's headers have
    passed validation (``cors``); a string body (even an empty one) is
    ``text/plain;charset=UTF-8`` except on a 204. Header names go out lowercased
    and sorted, the order a Fetch ``Headers`` iterates in.
    """
    merged = {"Tus-Resumable": TUS_RESUMABLE}
    if cors:
        merged["Access-Control-Allow-Origin"] = "*"
        merged["Access-Control-Expose-Headers"] = TUS_EXPOSED_HEADERS
    merged.update(headers or {})
    data = body.encode()
    if status != 204:
        merged["Content-Type"] = TUS_TEXT
        merged["Content-Length"] = str(len(data))
    ordered = dict(sorted(merged.items(), key=lambda item: item[0].lower()))
    return Response(data if status != 204 else b"", status_code=status, headers=ordered)


class TusError(Exception):
    """A TUS error: a real HTTP status and a text/plain body, as @tus/server sends.

    ``cors=False`` for the two answers @tus/server gives before it adds its CORS
    headers: a missing ``Tus-Resumable`` (412) and an invalid protocol header (400).
    """

    def __init__(
        self,
        status: int,
        body: str,
        headers: dict[str, str] | None = None,
        *,
        cors: bool = True,
    ) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.extra_headers = headers or {}
        self.cors = cors

    @classmethod
    def from_storage(cls, error: StorageError) -> TusError:
        """How the storage server's TUS hooks turn a storage error into a TUS answer."""
        return cls(int(error.status_code), error.message)

    def response(self) -> Response:
        """The Starlette response for this error."""
        return tus_reply(self.status, self.extra_headers, self.body, cors=self.cors)
