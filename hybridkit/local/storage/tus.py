"""TUS 1.0.0 resumable uploads at ``/upload/resumable`` (and ``/upload/resumable/sign``).

Mirrors Supabase's ``@tus/server`` 2.4.2 set-up (shared/reference/storage-api.md §7):
extensions ``creation, creation-with-upload, creation-defer-length, termination,
expiration``; answers are text/plain with real HTTP statuses and @tus/server's CORS
headers (:func:`~.errors.tus_reply`); the protocol headers are validated first, as
@tus/server does (412 without ``Tus-Resumable``, 400 ``Invalid <header>``); the
upload id is ``base64url("<bucket>/<object>/<version>")`` and ``Location`` is
absolute, built from the request's host. Authorization (the RLS upload test) is
re-checked on ``POST``, every ``PATCH`` and ``DELETE`` (so a ``DELETE`` of a finished
upload meets its object: 409 "The resource already exists"); the final ``PATCH``
completes the object through the same path as REST uploads. The signed variant
takes an upload token in ``x-signature`` instead of ``Authorization``.

State lives under ``data_dir/tus``: ``<version>.part`` (the bytes received so far;
its size is the upload offset, so a crash or a dropped connection keeps what
arrived) and ``<version>.json`` (the upload record, kept after completion so a
client resuming a finished upload learns it is done). PATCH bodies of any size are
accepted and streamed to disk; md5 state is kept in memory per upload and rebuilt
from the file if the process restarted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hybridkit.local.storage.blobs import BlobWriter, Md5Chain
from hybridkit.local.storage.context import Caller
from hybridkit.local.storage.errors import (
    TUS_HEADERS,
    TUS_RESUMABLE,
    EntityTooLarge,
    KeyAlreadyExists,
    ResourceAlreadyExists,
    StorageError,
    TusError,
    tus_reply,
)
from hybridkit.local.storage.models import Storage
from hybridkit.local.storage.signing import verify_signed
from hybridkit.local.storage.uploads import Uploader, UploadLimits, UploadTarget
from hybridkit.local.storage.validation import (
    is_empty_folder_placeholder,
    must_be_valid_bucket_name,
    must_be_valid_key,
    validate_mime_type,
)
from hybridkit.local.storage.wire import endpoint

__all__ = ["TusUploads"]

EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,expiration"
ALLOWED_HEADERS = ", ".join((*TUS_HEADERS, "X-Upsert", "Upload-Expires", "ApiKey", "x-signature"))
OFFSET_STREAM = "application/offset+octet-stream"
NOT_FOUND = "The file for this url was not found\n"
INVALID_LENGTH = "Upload-Length or Upload-Defer-Length header required\n"
_KEY_CHARS = re.compile(r"^[\x00-\x7f]+$")
_BASE64 = re.compile(r"^[\d+/A-Za-z]*={0,2}$")
_CACHE_SECONDS = re.compile(r"^-?\d+$")
_TENANT = "stub"  # the Supabase CLI's TENANT_ID: upload ids are "<tenant>/<base64url id>"


def _error(status: int, body: str) -> TusError:
    return TusError(status, body)


def encode_id(bucket: str, key: str, version: str) -> str:
    """The upload id: base64url of ``bucket/key/version`` (no padding)."""
    return base64.urlsafe_b64encode(f"{bucket}/{key}/{version}".encode()).decode().rstrip("=")


def parse_upload_metadata(header: str) -> dict[str, str | None]:
    """``Upload-Metadata`` as @tus/utils parses it: ``key base64,key2 base64`` (values optional).

    Raises:
        ValueError: not a valid metadata string (empty key, bad base64, a repeated key ...).
    """
    result: dict[str, str | None] = {}
    if not header.strip():
        raise ValueError("Metadata string is not valid")
    for pair in header.split(","):
        tokens = pair.split(" ")
        key = tokens[0]
        valid_key = bool(key) and _KEY_CHARS.match(key) is not None and not {" ", ","} & set(key)
        if len(tokens) == 2:
            valid = valid_key and len(tokens[1]) % 4 == 0 and _BASE64.match(tokens[1]) is not None
        else:
            valid = valid_key and len(tokens) == 1
        if not valid or key in result:
            raise ValueError("Metadata string is not valid")
        value = tokens[1] if len(tokens) == 2 else ""
        result[key] = base64.b64decode(value).decode(errors="replace") if value else None
    return result


def stringify_upload_metadata(metadata: Mapping[str, str | None]) -> str:
    """@tus/utils' ``Metadata.stringify`` (what ``HEAD`` answers in ``Upload-Metadata``)."""
    return ",".join(
        key if value is None else f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in metadata.items()
    )


def _non_negative_integer(value: str) -> bool:
    # JavaScript's Number.isInteger(n) && String(n) === value && n >= 0
    return re.fullmatch(r"0|[1-9][0-9]*", value) is not None and int(value) <= 2**53


def _valid_metadata(value: str) -> bool:
    try:
        parse_upload_metadata(value)
    except ValueError:
        return False
    return True


# @tus/server's header validators, applied to every request header but OPTIONS'.
_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "upload-offset": _non_negative_integer,
    "upload-length": _non_negative_integer,
    "upload-defer-length": lambda value: value == "1",
    "upload-metadata": _valid_metadata,
    "x-forwarded-proto": lambda value: value in ("http", "https"),
    "tus-version": lambda value: value == TUS_RESUMABLE,
    "tus-resumable": lambda value: value == TUS_RESUMABLE,
    "content-type": lambda value: value == OFFSET_STREAM,
    "upload-concat": lambda value: value == "partial" or value.startswith("final;"),
}


def check_protocol_headers(request: Request) -> None:
    """@tus/server's first checks: ``Tus-Resumable`` present (412), protocol headers valid (400).

    ``Content-Type`` is checked on ``PATCH`` only. Invalid headers are named as the
    Fetch ``Headers`` lists them: lowercased, sorted.
    """
    if not request.headers.get("tus-resumable"):
        raise TusError(412, "Tus-Resumable Required\n", cors=False)
    invalid = []
    for name in sorted(set(request.headers.keys())):
        validator = _VALIDATORS.get(name)
        if validator is None or (name == "content-type" and request.method != "PATCH"):
            continue
        if not validator(", ".join(request.headers.getlist(name))):
            invalid.append(name)
    if invalid:
        raise TusError(400, f"Invalid {' '.join(invalid)}\n", cors=False)


def decode_upload_id(upload_id: str) -> tuple[str, str, str]:
    """``(bucket, object, version)`` from an upload URL's last segment, as the real server reads it.

    Node's base64url decoding never fails (it skips what it cannot read); the
    result, behind the tenant, must split as ``<tenant>/<bucket>/<object>/<version>``.

    Raises:
        TusError: 400 ``Invalid upload id`` / ``Version not provided``.
        StorageError: an invalid bucket name or key (400 on the TUS routes).
    """
    text = re.sub(r"[^A-Za-z0-9_-]", "", upload_id.split("=", 1)[0])
    if len(text) % 4 == 1:
        text = text[:-1]  # a lone trailing character carries no whole byte
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode(errors="replace")
    parts = f"{_TENANT}/{decoded}".split("/")
    if len(parts) < 3:
        raise _error(400, "Invalid upload id")
    bucket, version = parts[1], parts[-1]
    key = "/".join(parts[2:-1])
    if not version:
        raise _error(400, "Version not provided")
    must_be_valid_bucket_name(bucket)
    must_be_valid_key(key, bucket=bucket, version=version)
    return bucket, key, version


class TusUploads:
    """The TUS endpoints of one stack."""

    def __init__(
        self, storage: Storage, uploader: Uploader, *, secret: str, limits: UploadLimits
    ) -> None:
        self.storage = storage
        self.uploader = uploader
        self.secret = secret
        self.limits = limits
        self.folder: Path = storage.blobs.tus
        self._locks: dict[str, asyncio.Lock] = {}
        self._hashers: dict[str, Md5Chain] = {}
        self._sweep()

    def routes(self) -> list[BaseRoute]:
        """The TUS routes (signed ones first: ``sign`` is a static segment)."""
        handlers = {
            "POST": self.create,
            "HEAD": self.head,
            "PATCH": self.patch,
            "DELETE": self.terminate,
        }
        operations = {
            "POST": "storage.tus.upload.create",
            "HEAD": "storage.tus.upload.get",
            "PATCH": "storage.tus.upload.part",
            "DELETE": "storage.tus.upload.delete",
        }
        plain = {
            method: endpoint(self.secret, "jwt", operations[method], tus=True)(handler)
            for method, handler in handlers.items()
        }
        signed = {
            method: endpoint(self.secret, "none", operations[method], tus=True)(handler)
            for method, handler in handlers.items()
        }

        def dispatch(table: Mapping[str, Any]) -> Any:
            async def handler(request: Request) -> Response:
                if request.method == "OPTIONS":
                    return self.options()
                return await table[request.method](request)  # type: ignore[no-any-return]

            return handler

        base = "/upload/resumable"
        on_upload = ["HEAD", "PATCH", "DELETE", "OPTIONS"]
        return [
            Route(f"{base}/sign", dispatch(signed), methods=["POST", "OPTIONS"]),
            Route(f"{base}/sign/{{upload_id}}", dispatch(signed), methods=on_upload),
            Route(base, dispatch(plain), methods=["POST", "OPTIONS"]),
            Route(f"{base}/{{upload_id}}", dispatch(plain), methods=on_upload),
        ]

    # --- helpers ----------------------------------------------------------------------
    def options(self) -> Response:
        return tus_reply(
            204,
            {
                "Tus-Version": TUS_RESUMABLE,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(self.limits.global_limit),
                "Access-Control-Allow-Methods": "POST, HEAD, PATCH, OPTIONS, DELETE",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "86400",
            },
        )

    def _paths(self, version: str) -> tuple[Path, Path]:
        return self.folder / f"{version}.part", self.folder / f"{version}.json"

    def _load(self, bucket: str, key: str, version: str) -> dict[str, Any]:
        try:
            version = str(uuid.UUID(version))
        except ValueError:
            raise _error(404, NOT_FOUND) from None
        _, record_path = self._paths(version)
        try:
            record: dict[str, Any] = json.loads(record_path.read_text())
        except (FileNotFoundError, ValueError):
            raise _error(404, NOT_FOUND) from None
        if (record["bucket"], record["object"]) != (bucket, key):
            raise _error(404, NOT_FOUND)
        return record

    def _save(self, record: Mapping[str, Any]) -> None:
        _, record_path = self._paths(record["version"])
        temp = record_path.with_suffix(".json.tmp")
        temp.write_text(json.dumps(record))
        temp.replace(record_path)

    def _offset(self, record: Mapping[str, Any]) -> int:
        if record.get("completed"):
            return int(record["size"])
        part, _ = self._paths(record["version"])
        try:
            return part.stat().st_size
        except FileNotFoundError:
            return 0

    @staticmethod
    def _signature(request: Request) -> dict[str, Any] | None:
        """The signed variant's upload token (``None`` for the plain routes)."""
        if "/upload/resumable/sign" not in request.url.path:
            return None
        token = request.headers.get("x-signature")
        if not token:
            raise _error(400, "Missing x-signature header")
        return {"token": token}

    def _existing(self, request: Request) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """An existing upload's signature (signed routes) and record, in the real order.

        The id is read first (400 if malformed), then the signature checked, then
        the record found (404).
        """
        bucket, key, version = decode_upload_id(request.path_params["upload_id"])
        signature = self._signature(request)
        if signature is not None:
            self._check_signature(signature, bucket, key)
        return signature, self._load(bucket, key, version)

    def _check_signature(
        self, signature: Mapping[str, Any], bucket: str, key: str
    ) -> dict[str, Any]:
        return verify_signed(
            signature["token"], self.secret, bucket=bucket, key=key, scope="upload"
        )

    async def _authorize(
        self, caller: Caller, record: Mapping[str, Any], signed: bool, request: Request
    ) -> None:
        if not signed:
            # As on Supabase, each request says for itself whether it may overwrite:
            # a PATCH of an upsert upload without ``x-upsert: true`` meets an existing
            # object with 409 "The resource already exists".
            upsert = request.headers.get("x-upsert", "").strip().lower() == "true"
            await self.storage.test_upload(
                caller.identity,
                record["bucket"],
                record["object"],
                owner=record.get("owner"),
                upsert=upsert,
            )

    def _location(self, request: Request, upload_id: str) -> str:
        headers = request.headers
        scheme = headers.get("x-forwarded-proto") or request.url.scheme
        host = headers.get("x-forwarded-host") or headers.get("host") or request.url.netloc
        port = headers.get("x-forwarded-port")
        if headers.get("x-forwarded-host") and port and ":" not in host:
            host = f"{host}:{port}"
        root = request.scope.get("root_path", "")
        signed = "/upload/resumable/sign" in request.url.path
        base = "/upload/resumable/sign" if signed else "/upload/resumable"
        return f"{scheme}://{host}{root}{base}/{upload_id}"

    def _sweep(self) -> None:
        # Finished upload records older than a day only serve late HEADs; drop them.
        cutoff = time.time() - 86_400
        for record_path in self.folder.glob("*.json"):
            try:
                if record_path.stat().st_mtime < cutoff:
                    record = json.loads(record_path.read_text())
                    if record.get("completed"):
                        record_path.unlink()
            except (OSError, ValueError):
                continue

    # --- handlers -----------------------------------------------------------------------
    async def create(self, request: Request, caller: Caller) -> Response:
        """``POST``: create an upload (and take a first chunk, if one is sent).

        The real order: lengths, metadata, the id (bucket name, key), the bucket and
        its size limit (404, 413), the signature or the RLS test (403, 409), then
        the MIME type (415).
        """
        check_protocol_headers(request)
        length_header = request.headers.get("upload-length")
        deferred = request.headers.get("upload-defer-length")
        if (length_header is None) == (deferred is None):
            raise _error(400, INVALID_LENGTH)
        size = int(length_header) if length_header is not None else None
        raw_metadata = request.headers.get("upload-metadata")
        if not raw_metadata:
            raise _error(400, "Metadata header is required")
        metadata = parse_upload_metadata(raw_metadata)
        bucket_name = must_be_valid_bucket_name(metadata.get("bucketName") or "")
        version = str(uuid.uuid4())
        key = must_be_valid_key(
            metadata.get("objectName") or "", bucket=bucket_name, version=version
        )
        bucket = await self.storage.find_bucket(bucket_name, caller.service())
        limit = self.limits.tus(bucket, key)
        if size is not None and size > limit:
            raise _error(413, "Maximum size exceeded\n")
        signature = self._signature(request)
        if signature is not None:
            token = self._check_signature(signature, bucket_name, key)
            owner = token.get("owner")
            upsert = bool(token.get("upsert"))
        else:
            owner = caller.owner
            upsert = request.headers.get("x-upsert", "").strip().lower() == "true"
        user_metadata = None
        if metadata.get("metadata"):
            with contextlib.suppress(ValueError):  # the real server ignores unreadable JSON
                user_metadata = json.loads(metadata["metadata"] or "")
        record: dict[str, Any] = {
            "id": encode_id(bucket_name, key, version),
            "bucket": bucket_name,
            "object": key,
            "version": version,
            "size": size,
            "limit": limit,
            "owner": None if owner is None else str(owner),
            "upsert": upsert,
            "content_type": metadata.get("contentType") or "application/octet-stream",
            "user_metadata": user_metadata,
            "created_at": time.time(),
            "completed": False,
        }
        await self._authorize(caller, record, signed=signature is not None, request=request)
        cache = metadata.get("cacheControl") or ""
        metadata["cacheControl"] = f"max-age={cache}" if _CACHE_SECONDS.match(cache) else "no-cache"
        record["cache_control"] = metadata["cacheControl"]
        record["metadata"] = metadata
        if metadata.get("contentType") and not is_empty_folder_placeholder(key):
            validate_mime_type(record["content_type"], bucket.get("allowed_mime_types"))
        part, _ = self._paths(version)
        part.touch()
        self._save(record)
        headers = {"Location": self._location(request, record["id"])}
        if request.headers.get("content-type") == OFFSET_STREAM or size == 0:
            offset, complete = await self._receive(request, record, 0)
            if request.headers.get("content-type") == OFFSET_STREAM:
                headers["Upload-Offset"] = str(offset)
            if complete:
                headers["Tus-Complete"] = "1"
        return tus_reply(201, headers)

    async def head(self, request: Request, caller: Caller) -> Response:
        """``HEAD``: where the upload stands."""
        check_protocol_headers(request)
        signature, record = self._existing(request)
        # Another user's offset and length are theirs: HEAD passes the same RLS test
        # (stricter than the real server, which checks nothing on HEAD). RLS is checked
        # before uniqueness: "already exists" means the caller may write it, and a
        # finished upload's object does exist.
        with contextlib.suppress(KeyAlreadyExists, ResourceAlreadyExists):
            await self._authorize(caller, record, signed=signature is not None, request=request)
        headers = {"Upload-Offset": str(self._offset(record)), "Cache-Control": "no-store"}
        if record["size"] is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(record["size"])
        if record.get("metadata") is not None:
            headers["Upload-Metadata"] = stringify_upload_metadata(record["metadata"])
        return tus_reply(200, headers)

    async def patch(self, request: Request, caller: Caller) -> Response:
        """``PATCH``: append a chunk at ``Upload-Offset``; the last one completes the object."""
        check_protocol_headers(request)
        offset_header = request.headers.get("upload-offset")
        if offset_header is None:
            raise _error(403, "Upload-Offset header required\n")
        if request.headers.get("content-type") is None:
            raise _error(403, "Content-Type header required\n")
        signature, record = self._existing(request)
        length_header = request.headers.get("upload-length")
        declared: int | None = None  # a deferred length, given now
        if length_header is not None:
            declared = int(length_header)
            if record["size"] is not None or declared < self._offset(record):
                raise _error(400, INVALID_LENGTH)
            if declared > record["limit"]:
                raise _error(413, "Maximum size exceeded\n")
        # The policy check (one database statement) runs while the chunk streams
        # in; no byte counts until it has passed (see ``_receive``).
        gate = asyncio.ensure_future(
            self._authorize(caller, record, signed=signature is not None, request=request)
        )
        try:
            if declared is not None:
                await gate
                record["size"] = declared
                self._save(record)
            offset, complete = await self._receive(request, record, int(offset_header), gate)
        finally:
            if not gate.done():
                gate.cancel()
                with contextlib.suppress(BaseException):
                    await gate
        headers = {"Upload-Offset": str(offset)}
        if complete:
            headers["Tus-Complete"] = "1"
        return tus_reply(204, headers)

    async def terminate(self, request: Request, caller: Caller) -> Response:
        """``DELETE``: abandon an unfinished upload.

        The RLS test comes first, as on the real server: a finished upload's object
        exists, so without ``x-upsert: true`` that is 409 "The resource already
        exists"; with it (or signed), 400 "Cannot terminate an already completed upload".
        """
        check_protocol_headers(request)
        signature, record = self._existing(request)
        await self._authorize(caller, record, signed=signature is not None, request=request)
        if record.get("completed"):
            raise _error(400, "Cannot terminate an already completed upload")
        async with self._lock(record["version"]):
            part, record_path = self._paths(record["version"])
            for path in (part, record_path):
                path.unlink(missing_ok=True)
            self._hashers.pop(record["version"], None)
        self._locks.pop(record["version"], None)
        return tus_reply(204)

    # --- bytes --------------------------------------------------------------------------
    def _lock(self, version: str) -> asyncio.Lock:
        return self._locks.setdefault(version, asyncio.Lock())

    async def _receive(
        self,
        request: Request,
        record: dict[str, Any],
        offset: int,
        gate: asyncio.Future[None] | None = None,
    ) -> tuple[int, bool]:
        """Append the request body at ``offset``; complete the object when all bytes are in.

        ``gate`` is the request's authorization, still running while the body
        streams: the bytes are kept only once it has passed; a refusal cuts the
        file back to ``offset`` and is raised.
        """
        version = record["version"]
        lock = self._lock(version)
        try:
            await asyncio.wait_for(lock.acquire(), timeout=5)
        except TimeoutError:
            raise _error(500, "failed to acquire lock before timeout") from None
        try:
            current = self._offset(record)
            if record.get("completed") or offset != current:
                if gate is not None:
                    await gate  # a refusal answers before a conflict, as before
                if offset != current:
                    raise _error(409, "Upload-Offset conflict\n")
                return current, True
            part, _ = self._paths(version)
            hasher = self._hashers.pop(version, None)
            if hasher is None or hasher.broken or hasher.fed != current:
                # A restart, a refused or cut chunk: hash what is on disk again.
                digest = await asyncio.to_thread(_md5_of, part)
                hasher = Md5Chain(digest, current)
            limit = record["size"] if record["size"] is not None else record["limit"]
            writer = BlobWriter(part, limit=limit, append=True, start=current, hasher=hasher)
            try:
                async for chunk in request.stream():
                    if gate is not None and gate.done() and gate.exception() is not None:
                        break  # refused: stop taking bytes (raised below)
                    if chunk:
                        await writer.write(chunk)
                await writer.drain()
            except EntityTooLarge:
                await writer.drain()
                await self._settle_gate(gate, part, current)
                raise _error(413, "upload's size exceeded\n") from None
            except (ClientDisconnect, asyncio.CancelledError):
                # Keep what arrived (if the caller may write here): the client
                # resumes from the offset HEAD reports.
                await writer.drain()
                await self._settle_gate(gate, part, current, quiet=True)
                raise
            finally:
                await writer.close()
                self._hashers[version] = writer.md5
            await self._settle_gate(gate, part, current)
            offset = writer.written
            if record["size"] is not None and offset >= record["size"]:
                syncing = asyncio.ensure_future(asyncio.to_thread(_fsync, part))
                try:
                    await writer.md5.settle()
                    md5 = writer.md5.hexdigest()
                except Exception:
                    md5 = (await asyncio.to_thread(_md5_of, part)).hexdigest()
                finally:
                    await syncing
                await self._complete(record, part, md5, offset)
                return offset, True
            return offset, False
        finally:
            lock.release()
            if record.get("completed") and not lock.locked():
                # A finished upload takes no more bytes; its lock is no longer needed.
                self._locks.pop(version, None)

    async def _settle_gate(
        self, gate: asyncio.Future[None] | None, part: Path, offset: int, *, quiet: bool = False
    ) -> None:
        """Wait for the request's authorization; if it failed, cut ``part`` back to ``offset``."""
        if gate is None:
            return
        try:
            await asyncio.shield(gate)
        except BaseException:
            await asyncio.to_thread(_truncate, part, offset)
            self._hashers.pop(part.stem, None)
            if not quiet:
                raise

    async def _complete(self, record: dict[str, Any], part: Path, md5: str, size: int) -> None:
        target = UploadTarget(
            bucket=record["bucket"],
            key=record["object"],
            owner=record.get("owner"),
            upsert=bool(record.get("upsert")),
            tester=None,
            settings={
                "storage.operation": "storage.tus.upload.part",
                "storage.can_delete": "true",
            },
        )
        try:
            await self.uploader.commit(
                part,
                size,
                md5,
                target,
                mimetype=record["content_type"],
                cache_control=record["cache_control"],
                user_metadata=record.get("user_metadata"),
                version=record["version"],
            )
        except StorageError as exc:
            _, record_path = self._paths(record["version"])
            record_path.unlink(missing_ok=True)
            part.unlink(missing_ok=True)
            self._hashers.pop(record["version"], None)
            raise TusError.from_storage(exc) from None
        record["completed"] = True
        record["size"] = size
        self._save(record)
        self._hashers.pop(record["version"], None)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _truncate(path: Path, size: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.truncate(path, size)


def _md5_of(path: Path) -> Any:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest
