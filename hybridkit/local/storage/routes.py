"""The Storage API's routes: ``/bucket``, ``/object``, ``/status``, ``/version``.

Each handler parses and validates its request (:mod:`.parsing`, :mod:`.schemas`),
calls the state layer (:mod:`.models`, :mod:`.uploads`, :mod:`.listing`) as the
identity the real server would use, and renders the answer. Fastify's matching is
mirrored: static segments (``list``, ``sign``, ``info``, ``public`` ...) win over
bucket names, and an unknown route or method gets fastify's 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from hybridkit.local.db import Identity
from hybridkit.local.storage.context import AuthMode, Caller
from hybridkit.local.storage.errors import (
    EntityTooLarge,
    InvalidRole,
    NoSuchBucket,
)
from hybridkit.local.storage.images import Transform
from hybridkit.local.storage.listing import list_v2
from hybridkit.local.storage.models import Row, Storage, iso
from hybridkit.local.storage.parsing import (
    parse_x_metadata,
    read_json_body,
    truthy_header,
    validate,
)
from hybridkit.local.storage.responses import info_response, object_response
from hybridkit.local.storage.schemas import (
    BUCKET_LIST_QUERY,
    COPY_BODY,
    CREATE_BUCKET_BODY,
    DELETE_OBJECTS_BODY,
    LIST_V1_BODY,
    LIST_V2_BODY,
    MOVE_BODY,
    SIGN_BODY,
    SIGN_MANY_BODY,
    SIGNED_QUERY,
    UPDATE_BUCKET_BODY,
)
from hybridkit.local.storage.signing import sign_download, sign_upload, verify_signed
from hybridkit.local.storage.uploads import Uploader, UploadTarget
from hybridkit.local.storage.validation import (
    must_be_valid_bucket_name,
    must_be_valid_key,
    parse_file_size,
    validate_allowed_mime_types,
)
from hybridkit.local.storage.wire import (
    CallerHandler,
    bucket_json,
    client_wants_type,
    endpoint,
    json_response,
    object_json,
)

__all__ = ["StorageRoutes"]


class StorageRoutes:
    """The handlers of one stack's Storage API.

    Args:
        storage: buckets and objects.
        uploader: the upload pipeline.
        secret: the JWT secret (tokens and signed URLs).
        global_limit: the global upload limit (bucket limits may not exceed it).
        signed_upload_expiry: seconds a signed upload URL lives.
    """

    def __init__(
        self,
        storage: Storage,
        uploader: Uploader,
        *,
        secret: str,
        global_limit: int,
        signed_upload_expiry: int,
    ) -> None:
        self.storage = storage
        self.uploader = uploader
        self.secret = secret
        self.global_limit = global_limit
        self.signed_upload_expiry = signed_upload_expiry

    def routes(self) -> list[BaseRoute]:
        """Every route, most specific first (fastify's static-segment priority)."""
        obj = "/object/{bucket}/{key:path}"
        table: list[tuple[str, list[str], AuthMode, str, CallerHandler]] = [
            ("/bucket", ["GET"], "header", "bucket.list", self.list_buckets),
            ("/bucket", ["POST"], "header", "bucket.create", self.create_bucket),
            ("/bucket/{bucket}/empty", ["POST"], "header", "bucket.empty", self.empty_bucket),
            ("/bucket/{bucket}", ["GET"], "header", "bucket.get", self.get_bucket),
            ("/bucket/{bucket}", ["PUT"], "header", "bucket.update", self.update_bucket),
            ("/bucket/{bucket}", ["DELETE"], "header", "bucket.delete", self.delete_bucket),
            ("/object/list/{bucket}", ["POST"], "header", "object.list", self.list_objects),
            ("/object/list-v2/{bucket}", ["POST"], "jwt", "object.list_v2", self.list_objects_v2),
            ("/object/move", ["POST"], "header", "object.move", self.move_object),
            ("/object/copy", ["POST"], "header", "object.copy", self.copy_object),
            ("/object/sign/{bucket}/{key:path}", ["POST"], "header", "object.sign", self.sign_url),
            ("/object/sign/{bucket}", ["POST"], "header", "object.sign_many", self.sign_urls),
            ("/object/sign/{bucket}/{key:path}", ["GET"], "none", "object.get_signed",
             self.get_signed),
            ("/object/upload/sign/{bucket}/{key:path}", ["POST"], "header",
             "object.sign_upload_url", self.sign_upload_url),
            ("/object/upload/sign/{bucket}/{key:path}", ["PUT"], "none", "object.upload_signed",
             self.upload_signed),
            ("/object/info/authenticated/{bucket}/{key:path}", ["GET"], "header",
             "=object.get_authenticated_info", self.info_authenticated),
            ("/object/info/public/{bucket}/{key:path}", ["GET"], "none", "object.info_public",
             self.info_public),
            ("/object/info/{bucket}/{key:path}", ["GET"], "optional",
             "=object.get_authenticated_info", self.info_optional),
            # HEAD before GET: a GET route also answers HEAD, and HEAD is the info operation
            ("/object/authenticated/{bucket}/{key:path}", ["HEAD"], "header",
             "=object.head_authenticated_info", self.get_authenticated),
            ("/object/authenticated/{bucket}/{key:path}", ["GET"], "header",
             "object.get_authenticated", self.get_authenticated),
            ("/object/public/{bucket}/{key:path}", ["HEAD"], "none", "object.info_public",
             self.get_public),
            ("/object/public/{bucket}/{key:path}", ["GET"], "none", "object.get_public",
             self.get_public),
            (obj, ["HEAD"], "optional", "=object.head_authenticated_info", self.get_optional),
            (obj, ["GET"], "optional", "object.get_authenticated", self.get_optional),
            (obj, ["POST"], "header", "object.upload", self.upload_post),
            (obj, ["PUT"], "header", "object.upload_update", self.upload_put),
            (obj, ["DELETE"], "header", "object.delete", self.delete_object),
            ("/object/{bucket}", ["DELETE"], "header", "object.delete_many", self.delete_objects),
        ]  # fmt: skip
        routes: list[BaseRoute] = [
            Route("/status", self.status, methods=["GET"]),
            Route("/version", self.version, methods=["GET"]),
        ]
        # validated before the headers (fastify's order): see ``endpoint``
        bodies: dict[CallerHandler, Mapping[str, Any]] = {
            self.create_bucket: CREATE_BUCKET_BODY,
            self.update_bucket: UPDATE_BUCKET_BODY,
            self.list_objects: LIST_V1_BODY,
            self.delete_objects: DELETE_OBJECTS_BODY,
            self.move_object: MOVE_BODY,
            self.copy_object: COPY_BODY,
            self.sign_url: SIGN_BODY,
            self.sign_urls: SIGN_MANY_BODY,
        }
        queries: dict[CallerHandler, Mapping[str, Any]] = {self.list_buckets: BUCKET_LIST_QUERY}
        for path, methods, mode, operation, handler in table:
            # The info routes' operations lack the "storage." prefix on the real server too.
            name = operation[1:] if operation.startswith("=") else f"storage.{operation}"
            wrapped = endpoint(
                self.secret, mode, name, body=bodies.get(handler), query=queries.get(handler)
            )(handler)
            routes.append(Route(path, wrapped, methods=methods))
        return routes

    # --- service ------------------------------------------------------------------
    async def status(self, request: Request) -> Response:
        return Response(status_code=200)

    async def version(self, request: Request) -> Response:
        return PlainTextResponse("0.0.0")

    # --- buckets ------------------------------------------------------------------
    async def list_buckets(self, request: Request, caller: Caller) -> Response:
        query = validate(dict(request.query_params), BUCKET_LIST_QUERY, "querystring")
        rows = await self.storage.list_buckets(
            caller.identity,
            limit=query.get("limit"),
            offset=query.get("offset"),
            sort_column=query.get("sortColumn"),
            sort_order=query.get("sortOrder"),
            search=query.get("search"),
        )
        with_type = client_wants_type(request.headers.get("x-client-info"))
        return json_response([bucket_json(row, with_type=with_type) for row in rows])

    async def get_bucket(self, request: Request, caller: Caller) -> Response:
        row = await self.storage.get_bucket(caller.identity, request.path_params["bucket"])
        return json_response(bucket_json(row, with_type=False))

    def _file_size_limit(self, value: Any) -> int | None:
        if value is None:
            return None
        limit = parse_file_size(value) if isinstance(value, str) else int(value)
        if limit > self.global_limit:
            raise EntityTooLarge()
        return limit

    async def create_bucket(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), CREATE_BUCKET_BODY)
        name = body["name"]
        bucket_id = body.get("id") or name
        must_be_valid_bucket_name(bucket_id, creating=True)
        must_be_valid_bucket_name(name, creating=True)
        await self.storage.create_bucket(
            caller.identity,
            bucket_id=bucket_id,
            name=name,
            owner=caller.owner,
            public=bool(body.get("public", False)),
            bucket_type=body.get("type"),
            file_size_limit=self._file_size_limit(body.get("file_size_limit")),
            allowed_mime_types=validate_allowed_mime_types(body.get("allowed_mime_types")),
        )
        return json_response({"name": name})

    async def update_bucket(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), UPDATE_BUCKET_BODY)
        changes: dict[str, Any] = {}
        if "public" in body:
            changes["public"] = bool(body["public"])
        if "file_size_limit" in body:
            changes["file_size_limit"] = self._file_size_limit(body["file_size_limit"])
        if "allowed_mime_types" in body:
            changes["allowed_mime_types"] = validate_allowed_mime_types(body["allowed_mime_types"])
        await self.storage.update_bucket(caller.identity, request.path_params["bucket"], changes)
        return json_response({"message": "Successfully updated"})

    async def delete_bucket(self, request: Request, caller: Caller) -> Response:
        await read_json_body(request, required=False)
        await self.storage.delete_bucket(caller.identity, request.path_params["bucket"])
        return json_response({"message": "Successfully deleted"})

    async def empty_bucket(self, request: Request, caller: Caller) -> Response:
        if caller.role != "service_role":
            raise InvalidRole()
        await read_json_body(request, required=False)
        await self.storage.empty_bucket(caller.identity, request.path_params["bucket"])
        return json_response(
            {"message": "Empty bucket has been queued. Completion may take up to an hour."}
        )

    # --- uploads --------------------------------------------------------------------
    def _bucket_and_key(self, request: Request) -> tuple[str, str]:
        bucket = must_be_valid_bucket_name(request.path_params["bucket"])
        key = must_be_valid_key(request.path_params.get("key"), bucket=bucket)
        return bucket, key

    async def _upload(self, request: Request, caller: Caller, *, upsert: bool) -> Response:
        bucket, key = self._bucket_and_key(request)
        target = UploadTarget(
            bucket=bucket,
            key=key,
            owner=caller.owner,
            upsert=upsert,
            tester=caller.identity,
            settings=caller.identity.settings,
        )
        row = await self.uploader.upload_body(request, target)
        return json_response({"Key": f"{bucket}/{key}", "Id": str(row["id"])})

    async def upload_post(self, request: Request, caller: Caller) -> Response:
        return await self._upload(
            request, caller, upsert=truthy_header(request.headers.get("x-upsert"))
        )

    async def upload_put(self, request: Request, caller: Caller) -> Response:
        return await self._upload(request, caller, upsert=True)

    async def sign_upload_url(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        await read_json_body(request, required=False)
        upsert = truthy_header(request.headers.get("x-upsert"))
        await self.storage.find_bucket(bucket, caller.service())
        await self.storage.test_upload(
            caller.identity,
            bucket,
            key,
            owner=caller.owner,
            upsert=upsert,
            user_metadata=parse_x_metadata(request.headers.get("x-metadata")),
        )
        token = sign_upload(
            self.secret,
            bucket,
            key,
            owner=caller.owner,
            upsert=upsert,
            expires_in=self.signed_upload_expiry,
        )
        return json_response(
            {"url": f"/object/upload/sign/{bucket}/{key}?token={token}", "token": token}
        )

    async def upload_signed(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        query = validate(dict(request.query_params), SIGNED_QUERY, "querystring")
        payload = verify_signed(query["token"], self.secret, bucket=bucket, key=key, scope="upload")
        owner = payload.get("owner")
        target = UploadTarget(
            bucket=bucket,
            key=key,
            owner=None if owner is None else str(owner),
            upsert=bool(payload.get("upsert")),
            tester=None,
            settings=caller.identity.settings,
        )
        await self.uploader.upload_body(request, target)
        return json_response({"Key": f"{bucket}/{key}"})

    # --- downloads and info -----------------------------------------------------------
    async def _visible_object(
        self, caller: Caller, bucket: str, key: str, *, authenticated: bool
    ) -> tuple[Row, Identity]:
        """The object for an authenticated or optional-auth read, and who may reread it."""
        found = await self._find_bucket_or_none(bucket, caller)
        if not authenticated and (found is None or not found["public"]):
            raise NoSuchBucket()
        if found is None:
            raise NoSuchBucket()
        reader = caller.service() if found["public"] else caller.identity
        return await self.storage.find_object(reader, bucket, key), reader

    async def _find_bucket_or_none(self, bucket: str, caller: Caller) -> Row | None:
        try:
            return await self.storage.find_bucket(bucket, caller.service())
        except NoSuchBucket:
            return None

    async def _serve(
        self, request: Request, row: Row, reader: Identity, bucket: str, key: str, **kw: Any
    ) -> Response:
        async def refetch() -> Row:
            return await self.storage.find_object(reader, bucket, key)

        return await object_response(
            request, self.storage.blobs, row, head=request.method == "HEAD", refetch=refetch, **kw
        )

    async def get_authenticated(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        row, reader = await self._visible_object(caller, bucket, key, authenticated=True)
        return await self._serve(request, row, reader, bucket, key)

    async def get_optional(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        authenticated = caller.identity.token is not None
        row, reader = await self._visible_object(caller, bucket, key, authenticated=authenticated)
        return await self._serve(request, row, reader, bucket, key)

    async def get_public(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        found = await self._find_bucket_or_none(bucket, caller)
        if found is None or not found["public"]:
            raise NoSuchBucket()
        row = await self.storage.find_object(caller.service(), bucket, key)
        return await self._serve(request, row, caller.service(), bucket, key)

    async def get_signed(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        query = validate(dict(request.query_params), SIGNED_QUERY, "querystring")
        payload = verify_signed(
            query["token"], self.secret, bucket=bucket, key=key, scope="download"
        )
        row = await self.storage.find_object(caller.service(), bucket, key)
        return await self._serve(
            request, row, caller.service(), bucket, key, expires=payload.get("exp")
        )

    async def info_authenticated(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        row, _ = await self._visible_object(caller, bucket, key, authenticated=True)
        return info_response(row)

    async def info_optional(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        authenticated = caller.identity.token is not None
        row, _ = await self._visible_object(caller, bucket, key, authenticated=authenticated)
        return info_response(row)

    async def info_public(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        found = await self._find_bucket_or_none(bucket, caller)
        if found is None or not found["public"]:
            raise NoSuchBucket()
        return info_response(await self.storage.find_object(caller.service(), bucket, key))

    # --- listing --------------------------------------------------------------------
    async def list_objects(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), LIST_V1_BODY)
        sort = body.get("sortBy") or {}
        rows = await self.storage.search(
            caller.identity,
            request.path_params["bucket"],
            prefix=body["prefix"],
            limit=body.get("limit", 100),
            offset=body.get("offset", 0),
            search=body.get("search", ""),
            sort_column=sort.get("column", "name"),
            sort_order=sort.get("order", "asc"),
        )
        return json_response(
            [
                {
                    "name": row["name"],
                    "id": None if row["id"] is None else str(row["id"]),
                    "updated_at": iso(row["updated_at"]),
                    "created_at": iso(row["created_at"]),
                    "last_accessed_at": iso(row["last_accessed_at"]),
                    "metadata": row["metadata"],
                }
                for row in rows
            ]
        )

    async def list_objects_v2(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), LIST_V2_BODY)
        sort = body.get("sortBy") or {}
        result = await list_v2(
            self.storage.db,
            caller.identity,
            request.path_params["bucket"],
            prefix=body.get("prefix", ""),
            limit=min(body.get("limit", 1000), 1000),
            cursor=body.get("cursor") or None,
            with_delimiter=bool(body.get("with_delimiter", False)),
            sort_column=sort.get("column", "name"),
            sort_order=sort.get("order", "asc"),
        )
        return json_response(result)

    # --- delete, move, copy -------------------------------------------------------------
    async def delete_objects(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), DELETE_OBJECTS_BODY)
        rows = await self.storage.delete_objects(
            caller.identity, request.path_params["bucket"], body["prefixes"]
        )
        return json_response([object_json(row) for row in rows])

    async def delete_object(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        await read_json_body(request, required=False)
        await self.storage.delete_object(caller.identity, bucket, key)
        return json_response({"message": "Successfully deleted"})

    @staticmethod
    def _transfer(body: dict[str, Any]) -> tuple[str, str, str, str]:
        """A move's or copy's source and destination: bucket, key, dest bucket, dest key."""
        bucket = must_be_valid_bucket_name(body["bucketId"])
        dest_bucket = must_be_valid_bucket_name(body.get("destinationBucket") or bucket)
        key = must_be_valid_key(body["sourceKey"], bucket=bucket)
        dest_key = must_be_valid_key(body["destinationKey"], bucket=dest_bucket)
        return bucket, key, dest_bucket, dest_key

    async def move_object(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), MOVE_BODY)
        bucket, key, dest_bucket, dest_key = self._transfer(body)
        await self.storage.move_object(caller.identity, bucket, key, dest_bucket, dest_key)
        return json_response({"message": "Successfully moved"})

    async def copy_object(self, request: Request, caller: Caller) -> Response:
        body = validate(await read_json_body(request), COPY_BODY)
        bucket, key, dest_bucket, dest_key = self._transfer(body)
        row = await self.storage.copy_object(
            caller.identity,
            bucket=bucket,
            key=key,
            dest_bucket=dest_bucket,
            dest_key=dest_key,
            owner=caller.owner,
            upsert=truthy_header(request.headers.get("x-upsert")),
            copy_metadata=body.get("copyMetadata", True),
            metadata_override=body.get("metadata"),
            user_metadata=parse_x_metadata(request.headers.get("x-metadata")),
        )
        result = {"Key": f"{dest_bucket}/{dest_key}", "Id": str(row["id"]), **object_json(row)}
        return json_response(result)

    # --- signed URLs --------------------------------------------------------------------
    async def sign_url(self, request: Request, caller: Caller) -> Response:
        bucket, key = self._bucket_and_key(request)
        body = validate(await read_json_body(request), SIGN_BODY)
        transform = Transform.from_options(body.get("transform") or {})
        # As the real server: the token keeps the options as asked (resize:cover), and a
        # token with options is a /render/image URL.
        transformations = ",".join(transform.segments(keep_original=True))
        await self.storage.find_object(caller.identity, bucket, key)
        token = sign_download(
            self.secret,
            bucket,
            key,
            body["expiresIn"],
            transformations=transformations,
            format=transform.format or "",
        )
        base = "render/image" if transformations else "object"
        return json_response({"signedURL": f"/{base}/sign/{bucket}/{key}?token={token}"})

    async def sign_urls(self, request: Request, caller: Caller) -> Response:
        bucket = must_be_valid_bucket_name(request.path_params["bucket"])
        body = validate(await read_json_body(request), SIGN_MANY_BODY)
        paths: list[str] = body["paths"]
        visible = await self.storage.existing_names(caller.identity, bucket, paths)
        results = []
        for path in paths:
            if path in visible:
                token = sign_download(self.secret, bucket, path, body["expiresIn"])
                results.append(
                    {
                        "error": None,
                        "path": path,
                        "signedURL": f"/object/sign/{bucket}/{path}?token={token}",
                    }
                )
            else:
                results.append(
                    {
                        "error": "Either the object does not exist or you do not have access to it",
                        "path": path,
                        "signedURL": None,
                    }
                )
        return json_response(results)
