"""Wire-level error fidelity of the Storage API.

Raw httpx requests; every test asserts the HTTP status *and* the JSON body
(``statusCode`` as a string, ``error``, ``code``, ``message``) that the real
Storage API gives (shared/reference/storage-api.md §2.3). Remember that the
real service answers HTTP 400 for almost every handled error and carries the
semantic status in the body.

Only the public protocol is used, plus the database URL (psycopg) to create
RLS policies; those tests skip when the target has no DB URL.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import jwt
import pytest

# ---------------------------------------------------------------------------
# helpers


def _headers(key: str | None, *, bearer: str | None = None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if key is not None:
        headers["apikey"] = key
    token = bearer if bearer is not None else key
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def assert_error(
    res: httpx.Response,
    *,
    http: int,
    status: str,
    error: str,
    code: str,
    message: str | None = None,
    message_startswith: str | None = None,
) -> dict[str, Any]:
    """Assert the real service's error shape: HTTP status plus the JSON body."""
    try:
        body = res.json()
    except ValueError:
        pytest.fail(f"expected a JSON error body, got HTTP {res.status_code}: {res.text!r}")
    assert isinstance(body, dict), f"expected an error, got HTTP {res.status_code}: {body!r}"
    got = (res.status_code, body.get("statusCode"), body.get("error"), body.get("code"))
    assert got == (http, status, error, code), body
    assert isinstance(body["statusCode"], str), "statusCode must be a string"
    assert isinstance(body.get("message"), str), body
    if message is not None:
        assert body["message"] == message, body
    if message_startswith is not None:
        assert body["message"].startswith(message_startswith), body
    assert res.headers["content-type"].startswith("application/json")
    return body


def create_bucket(api: httpx.Client, name: str, **options: Any) -> None:
    res = api.post("/bucket", json={"id": name, "name": name, **options})
    assert res.status_code == 200, res.text
    assert res.json() == {"name": name}


def drop_bucket(api: httpx.Client, name: str) -> None:
    with suppress(Exception):
        api.post(f"/bucket/{name}/empty", json={})
    with suppress(Exception):
        api.request("DELETE", f"/bucket/{name}", json={})


@contextmanager
def bucket(api: httpx.Client, name: str, **options: Any) -> Iterator[str]:
    create_bucket(api, name, **options)
    try:
        yield name
    finally:
        drop_bucket(api, name)


def put_raw(
    api: httpx.Client,
    bucket_id: str,
    key: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    *,
    upsert: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    hdrs = {"Content-Type": content_type, **(headers or {})}
    if upsert:
        hdrs["x-upsert"] = "true"
    return api.post(f"/object/{bucket_id}/{key}", content=data, headers=hdrs)


def object_names(api: httpx.Client, bucket_id: str) -> list[str]:
    res = api.post(f"/object/list-v2/{bucket_id}", json={"limit": 1000})
    assert res.status_code == 200, res.text
    return [o["name"] for o in res.json()["objects"]]


def not_found_object(res: httpx.Response) -> None:
    assert_error(
        res, http=400, status="404", error="not_found", code="NoSuchKey", message="Object not found"
    )


def not_found_bucket(res: httpx.Response) -> None:
    assert_error(
        res,
        http=400,
        status="404",
        error="Bucket not found",
        code="NoSuchBucket",
        message="Bucket not found",
    )


def rls_insert_denied(res: httpx.Response) -> None:
    assert_error(
        res,
        http=400,
        status="403",
        error="Unauthorized",
        code="AccessDenied",
        message="new row violates row-level security policy",
    )


# ---------------------------------------------------------------------------
# not found


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/bucket/{b}", None),
        ("PUT", "/bucket/{b}", {"public": True}),
        ("DELETE", "/bucket/{b}", {}),
        ("POST", "/bucket/{b}/empty", {}),
    ],
)
def test_missing_bucket(
    api: httpx.Client, unique_name: str, method: str, path: str, body: Any
) -> None:
    res = api.request(method, path.format(b=unique_name), json=body)
    not_found_bucket(res)


def test_missing_bucket_on_upload_and_download(api: httpx.Client, unique_name: str) -> None:
    not_found_bucket(put_raw(api, unique_name, "a.txt", b"x", "text/plain"))
    not_found_bucket(api.get(f"/object/{unique_name}/a.txt"))
    # storage3's multipart upload too
    res = api.post(
        f"/object/{unique_name}/a.txt",
        files={"file": ("a.txt", b"x", "text/plain")},
        data={"cacheControl": "3600"},
    )
    not_found_bucket(res)


def test_missing_object(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        not_found_object(api.get(f"/object/{unique_name}/nope.txt"))
        not_found_object(api.get(f"/object/authenticated/{unique_name}/nope.txt"))
        not_found_object(api.get(f"/object/info/{unique_name}/nope.txt"))
        not_found_object(api.get(f"/object/info/authenticated/{unique_name}/nope.txt"))
        not_found_object(api.request("DELETE", f"/object/{unique_name}/nope.txt"))
        not_found_object(
            api.post(
                "/object/move",
                json={"bucketId": unique_name, "sourceKey": "nope.txt", "destinationKey": "x.txt"},
            )
        )
        not_found_object(
            api.post(
                "/object/copy",
                json={"bucketId": unique_name, "sourceKey": "nope.txt", "destinationKey": "x.txt"},
            )
        )
        not_found_object(api.post(f"/object/sign/{unique_name}/nope.txt", json={"expiresIn": 60}))
        not_found_object(api.get(f"/object/{unique_name}/dir/nope.txt"))

        # HEAD has no body; the real service answers 400.
        res = api.head(f"/object/{unique_name}/nope.txt")
        assert res.status_code == 400
        assert res.content == b""


def test_bulk_delete_of_missing_objects_is_an_empty_list(
    api: httpx.Client, unique_name: str
) -> None:
    with bucket(api, unique_name):
        res = api.request("DELETE", f"/object/{unique_name}", json={"prefixes": ["a", "b/c"]})
        assert res.status_code == 200
        assert res.json() == []


def test_list_of_a_missing_bucket_is_empty(api: httpx.Client, unique_name: str) -> None:
    res = api.post(f"/object/list/{unique_name}", json={"prefix": ""})
    assert res.status_code == 200
    assert res.json() == []


# ---------------------------------------------------------------------------
# conflicts


def test_duplicate_bucket(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        res = api.post("/bucket", json={"id": unique_name, "name": unique_name})
        assert_error(
            res,
            http=400,
            status="409",
            error="Duplicate",
            code="BucketAlreadyExists",
            message="The resource already exists",
        )
        # the same name under another id is a duplicate too
        other_id = f"{unique_name}-other"
        res = api.post("/bucket", json={"id": other_id, "name": unique_name})
        try:
            assert_error(
                res,
                http=400,
                status="409",
                error="Duplicate",
                code="BucketAlreadyExists",
                message="The resource already exists",
            )
        finally:
            drop_bucket(api, other_id)


def test_duplicate_object_without_upsert(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        assert put_raw(api, unique_name, "dup.txt", b"v1", "text/plain").status_code == 200
        for headers in ({}, {"x-upsert": "false"}):
            res = put_raw(api, unique_name, "dup.txt", b"v2", "text/plain", headers=headers)
            assert_error(
                res,
                http=400,
                status="409",
                error="Duplicate",
                code="KeyAlreadyExists",
                message="The resource already exists",
            )
        # multipart, as storage3 sends it
        res = api.post(
            f"/object/{unique_name}/dup.txt",
            files={"file": ("dup.txt", b"v3", "text/plain")},
            data={"cacheControl": "3600"},
            headers={"x-upsert": "false"},
        )
        assert_error(
            res,
            http=400,
            status="409",
            error="Duplicate",
            code="KeyAlreadyExists",
            message="The resource already exists",
        )
        assert api.get(f"/object/{unique_name}/dup.txt").content == b"v1"

        ok = put_raw(api, unique_name, "dup.txt", b"v4", "text/plain", upsert=True)
        assert ok.status_code == 200
        assert ok.json()["Key"] == f"{unique_name}/dup.txt"
        assert api.get(f"/object/{unique_name}/dup.txt").content == b"v4"


def test_move_and_copy_onto_an_existing_key(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "a.txt", b"a")
        put_raw(api, unique_name, "b.txt", b"b")
        move = {"bucketId": unique_name, "sourceKey": "a.txt", "destinationKey": "b.txt"}
        assert_error(
            api.post("/object/move", json=move),
            http=400,
            status="409",
            error="Duplicate",
            code="ResourceAlreadyExists",
            message="The resource already exists",
        )
        assert_error(
            api.post("/object/copy", json=move),
            http=400,
            status="409",
            error="Duplicate",
            code="KeyAlreadyExists",
            message="The resource already exists",
        )
        assert api.get(f"/object/{unique_name}/b.txt").content == b"b"


def test_copy_to_a_missing_destination_bucket(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "a.txt", b"a")
        res = api.post(
            "/object/copy",
            json={
                "bucketId": unique_name,
                "sourceKey": "a.txt",
                "destinationKey": "a.txt",
                "destinationBucket": f"{unique_name}-missing",
            },
        )
        assert_error(
            res,
            http=400,
            status="404",
            error="InvalidRequest",
            code="InvalidRequest",
            message="The related resource does not exist",
        )


def test_delete_non_empty_bucket(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "keep.txt", b"x")
        res = api.request("DELETE", f"/bucket/{unique_name}", json={})
        assert_error(
            res,
            http=400,
            status="409",
            error="ResourceNotEmpty",
            code="ResourceNotEmpty",
            message="The bucket you tried to delete is not empty",
        )
        assert api.get(f"/bucket/{unique_name}").status_code == 200


# ---------------------------------------------------------------------------
# size limits


def too_large(res: httpx.Response) -> None:
    assert_error(
        res,
        http=400,
        status="413",
        error="Payload too large",
        code="EntityTooLarge",
        message="The object exceeded the maximum allowed size",
    )


def test_too_large_with_content_length(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name, file_size_limit=10):
        assert put_raw(api, unique_name, "ten.bin", b"0123456789").status_code == 200
        too_large(put_raw(api, unique_name, "eleven.bin", b"0123456789A"))
        too_large(put_raw(api, unique_name, "ten.bin", b"0123456789AB", upsert=True))
        # multipart (storage3's way): enforced while streaming, partial object deleted
        res = api.post(
            f"/object/{unique_name}/multi.bin",
            files={"file": ("multi.bin", b"x" * 11, "application/octet-stream")},
            data={"cacheControl": "3600"},
        )
        too_large(res)
        assert sorted(object_names(api, unique_name)) == ["ten.bin"]
        assert api.get(f"/object/{unique_name}/ten.bin").content == b"0123456789"


def test_a_chunked_body_passes_the_limit(api: httpx.Client, unique_name: str) -> None:
    # The real server's quirk (storage-api.md §4.1): a raw body sent chunked (no
    # Content-Length) bypasses the size limit. The local stack does the same by
    # default; HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS=1 refuses it
    # (test_storage_fidelity.py::test_strict_chunked_uploads_switch).
    def body() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * 8

    with bucket(api, unique_name, file_size_limit=10):
        req = api.build_request(
            "POST",
            f"/object/{unique_name}/chunked.bin",
            content=body(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert "content-length" not in req.headers
        assert req.headers["transfer-encoding"] == "chunked"
        res = api.send(req)
        assert res.status_code == 200, res.text
        assert api.get(f"/object/{unique_name}/chunked.bin").content == b"x" * 32

        # a chunked body within the limit is fine
        def small() -> Iterator[bytes]:
            yield b"12345"
            yield b"678"

        res = api.post(
            f"/object/{unique_name}/small.bin",
            content=small(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert res.status_code == 200, res.text
        assert api.get(f"/object/{unique_name}/small.bin").content == b"12345678"


def test_bucket_limit_as_a_size_string(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name, file_size_limit="1KB"):
        assert api.get(f"/bucket/{unique_name}").json()["file_size_limit"] == 1000
        assert put_raw(api, unique_name, "k.bin", b"x" * 1000).status_code == 200
        too_large(put_raw(api, unique_name, "k2.bin", b"x" * 1001))


def test_bad_size_string(api: httpx.Client, unique_name: str) -> None:
    res = api.post(
        "/bucket", json={"id": unique_name, "name": unique_name, "file_size_limit": "10XB"}
    )
    try:
        assert_error(res, http=400, status="400", error="Error", code="InvalidRequest")
    finally:
        drop_bucket(api, unique_name)


# ---------------------------------------------------------------------------
# mime types


def mime_refused(res: httpx.Response, mime: str) -> None:
    assert_error(
        res,
        http=400,
        status="415",
        error="invalid_mime_type",
        code="InvalidMimeType",
        message=f"mime type {mime} is not supported",
    )


def test_mime_type_exact(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name, allowed_mime_types=["image/png"]):
        assert put_raw(api, unique_name, "ok.png", b"png", "image/png").status_code == 200
        mime_refused(
            put_raw(api, unique_name, "doc.pdf", b"pdf", "application/pdf"), "application/pdf"
        )
        mime_refused(put_raw(api, unique_name, "x.jpg", b"jpg", "image/jpeg"), "image/jpeg")
        res = api.post(
            f"/object/{unique_name}/multi.pdf",
            files={"file": ("multi.pdf", b"pdf", "application/pdf")},
            data={"cacheControl": "3600"},
        )
        mime_refused(res, "application/pdf")
        assert object_names(api, unique_name) == ["ok.png"]


def test_mime_type_wildcard(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name, allowed_mime_types=["image/*"]):
        assert put_raw(api, unique_name, "a.png", b"png", "image/png").status_code == 200
        assert put_raw(api, unique_name, "a.webp", b"webp", "image/webp").status_code == 200
        mime_refused(put_raw(api, unique_name, "a.txt", b"txt", "text/plain"), "text/plain")


def test_mime_type_parameters_on_raw_and_multipart_uploads(
    api: httpx.Client, unique_name: str
) -> None:
    with bucket(api, unique_name, allowed_mime_types=["text/plain"]):
        assert put_raw(api, unique_name, "a.txt", b"a", "text/plain").status_code == 200
        # raw bodies: the Content-Type is compared verbatim, parameters included
        mime_refused(
            put_raw(api, unique_name, "b.txt", b"b", "text/plain;charset=UTF-8"),
            "text/plain;charset=UTF-8",
        )
        # multipart: the part's parameters are stripped (storage3's default part type)
        res = api.post(
            f"/object/{unique_name}/c.txt",
            files={"file": ("c.txt", b"c", "text/plain;charset=UTF-8")},
            data={"cacheControl": "3600"},
        )
        assert res.status_code == 200, res.text
        info = api.get(f"/object/info/{unique_name}/c.txt").json()
        assert info["content_type"] == "text/plain"
        assert sorted(object_names(api, unique_name)) == ["a.txt", "c.txt"]

    with bucket(api, f"{unique_name}-w", allowed_mime_types=["text/*"]):
        res = put_raw(api, f"{unique_name}-w", "b.txt", b"b", "text/plain;charset=UTF-8")
        assert res.status_code == 200, res.text


def test_invalid_allowed_mime_type_entry(api: httpx.Client, unique_name: str) -> None:
    res = api.post(
        "/bucket",
        json={"id": unique_name, "name": unique_name, "allowed_mime_types": ["not a mime"]},
    )
    try:
        mime_refused(res, "not a mime")
    finally:
        drop_bucket(api, unique_name)


# ---------------------------------------------------------------------------
# names and keys


@pytest.mark.parametrize(
    "template",
    ["{u}/x", "{u}-café", " {u}", "{u} ", "{u}#x", "{u}%x", "{u}\\x"],
    ids=["slash", "unicode", "leading-space", "trailing-space", "hash", "percent", "backslash"],
)
def test_invalid_bucket_name(api: httpx.Client, unique_name: str, template: str) -> None:
    name = template.format(u=unique_name)
    res = api.post("/bucket", json={"name": name})
    try:
        assert_error(
            res,
            http=400,
            status="400",
            error="Invalid Input",
            code="InvalidBucketName",
            message="Bucket name invalid",
        )
    finally:
        drop_bucket(api, name)


def test_unusual_but_valid_bucket_name(api: httpx.Client, unique_name: str) -> None:
    name = f"{unique_name} Bad Name!"
    res = api.post("/bucket", json={"name": name})
    try:
        assert res.status_code == 200, res.text
        assert res.json() == {"name": name}
        got = api.get(f"/bucket/{name}")
        assert got.status_code == 200
        assert got.json()["id"] == name  # id defaults to the name
    finally:
        drop_bucket(api, name)


@pytest.mark.parametrize(
    ("raw_key", "shown"),
    [
        ("caf%C3%A9.txt", "café.txt"),
        ("a%23b.txt", "a#b.txt"),
        ("100%25.txt", "100%.txt"),
        ("back%5Cslash.txt", "back\\slash.txt"),
    ],
)
def test_invalid_object_key(api: httpx.Client, unique_name: str, raw_key: str, shown: str) -> None:
    with bucket(api, unique_name):
        res = api.post(
            f"/object/{unique_name}/{raw_key}",
            content=b"x",
            headers={"Content-Type": "text/plain"},
        )
        assert_error(
            res,
            http=400,
            status="400",
            error="InvalidKey",
            code="InvalidKey",
            message=f"Invalid key: {shown}",
        )
        assert object_names(api, unique_name) == []


@pytest.mark.parametrize(
    "raw_path",
    ["a/%2E%2E/b.txt", "a/%2E/b.txt", "%2E%2E/escape.txt", "a/%2e%2e/%2e%2e/b.txt"],
)
def test_dot_segments_are_invalid_keys(api: httpx.Client, unique_name: str, raw_path: str) -> None:
    # %2E%2E is percent-encoded so that httpx does not normalise the path away;
    # the server decodes it to ".." and must refuse the key.
    with bucket(api, unique_name):
        url = f"/object/{unique_name}/{raw_path}"
        req = api.build_request("POST", url, content=b"x", headers={"Content-Type": "text/plain"})
        assert raw_path.lower().encode() in req.url.raw_path.lower()
        res = api.send(req)
        body = assert_error(res, http=400, status="400", error="InvalidKey", code="InvalidKey")
        assert body["message"].startswith("Invalid key")
        assert object_names(api, unique_name) == []


def test_accepted_odd_keys(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        for key in ("a//b.txt", "dir/", "with space & (parens).txt", "semi;colon=eq+plus.txt"):
            res = put_raw(api, unique_name, key, key.encode(), "text/plain")
            assert res.status_code == 200, (key, res.text)
            assert res.json()["Key"] == f"{unique_name}/{key}"


# ---------------------------------------------------------------------------
# authentication


def test_missing_authorization(bare: httpx.Client, unique_name: str) -> None:
    # routes with a header schema: the gateway forwards an empty Authorization, which
    # fails the JWT check (storage-js's "handles missing authorization errors" test)
    assert_error(
        bare.get("/bucket"),
        http=400,
        status="403",
        error="Unauthorized",
        code="AccessDenied",
        message="Invalid Compact JWS",
    )
    # routes without one (list-v2, TUS) fail in the JWT check instead
    assert_error(
        bare.post(f"/object/list-v2/{unique_name}", json={}),
        http=400,
        status="403",
        error="Unauthorized",
        code="AccessDenied",
        message="Invalid Compact JWS",
    )


def test_apikey_alone_is_used_as_the_bearer_token(bare: httpx.Client, stack: Any) -> None:
    # The Storage API itself reads only Authorization, but requests reach it through
    # Supabase's gateway, which uses a lone ``apikey`` as the bearer token; the local
    # stack is the gateway and the Storage API in one, so it does the same.
    assert bare.get("/bucket", headers={"apikey": stack.service_role_key}).status_code == 200
    # the lone apikey's role is the request's role: anon may not empty a bucket
    assert_error(
        bare.post("/bucket/any/empty", json={}, headers={"apikey": stack.anon_key}),
        http=403,
        status="403",
        error="Unauthorized",
        code="AccessDenied",
        message="Access denied: Invalid role",
    )
    # ... and a bad apikey fails exactly as a bad bearer token does
    assert_error(
        bare.get("/bucket", headers={"apikey": "not-a-jwt"}),
        http=400,
        status="403",
        error="Unauthorized",
        code="AccessDenied",
        message="Invalid Compact JWS",
    )


def _bad_token(bare: httpx.Client, token: str, message: str) -> None:
    res = bare.get("/bucket", headers={"Authorization": f"Bearer {token}"})
    assert_error(
        res, http=400, status="403", error="Unauthorized", code="AccessDenied", message=message
    )


def test_garbage_jwt(bare: httpx.Client) -> None:
    _bad_token(bare, "not-a-jwt", "Invalid Compact JWS")


def test_jwt_signed_with_the_wrong_secret(bare: httpx.Client) -> None:
    token = jwt.encode(
        {"role": "service_role", "exp": int(time.time()) + 3600},
        "this-is-not-the-secret-of-the-target-at-all",
        algorithm="HS256",
    )
    _bad_token(bare, token, "signature verification failed")


def test_expired_jwt(bare: httpx.Client, stack: Any) -> None:
    token = stack.mint_jwt({"role": "service_role", "exp": int(time.time()) - 60})
    _bad_token(bare, token, '"exp" claim timestamp check failed')


@pytest.mark.filterwarnings("ignore:The HMAC key is .* bytes long")
def test_jwt_with_another_algorithm(bare: httpx.Client, stack: Any) -> None:
    if stack.jwt_secret is None:
        pytest.skip("needs the target's JWT secret")
    token = jwt.encode(
        {"role": "service_role", "exp": int(time.time()) + 3600},
        stack.jwt_secret,
        algorithm="HS512",
    )
    _bad_token(bare, token, '"alg" (Algorithm) Header Parameter value not allowed')


def test_token_without_bearer_prefix_and_lowercase_bearer(bare: httpx.Client, stack: Any) -> None:
    for value in (stack.service_role_key, f"bearer {stack.service_role_key}"):
        res = bare.get("/bucket", headers={"Authorization": value})
        assert res.status_code == 200, res.text
        assert isinstance(res.json(), list)


def test_jwt_without_role_is_anon(bare: httpx.Client, stack: Any, unique_name: str) -> None:
    token = stack.mint_jwt({"sub": str(uuid.uuid4()), "exp": int(time.time()) + 3600})
    res = bare.post(
        "/bucket",
        json={"name": unique_name},
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        rls_insert_denied(res)
    finally:
        with httpx.Client(
            base_url=f"{stack.url}/storage/v1", headers=_headers(stack.service_role_key)
        ) as api:
            drop_bucket(api, unique_name)


def test_jwt_with_an_unknown_role(bare: httpx.Client, stack: Any) -> None:
    # Supabase answers 500 "database error, code: 22023" (no such role to switch to); the
    # local stack refuses every role but the three before the database (issue 13).
    token = stack.mint_jwt({"role": "no_such_role_here", "exp": int(time.time()) + 3600})
    res = bare.get("/bucket", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 400 and res.json()["statusCode"] == "403"
    assert res.json()["error"] == "Unauthorized"


# ---------------------------------------------------------------------------
# roles and RLS


def test_empty_bucket_needs_the_service_role(
    api: httpx.Client, anon: httpx.Client, unique_name: str
) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "keep.txt", b"x")
        res = anon.post(f"/bucket/{unique_name}/empty", json={})
        assert_error(
            res,
            http=403,  # the one route that enforces a role in the HTTP layer
            status="403",
            error="Unauthorized",
            code="AccessDenied",
            message="Access denied: Invalid role",
        )
        assert object_names(api, unique_name) == ["keep.txt"]


def test_anon_upload_without_policy(
    api: httpx.Client, anon: httpx.Client, unique_name: str
) -> None:
    with bucket(api, unique_name):
        rls_insert_denied(put_raw(anon, unique_name, "anon.txt", b"x", "text/plain"))
        res = anon.post(
            f"/object/{unique_name}/anon2.txt",
            files={"file": ("anon2.txt", b"x", "text/plain")},
            data={"cacheControl": "3600"},
            headers={"x-upsert": "false"},
        )
        rls_insert_denied(res)
        rls_insert_denied(anon.post(f"/object/upload/sign/{unique_name}/anon3.txt"))
        assert object_names(api, unique_name) == []


def test_anon_cannot_create_buckets(
    api: httpx.Client, anon: httpx.Client, unique_name: str
) -> None:
    try:
        rls_insert_denied(anon.post("/bucket", json={"name": unique_name}))
    finally:
        drop_bucket(api, unique_name)
    not_found_bucket(api.get(f"/bucket/{unique_name}"))


def test_anon_sees_nothing_of_a_private_bucket(
    api: httpx.Client, anon: httpx.Client, unique_name: str
) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "private.txt", b"private", "text/plain")
        put_raw(api, unique_name, "dir/deeper.txt", b"private", "text/plain")

        res = anon.post(f"/object/list/{unique_name}", json={"prefix": ""})
        assert res.status_code == 200
        assert res.json() == []

        res = anon.post(f"/object/list-v2/{unique_name}", json={"with_delimiter": True})
        assert res.status_code == 200
        listed = res.json()
        assert (listed["folders"], listed["objects"]) == ([], [])

        # RLS hides the bucket row from anon (no policies on storage.buckets)
        not_found_bucket(anon.get(f"/bucket/{unique_name}"))
        assert unique_name not in {b["id"] for b in anon.get("/bucket").json()}

        # ...and the object row: the download is a 404 in the body, never the bytes.
        res = anon.get(f"/object/{unique_name}/private.txt")
        assert res.status_code == 400
        assert b"private" not in res.content
        body = res.json()
        assert body["statusCode"] == "404"
        assert body["code"] in ("NoSuchKey", "NoSuchBucket")

        # a bulk delete filtered away by RLS deletes nothing and says so with []
        res = anon.request("DELETE", f"/object/{unique_name}", json={"prefixes": ["private.txt"]})
        assert res.status_code == 200
        assert res.json() == []
        assert sorted(object_names(api, unique_name)) == ["dir/deeper.txt", "private.txt"]


@pytest.fixture
def db(stack: Any) -> Iterator[Any]:
    if stack.db_url is None:
        pytest.skip("RLS policies need the target's database URL")
    import psycopg

    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


def _user(stack: Any) -> tuple[str, httpx.Client]:
    sub = str(uuid.uuid4())
    token = stack.mint_jwt(
        {
            "sub": sub,
            "role": "authenticated",
            "aud": "authenticated",
            "exp": int(time.time()) + 3600,
        }
    )
    client = httpx.Client(
        base_url=f"{stack.url}/storage/v1", headers=_headers(stack.anon_key, bearer=token)
    )
    return sub, client


def test_rls_policy_own_folder(api: httpx.Client, stack: Any, db: Any, unique_name: str) -> None:
    insert_policy = f"{unique_name}_insert_own"
    select_policy = f"{unique_name}_select_own"
    condition = f"bucket_id = '{unique_name}' and (storage.foldername(name))[1] = auth.uid()::text"
    alice_id, alice = _user(stack)
    bob_id, bob = _user(stack)
    with bucket(api, unique_name):
        try:
            db.execute(
                f'create policy "{insert_policy}" on storage.objects '
                f"for insert to authenticated with check ({condition})"
            )
            db.execute(
                f'create policy "{select_policy}" on storage.objects '
                f"for select to authenticated using ({condition})"
            )

            # own folder: allowed
            res = put_raw(alice, unique_name, f"{alice_id}/notes.txt", b"alice's", "text/plain")
            assert res.status_code == 200, res.text
            assert res.json()["Key"] == f"{unique_name}/{alice_id}/notes.txt"
            assert alice.get(f"/object/{unique_name}/{alice_id}/notes.txt").content == b"alice's"
            info = alice.get(f"/object/info/{unique_name}/{alice_id}/notes.txt")
            assert info.status_code == 200, info.text

            # the owner is recorded from the JWT's sub
            row = db.execute(
                "select owner::text, owner_id from storage.objects where bucket_id = %s",
                (unique_name,),
            ).fetchone()
            assert row == (alice_id, alice_id)

            # someone else's folder: refused, and nothing is stored
            rls_insert_denied(
                put_raw(alice, unique_name, f"{bob_id}/planted.txt", b"x", "text/plain")
            )
            rls_insert_denied(put_raw(alice, unique_name, "top-level.txt", b"x", "text/plain"))

            # the other user can neither see nor fetch alice's object
            path = f"{alice_id}/notes.txt"
            not_found_object(bob.get(f"/object/{unique_name}/{path}"))
            not_found_object(bob.get(f"/object/authenticated/{unique_name}/{path}"))
            not_found_object(bob.get(f"/object/info/{unique_name}/{path}"))
            not_found_object(bob.post(f"/object/sign/{unique_name}/{path}", json={"expiresIn": 60}))
            res = bob.post(f"/object/list/{unique_name}", json={"prefix": alice_id})
            assert res.status_code == 200 and res.json() == []
            res = alice.post(f"/object/list/{unique_name}", json={"prefix": alice_id})
            assert [e["name"] for e in res.json()] == ["notes.txt"]

            # no delete policy: a single delete is refused, a bulk delete deletes nothing
            assert_error(
                alice.request("DELETE", f"/object/{unique_name}/{path}"),
                http=400,
                status="403",
                error="Unauthorized",
                code="AccessDenied",
                message="Access denied",
            )
            res = alice.request("DELETE", f"/object/{unique_name}", json={"prefixes": [path]})
            assert res.status_code == 200 and res.json() == []

            assert sorted(object_names(api, unique_name)) == [path]
        finally:
            db.execute(f'drop policy if exists "{insert_policy}" on storage.objects')
            db.execute(f'drop policy if exists "{select_policy}" on storage.objects')
            alice.close()
            bob.close()


# ---------------------------------------------------------------------------
# signed URL tokens


def test_signed_url_token_errors(api: httpx.Client, stack: Any, unique_name: str) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "a.txt", b"a", "text/plain")
        put_raw(api, unique_name, "b.txt", b"b", "text/plain")
        signed = api.post(f"/object/sign/{unique_name}/a.txt", json={"expiresIn": 60})
        assert signed.status_code == 200
        signed_url = signed.json()["signedURL"]
        assert signed_url.startswith(f"/object/sign/{unique_name}/a.txt?token=")
        token = signed_url.split("token=", 1)[1]

        with httpx.Client(base_url=f"{stack.url}/storage/v1") as public:
            ok = public.get(signed_url)
            assert ok.status_code == 200 and ok.content == b"a"
            assert "expires" in ok.headers

            assert_error(
                public.get(f"/object/sign/{unique_name}/b.txt", params={"token": token}),
                http=400,
                status="400",
                error="InvalidSignature",
                code="InvalidSignature",
                message="Invalid signature",
            )
            assert_error(
                public.get(f"/object/sign/{unique_name}/a.txt", params={"token": "garbage"}),
                http=400,
                status="400",
                error="InvalidJWT",
                code="InvalidJWT",
            )
            # a download token is not an upload token
            assert_error(
                public.put(
                    f"/object/upload/sign/{unique_name}/a.txt",
                    params={"token": token},
                    content=b"overwrite",
                    headers={"Content-Type": "text/plain"},
                ),
                http=400,
                status="400",
                error="InvalidSignature",
                code="InvalidSignature",
                message="Token is not scoped for upload",
            )
            if stack.jwt_secret is not None:
                now = int(time.time())
                claims = {"url": f"{unique_name}/a.txt", "scope": "download"}
                expired = jwt.encode(
                    {**claims, "iat": now - 120, "exp": now - 60},
                    stack.jwt_secret,
                    algorithm="HS256",
                )
                assert_error(
                    public.get(f"/object/sign/{unique_name}/a.txt", params={"token": expired}),
                    http=400,
                    status="400",
                    error="InvalidJWT",
                    code="InvalidJWT",
                    message='"exp" claim timestamp check failed',
                )
        assert api.get(f"/object/{unique_name}/a.txt").content == b"a"


def test_sign_expires_in_must_be_positive(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        put_raw(api, unique_name, "a.txt", b"a")
        res = api.post(f"/object/sign/{unique_name}/a.txt", json={"expiresIn": 0})
        assert_error(
            res,
            http=400,
            status="400",
            error="Error",
            code="InvalidRequest",
            message="body/expiresIn must be >= 1",
        )


# ---------------------------------------------------------------------------
# request validation


def test_list_requires_a_prefix(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        res = api.post(f"/object/list/{unique_name}", json={"limit": 10})
        assert_error(
            res,
            http=400,
            status="400",
            error="Error",
            code="InvalidRequest",
            message="body must have required property 'prefix'",
        )


def test_invalid_json_body(api: httpx.Client, unique_name: str) -> None:
    res = api.post("/bucket", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(
        res,
        http=400,
        status="400",
        error="FastifyError",
        code="InvalidRequest",
        message="Body is not valid JSON but content-type is set to 'application/json'",
    )


# ---------------------------------------------------------------------------
# unknown routes


def test_unknown_route_under_object(api: httpx.Client) -> None:
    res = api.post("/object/pub")
    assert_error(
        res,
        http=404,
        status="404",
        error="Not Found",
        code="InvalidRequest",
        message="Route POST:/object/pub not found",
    )


def test_unknown_route_elsewhere_in_storage(api: httpx.Client) -> None:
    res = api.get("/no-such-thing")
    assert res.status_code == 404
    assert res.json() == {
        "message": "Route GET:/no-such-thing not found",
        "error": "Not Found",
        "statusCode": 404,
    }


def test_unknown_path_outside_the_services(stack: Any) -> None:
    res = httpx.get(f"{stack.url}/definitely/not/a/service", headers=_headers(stack.anon_key))
    assert res.status_code == 404


# ---------------------------------------------------------------------------
# shape of the success answers the errors are contrasted with


def test_health_endpoints(stack: Any) -> None:
    assert httpx.get(f"{stack.url}/storage/v1/status").status_code == 200
    version = httpx.get(f"{stack.url}/storage/v1/version")
    assert version.status_code == 200
    assert version.text


def test_raw_upload_metadata_header(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        meta = base64.b64encode(json.dumps({"team": "qa"}).encode()).decode()
        res = put_raw(
            api,
            unique_name,
            "m.txt",
            b"m",
            "text/plain",
            headers={"x-metadata": meta, "Cache-Control": "max-age=42"},
        )
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["Key"] == f"{unique_name}/m.txt"
        uuid.UUID(body["Id"])
        info = api.get(f"/object/info/{unique_name}/m.txt").json()
        assert info["metadata"] == {"team": "qa"}
        assert info["cache_control"] == "max-age=42"
        assert info["content_type"] == "text/plain"
