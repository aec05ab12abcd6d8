"""TUS 1.0.0 resumable uploads at ``/upload/resumable`` (and ``/upload/resumable/sign``).

Mirrors Supabase's ``@tus/server`` set-up (shared/reference/storage-api.md §7):
extensions ``creation, creation-with-upload, creation-defer-length, termination,
expiration``; errors are text/plain with real HTTP statuses; the upload id is
``base64url("<bucket>/<object>/<version>")`` and ``Location`` is absolute, built
from the request's host. Authorization (the RLS upload test) is re-checked on
``POST``, every ``PATCH`` and ``DELETE``; the final ``PATCH`` completes the object
through the same path as REST uploads. The signed variant takes an upload token in
``x-signature`` instead of ``Authorization``.

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
import binascii
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hybridkit.local.storage.blobs import BlobWriter, Md5Chain
from hybridkit.local.storage.context import Caller
from hybridkit.local.storage.errors import (
    EntityTooLarge,
    KeyAlreadyExists,
    ResourceAlreadyExists,
    StorageError,
    TusError,
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

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,termination,expiration"
ALLOWED_HEADERS = (
    "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, Tus-Resumable, "
    "Tus-Version, Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata, "
    "Upload-Offset, X-HTTP-Method-Override, X-Requested-With, X-Forwarded-Host, "
    "X-Forwarded-Proto, Forwarded, X-Upsert, Upload-Expires, ApiKey, x-signature"
)
INVALID_METADATA = (
    "Upload-Metadata is invalid. It MUST consist of one or more comma-separated key-value "
    "pairs. The key and value MUST be separated by a space. The key MUST NOT contain spaces "
    "and commas and MUST NOT be empty. The key SHOULD be ASCII encoded and the value MUST be "
    "Base64 encoded. All keys MUST be unique"
)
_DIGITS = re.compile(r"^\d+$")


def _error(status: int, body: str) -> TusError:
    return TusError(status, body)


def encode_id(bucket: str, key: str, version: str) -> str:
    """The upload id: base64url of ``bucket/key/version`` (no padding)."""
    return base64.urlsafe_b64encode(f"{bucket}/{key}/{version}".encode()).decode().rstrip("=")


def parse_upload_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: ``key base64value,key2 base64value2`` (values optional)."""
    result: dict[str, str] = {}
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or key in result:
            raise _error(400, INVALID_METADATA)
        value = ""
        if len(parts) == 2:
            try:
                value = base64.b64decode(parts[1], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise _error(400, INVALID_METADATA) from None
        result[key] = value
    return result


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
        return Response(
            status_code=204,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(self.limits.global_limit),
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "POST, HEAD, PATCH, OPTIONS, DELETE",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "86400",
            },
        )

    @staticmethod
    def _require_tus(request: Request) -> None:
        if request.headers.get("tus-resumable") != TUS_VERSION:
            raise _error(412, "Tus-Resumable Required\n")

    def _paths(self, version: str) -> tuple[Path, Path]:
        return self.folder / f"{version}.part", self.folder / f"{version}.json"

    def _load(self, upload_id: str) -> dict[str, Any]:
        try:
            decoded = base64.urlsafe_b64decode(upload_id + "=" * (-len(upload_id) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _error(404, "The file for this url was not found\n") from None
        version = decoded.rsplit("/", 1)[-1]
        try:
            version = str(uuid.UUID(version))
        except ValueError:
            raise _error(404, "The file for this url was not found\n") from None
        _, record_path = self._paths(version)
        try:
            record: dict[str, Any] = json.loads(record_path.read_text())
        except (FileNotFoundError, ValueError):
            raise _error(404, "The file for this url was not found\n") from None
        if f"{record['bucket']}/{record['object']}/{version}" != decoded:
            raise _error(404, "The file for this url was not found\n")
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

    def _signature(self, request: Request, caller: Caller) -> dict[str, Any] | None:
        """The signed variant's upload token (``None`` for the plain routes)."""
        if "/upload/resumable/sign" not in request.url.path:
            return None
        token = request.headers.get("x-signature")
        if not token:
            raise _error(400, "Missing x-signature header")
        return {"token": token}

    def _existing(
        self, request: Request, caller: Caller
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """An existing upload's signature (signed routes) and record, the signature checked."""
        self._require_tus(request)
        signature = self._signature(request, caller)
        record = self._load(request.path_params["upload_id"])
        if signature is not None:
            self._check_signature(signature, record["bucket"], record["object"])
        return signature, record

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
        """``POST``: create an upload (and take a first chunk, if one is sent)."""
        self._require_tus(request)
        signature = self._signature(request, caller)
        length_header = request.headers.get("upload-length")
        deferred = request.headers.get("upload-defer-length")
        if length_header is None and deferred != "1":
            raise _error(400, "Upload-Length or Upload-Defer-Length header required\n")
        if length_header is not None and not _DIGITS.match(length_header):
            raise _error(400, "Invalid Upload-Length\n")
        size = int(length_header) if length_header is not None else None
        raw_metadata = request.headers.get("upload-metadata")
        metadata = parse_upload_metadata(raw_metadata) if raw_metadata else {}
        bucket_name, key = metadata.get("bucketName"), metadata.get("objectName")
        if not bucket_name or not key:
            raise _error(400, "Metadata header is required")
        bucket_name = must_be_valid_bucket_name(bucket_name)
        version = str(uuid.uuid4())
        key = must_be_valid_key(key, bucket=bucket_name, version=version)
        bucket = await self.storage.find_bucket(bucket_name, caller.service())
        limit = self.limits.tus(bucket, key)
        if size is not None and size > limit:
            raise _error(413, "Maximum size exceeded\n")
        content_type = metadata.get("contentType") or "application/octet-stream"
        if not is_empty_folder_placeholder(key):
            validate_mime_type(content_type, bucket.get("allowed_mime_types"))
        if signature is not None:
            token = self._check_signature(signature, bucket_name, key)
            owner = token.get("owner")
            upsert = bool(token.get("upsert"))
        else:
            owner = caller.owner
            upsert = request.headers.get("x-upsert", "").strip().lower() == "true"
        cache = metadata.get("cacheControl", "")
        user_metadata = None
        if metadata.get("metadata"):
            try:
                user_metadata = json.loads(metadata["metadata"])
            except ValueError:
                raise _error(400, "Invalid metadata: must be a JSON object") from None
        record: dict[str, Any] = {
            "id": encode_id(bucket_name, key, version),
            "bucket": bucket_name,
            "object": key,
            "version": version,
            "size": size,
            "limit": limit,
            "owner": None if owner is None else str(owner),
            "upsert": upsert,
            "content_type": content_type,
            "cache_control": f"max-age={cache}" if _DIGITS.match(cache) else "no-cache",
            "user_metadata": user_metadata,
            "upload_metadata": raw_metadata,
            "created_at": time.time(),
            "completed": False,
        }
        await self._authorize(caller, record, signed=signature is not None, request=request)
        part, _ = self._paths(version)
        part.touch()
        self._save(record)
        headers = {"Tus-Resumable": TUS_VERSION, "Location": self._location(request, record["id"])}
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/offset+octet-stream") or size == 0:
            offset, complete = await self._receive(request, record, 0)
            headers["Upload-Offset"] = str(offset)
            if complete:
                headers["Tus-Complete"] = "1"
        return Response(status_code=201, headers=headers)

    async def head(self, request: Request, caller: Caller) -> Response:
        """``HEAD``: where the upload stands."""
        signature, record = self._existing(request, caller)
        # Another user's offset and length are theirs: HEAD passes the same RLS test.
        # (RLS is checked before uniqueness: "already exists" means the caller may
        # write it, and a finished upload's object does exist.)
        with contextlib.suppress(KeyAlreadyExists, ResourceAlreadyExists):
            await self._authorize(caller, record, signed=signature is not None, request=request)
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Offset": str(self._offset(record)),
            "Cache-Control": "no-store",
        }
        if record["size"] is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(record["size"])
        if record.get("upload_metadata"):
            headers["Upload-Metadata"] = record["upload_metadata"]
        return Response(status_code=200, headers=headers)

    async def patch(self, request: Request, caller: Caller) -> Response:
        """``PATCH``: append a chunk at ``Upload-Offset``; the last one completes the object."""
        self._require_tus(request)
        signature = self._signature(request, caller)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/offset+octet-stream":
            raise _error(415, "Content-Type header required\n")
        offset_header = request.headers.get("upload-offset")
        if offset_header is None or not _DIGITS.match(offset_header):
            raise _error(403, "Upload-Offset header required\n")
        record = self._load(request.path_params["upload_id"])
        if signature is not None:
            self._check_signature(signature, record["bucket"], record["object"])
        length_header = request.headers.get("upload-length")
        declared: int | None = None  # a deferred length, given now
        if record["size"] is None and length_header is not None:
            declared = int(length_header) if _DIGITS.match(length_header) else -1
            if not 0 <= declared <= record["limit"]:
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
        headers = {"Tus-Resumable": TUS_VERSION, "Upload-Offset": str(offset)}
        if complete:
            headers["Tus-Complete"] = "1"
        return Response(status_code=204, headers=headers)

    async def terminate(self, request: Request, caller: Caller) -> Response:
        """``DELETE``: abandon an unfinished upload."""
        signature, record = self._existing(request, caller)
        if record.get("completed"):
            raise _error(400, "Cannot terminate an already completed upload")
        await self._authorize(caller, record, signed=signature is not None, request=request)
        async with self._lock(record["version"]):
            part, record_path = self._paths(record["version"])
            for path in (part, record_path):
                path.unlink(missing_ok=True)
            self._hashers.pop(record["version"], None)
        self._locks.pop(record["version"], None)
        return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})

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
