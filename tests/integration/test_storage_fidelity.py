"""The last differences from the real Storage API (issue 19), on the wire.

Each test pins what the real server answers (shared/reference/storage-api.md, and
supabase/storage's and @tus/server 2.4.2's source where the reference is silent):
requests without any credentials, a bucket update with nothing to change,
``owner_id`` in copy and delete-many answers, the TUS answers' headers, ranges past
the end, malformed upload ids, and the one stricter behaviour the local stack keeps
behind a switch (chunked uploads over the limit). Runs against the local stack or a
``HYBRIDKIT_TEST_URL`` target; tests of the local stack's own switch skip on a live one.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

TUS = {"Tus-Resumable": "1.0.0"}
# Neither Authorization nor apikey: Supabase's gateway forwards an empty Authorization,
# so the service answers the JWT error (not the bare server's header-schema error).
NO_CREDENTIALS = (400, "403", "Unauthorized", "AccessDenied", "Invalid Compact JWS")
# @tus/server 2.4.2's list, with the trailing comma its join of an empty list leaves
EXPOSED = (
    "Authorization, Content-Type, Location, Tus-Extension, Tus-Max-Size, Tus-Resumable, "
    "Tus-Version, Upload-Concat, Upload-Defer-Length, Upload-Length, Upload-Metadata, "
    "Upload-Offset, X-HTTP-Method-Override, X-Requested-With, X-Forwarded-Host, "
    "X-Forwarded-Proto, Forwarded,"
)


def error_of(res: httpx.Response) -> tuple[int, str, str, str, str]:
    """(HTTP status, statusCode, error, code, message) of a JSON error."""
    body = res.json()
    assert list(body) == ["statusCode", "error", "message", "code"], body
    return res.status_code, body["statusCode"], body["error"], body["code"], body["message"]


@contextmanager
def bucket(api: httpx.Client, name: str, **options: Any) -> Iterator[str]:
    res = api.post("/bucket", json={"name": name, **options})
    assert res.status_code == 200, res.text
    try:
        yield name
    finally:
        with suppress(httpx.HTTPError):
            api.post(f"/bucket/{name}/empty", json={})
            api.request("DELETE", f"/bucket/{name}", json={})


def put(api: httpx.Client, name: str, key: str, data: bytes) -> None:
    res = api.post(f"/object/{name}/{key}", content=data, headers={"content-type": "text/plain"})
    assert res.status_code == 200, res.text


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def tus_create(api: httpx.Client, name: str, key: str, length: int) -> httpx.Response:
    meta = f"bucketName {_b64(name)},objectName {_b64(key)},contentType {_b64('text/plain')}"
    return api.post(
        "/upload/resumable",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": f"{meta},cacheControl {_b64('60')}",
        },
    )


def tus_patch(api: httpx.Client, url: str, offset: int, data: bytes) -> httpx.Response:
    headers = {
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    return api.patch(url, content=data, headers=headers)


# --- no credentials at all -----------------------------------------------------------------


_TRANSFER = {"bucketId": "b", "sourceKey": "a.txt", "destinationKey": "c.txt"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/bucket", None),
        ("POST", "/bucket", {"name": "b"}),
        ("GET", "/bucket/b", None),
        ("PUT", "/bucket/b", {"public": True}),
        ("DELETE", "/bucket/b", None),
        ("POST", "/bucket/b/empty", None),
        ("POST", "/object/list/b", {"prefix": ""}),
        ("POST", "/object/b/k.txt", None),
        ("PUT", "/object/b/k.txt", None),
        ("DELETE", "/object/b/k.txt", None),
        ("DELETE", "/object/b", {"prefixes": ["k.txt"]}),
        ("GET", "/object/authenticated/b/k.txt", None),
        ("GET", "/object/info/authenticated/b/k.txt", None),
        ("POST", "/object/sign/b/k.txt", {"expiresIn": 60}),
        ("POST", "/object/sign/b", {"expiresIn": 60, "paths": ["k.txt"]}),
        ("POST", "/object/upload/sign/b/k.txt", None),
        ("POST", "/object/move", _TRANSFER),
        ("POST", "/object/copy", _TRANSFER),
    ],
)
def test_no_credentials_on_a_route_with_a_header_schema(
    bare: httpx.Client, method: str, path: str, body: Any
) -> None:
    # Neither Authorization nor apikey: the JWT error, never an anonymous request.
    # (The body, valid here, is validated before the JWT on the real server.)
    res = bare.request(method, path, json=body)
    assert error_of(res) == NO_CREDENTIALS


def test_no_credentials_and_a_bad_body(bare: httpx.Client) -> None:
    # fastify validates the body and the querystring before the JWT is checked: their
    # errors come first, then the JWT error.
    res = bare.post("/bucket", json={})
    message = "body must have required property 'name'"
    assert error_of(res) == (400, "400", "Error", "InvalidRequest", message)
    res = bare.post("/object/list/b", json={"prefix": 3, "limit": 0})
    assert error_of(res)[4] == "body/limit must be >= 1"
    res = bare.get("/bucket", params={"limit": "many"})
    assert error_of(res)[4] == "querystring/limit must be integer"
    res = bare.post("/object/sign/b/k.txt")  # no JSON body at all
    assert error_of(res)[4] == "body must be object"
    # routes without a body schema: the JWT error
    res = bare.post("/object/b/k.txt", content=b"x")
    assert error_of(res) == NO_CREDENTIALS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/object/list-v2/b"),
        ("POST", "/upload/resumable"),
        ("PATCH", "/upload/resumable/YS9iL2M"),
        ("DELETE", "/upload/resumable/YS9iL2M"),
    ],
)
def test_no_credentials_on_a_route_without_one(bare: httpx.Client, method: str, path: str) -> None:
    # No header schema: the JWT check itself fails on the empty token.
    res = bare.request(method, path, headers=TUS)
    assert error_of(res) == (400, "403", "Unauthorized", "AccessDenied", "Invalid Compact JWS")


def test_no_credentials_on_tus_head(bare: httpx.Client) -> None:
    # The same JSON error (a HEAD answer has no body to show it)
    res = bare.head("/upload/resumable/YS9iL2M", headers=TUS)
    assert res.status_code == 400
    assert res.headers["content-type"].startswith("application/json")


def test_no_credentials_on_the_optional_routes_is_anon(
    api: httpx.Client, bare: httpx.Client, unique_name: str
) -> None:
    # allowInvalidJwt routes (GET/HEAD /object/<bucket>/<key>, /object/info/<bucket>/<key>)
    # read as anon: a public bucket's object is served, a private one is not found.
    public, private = f"{unique_name}-pub", f"{unique_name}-priv"
    with bucket(api, public, public=True), bucket(api, private):
        put(api, public, "p.txt", b"public bytes")
        put(api, private, "s.txt", b"secret")
        assert bare.get(f"/object/{public}/p.txt").content == b"public bytes"
        assert bare.head(f"/object/{public}/p.txt").status_code == 200
        assert bare.get(f"/object/info/{public}/p.txt").json()["name"] == "p.txt"
        # a garbage token on these routes is anon too
        garbage = {"Authorization": "Bearer not-a-jwt"}
        assert bare.get(f"/object/{public}/p.txt", headers=garbage).status_code == 200
        for res in (
            bare.get(f"/object/{private}/s.txt"),
            bare.get(f"/object/info/{private}/s.txt"),
            bare.get(f"/object/{private}/s.txt", headers=garbage),
        ):
            assert error_of(res) == (
                400,
                "404",
                "Bucket not found",
                "NoSuchBucket",
                "Bucket not found",
            )
        assert bare.head(f"/object/{private}/s.txt").status_code == 400


# --- PUT /bucket/<id> with nothing to change --------------------------------------------------


def test_update_bucket_with_an_empty_body(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        # no body at all (no content type): fastify validates `undefined`
        res = api.put(f"/bucket/{unique_name}")
        assert error_of(res) == (400, "400", "Error", "InvalidRequest", "body must be object")
        # an empty body declared as JSON: fastify's own parser error
        res = api.put(
            f"/bucket/{unique_name}", content=b"", headers={"content-type": "application/json"}
        )
        message = "Body cannot be empty when content-type is set to 'application/json'"
        assert error_of(res) == (400, "400", "FastifyError", "InvalidRequest", message)
        # {} (or only id/name, as storage-js sends): the schema's anyOf, every branch named
        anyof = (
            "body must have required property 'public', "
            "body must have required property 'file_size_limit', "
            "body must have required property 'allowed_mime_types', "
            "body must match a schema in anyOf"
        )
        for body in ({}, {"id": unique_name, "name": unique_name}):
            res = api.put(f"/bucket/{unique_name}", json=body)
            assert error_of(res) == (400, "400", "Error", "InvalidRequest", anyof)
        # one of the three is enough
        res = api.put(f"/bucket/{unique_name}", json={"public": True})
        assert res.json() == {"message": "Successfully updated"}
        assert api.get(f"/bucket/{unique_name}").json()["public"] is True


# --- owner_id in copy and delete-many -----------------------------------------------------------


def test_owner_id_without_a_sub_is_an_empty_string(api: httpx.Client, unique_name: str) -> None:
    # The service key has no sub: owner_id is NULL, and objectSchema's string type
    # makes it "" on the wire (fast-json-stringify), as `owner` is.
    with bucket(api, unique_name):
        put(api, unique_name, "a.txt", b"a")
        copied = api.post(
            "/object/copy",
            json={"bucketId": unique_name, "sourceKey": "a.txt", "destinationKey": "b.txt"},
        ).json()
        assert (copied["owner"], copied["owner_id"]) == ("", "")
        assert copied["Key"] == f"{unique_name}/b.txt" and copied["Id"] == copied["id"]
        assert list(copied)[2:] == [
            "name", "bucket_id", "owner", "owner_id", "version", "id", "updated_at",
            "created_at", "last_accessed_at", "metadata", "user_metadata",
        ]  # fmt: skip
        removed = api.request(
            "DELETE", f"/object/{unique_name}", json={"prefixes": ["a.txt", "b.txt"]}
        ).json()
        assert sorted(row["name"] for row in removed) == ["a.txt", "b.txt"]
        for row in removed:
            assert (row["owner"], row["owner_id"]) == ("", "")
            assert isinstance(row["version"], str) and row["version"]


def test_owner_id_is_the_jwt_sub(api: httpx.Client, stack: Any, unique_name: str) -> None:
    sub = str(uuid.uuid4())
    token = stack.mint_jwt({"role": "service_role", "sub": sub, "exp": int(time.time()) + 600})
    user = {"Authorization": f"Bearer {token}", "apikey": stack.anon_key}
    with bucket(api, unique_name):
        put(api, unique_name, "a.txt", b"a")
        copied = api.post(
            "/object/copy",
            json={"bucketId": unique_name, "sourceKey": "a.txt", "destinationKey": "b.txt"},
            headers=user,
        ).json()
        assert (copied["owner"], copied["owner_id"]) == (sub, sub)
        removed = api.request(
            "DELETE", f"/object/{unique_name}", json={"prefixes": ["b.txt"]}, headers=user
        ).json()
        assert [(row["owner"], row["owner_id"]) for row in removed] == [(sub, sub)]
        # a sub that is not a UUID is kept as text; the uuid column stays empty
        token = stack.mint_jwt(
            {"role": "service_role", "sub": "user-42", "exp": int(time.time()) + 600}
        )
        copied = api.post(
            "/object/copy",
            json={"bucketId": unique_name, "sourceKey": "a.txt", "destinationKey": "c.txt"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert (copied["owner"], copied["owner_id"]) == ("", "user-42")


# --- TUS answers --------------------------------------------------------------------------------


def _assert_tus_cors(res: httpx.Response) -> None:
    assert res.headers["tus-resumable"] == "1.0.0"
    assert res.headers["access-control-allow-origin"] == "*"
    assert res.headers["access-control-expose-headers"] == EXPOSED


def test_tus_answers_carry_the_real_headers(
    api: httpx.Client, stack: Any, unique_name: str
) -> None:
    with bucket(api, unique_name):
        created = tus_create(api, unique_name, "t.txt", 6)
        assert created.status_code == 201, created.text
        _assert_tus_cors(created)
        assert created.headers["content-type"] == "text/plain;charset=UTF-8"
        assert created.content == b""
        location = created.headers["location"]

        head = api.head(location, headers=TUS)
        assert head.status_code == 200
        _assert_tus_cors(head)
        assert head.headers["content-type"] == "text/plain;charset=UTF-8"
        assert head.headers["cache-control"] == "no-store"
        assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("0", "6")
        # Upload-Metadata as stored: cacheControl already turned into max-age=60
        pairs = dict(pair.split(" ") for pair in head.headers["upload-metadata"].split(","))
        assert list(pairs) == ["bucketName", "objectName", "contentType", "cacheControl"]
        assert base64.b64decode(pairs["cacheControl"]) == b"max-age=60"

        half = tus_patch(api, location, 0, b"abc")
        assert (half.status_code, half.headers["upload-offset"]) == (204, "3")
        _assert_tus_cors(half)
        assert "content-type" not in half.headers and "tus-complete" not in half.headers
        done = tus_patch(api, location, 3, b"def")
        assert (done.status_code, done.headers["tus-complete"]) == (204, "1")
        _assert_tus_cors(done)

        second = tus_create(api, unique_name, "u.txt", 6)
        gone = api.delete(second.headers["location"], headers=TUS)
        assert gone.status_code == 204
        _assert_tus_cors(gone)
        assert "content-type" not in gone.headers

        conflict = tus_patch(api, location, 0, b"x")
        assert conflict.status_code == 409
        _assert_tus_cors(conflict)
        assert conflict.headers["content-type"] == "text/plain;charset=UTF-8"

        options = api.options("/upload/resumable")
        _assert_tus_cors(options)

        if stack.local:
            # The order a Fetch Headers object sends (sorted); a gateway may reorder.
            names = [name.decode() for name, _ in created.headers.raw]
            ours = [n for n in names if n not in ("date", "server", "connection")]
            assert ours == sorted(ours), ours


def test_tus_protocol_header_checks(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        # no Tus-Resumable: 412 before the CORS headers are set
        res = api.post("/upload/resumable", headers={"Upload-Length": "1"})
        assert (res.status_code, res.text) == (412, "Tus-Resumable Required\n")
        assert "access-control-expose-headers" not in res.headers
        # invalid protocol headers are named, lowercased
        res = api.post("/upload/resumable", headers={**TUS, "Upload-Length": "01"})
        assert (res.status_code, res.text) == (400, "Invalid upload-length\n")
        res = api.post("/upload/resumable", headers={"Tus-Resumable": "0.2.2"})
        assert (res.status_code, res.text) == (400, "Invalid tus-resumable\n")
        res = api.post(
            "/upload/resumable", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": "a,a"}
        )
        assert (res.status_code, res.text) == (400, "Invalid upload-metadata\n")
        # both lengths at once
        res = api.post(
            "/upload/resumable",
            headers={**TUS, "Upload-Length": "1", "Upload-Defer-Length": "1"},
        )
        assert res.text == "Upload-Length or Upload-Defer-Length header required\n"

        location = tus_create(api, unique_name, "p.txt", 3).headers["location"]
        res = api.patch(
            location, content=b"x", headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/x"}
        )
        assert (res.status_code, res.text) == (400, "Invalid content-type\n")
        res = api.patch(location, content=b"x", headers=TUS)
        assert (res.status_code, res.text) == (403, "Upload-Offset header required\n")


@pytest.mark.parametrize(
    ("raw_id", "message"),
    [
        ("garbage", "Invalid upload id"),  # decodes to no "/" at all
        (base64.urlsafe_b64encode(b"bucket/").decode().rstrip("="), "Version not provided"),
        (base64.urlsafe_b64encode(b"Bad#Bucket/k/v").decode().rstrip("="), "Bucket name invalid"),
    ],
)
def test_malformed_tus_upload_ids(api: httpx.Client, raw_id: str, message: str) -> None:
    # The id is read before the upload is looked up: 400, not 404.
    assert api.head(f"/upload/resumable/{raw_id}", headers=TUS).status_code == 400
    res = api.delete(f"/upload/resumable/{raw_id}", headers=TUS)
    assert (res.status_code, res.text) == (400, message)
    # well formed but unknown: 404
    unknown = base64.urlsafe_b64encode(f"b/k/{uuid.uuid4()}".encode()).decode().rstrip("=")
    assert api.head(f"/upload/resumable/{unknown}", headers=TUS).status_code == 404


def test_delete_of_a_finished_upload(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        location = tus_create(api, unique_name, "done.txt", 2).headers["location"]
        assert tus_patch(api, location, 0, b"ok").status_code == 204
        res = api.delete(location, headers=TUS)
        assert (res.status_code, res.text) == (409, "The resource already exists")
        assert api.get(f"/object/{unique_name}/done.txt").content == b"ok"


# --- downloads, service -------------------------------------------------------------------------


def test_range_past_the_end(api: httpx.Client, unique_name: str) -> None:
    with bucket(api, unique_name):
        put(api, unique_name, "r.txt", b"0123456789")
        res = api.get(f"/object/{unique_name}/r.txt", headers={"Range": "bytes=10-"})
        assert error_of(res) == (
            416,
            "416",
            "invalid_range",
            "InvalidRange",
            "invalid range provided",
        )
        assert "content-range" not in res.headers
        res = api.get(f"/object/{unique_name}/r.txt", headers={"Range": "bytes=8-99"})
        assert (res.status_code, res.headers["content-range"]) == (206, "bytes 8-9/10")


def test_version(bare: httpx.Client, stack: Any) -> None:
    res = bare.get("/version")
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/plain; charset=utf-8"
    # "0.0.0" unless the server was built with VERSION (hosted images are)
    if stack.local:
        assert res.text == "0.0.0"
    else:
        assert res.text and "\n" not in res.text


# --- the local stack's one stricter switch ---------------------------------------------------


@contextmanager
def _second_server(stack: Any, data_dir: Path, **options: Any) -> Iterator[str]:
    """The stack's app, built with ``options``, on the stack's database, served on a free port."""
    import uvicorn

    from hybridkit.local.app import create_app
    from hybridkit.local.auth import Keys
    from hybridkit.local.config import ServerConfig

    keys = Keys(stack.jwt_secret, stack.anon_key, stack.service_role_key, "sbp_" + "0" * 40)
    config = ServerConfig(
        db_dsn=stack.db_url, data_dir=data_dir, keys=keys, public_url="", **options
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the second server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_strict_chunked_uploads_switch(stack: Any, unique_name: str, tmp_path: Path) -> None:
    # The real server lets a chunked raw body past every limit (the default here too,
    # test_error_fidelity.py::test_a_chunked_body_passes_the_limit);
    # HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS=1 (ServerConfig.strict_chunked_uploads)
    # counts it as it streams and refuses it like a declared one.
    if not stack.local:
        pytest.skip("a switch of the local stack's own")

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * 8

    with _second_server(stack, tmp_path, strict_chunked_uploads=True) as url:
        headers = {"apikey": stack.service_role_key}
        strict = httpx.Client(base_url=f"{url}/storage/v1", headers=headers, timeout=60)
        with strict, bucket(strict, unique_name, file_size_limit=10):
            res = strict.post(
                f"/object/{unique_name}/chunked.bin",
                content=chunks(),
                headers={"content-type": "application/octet-stream"},
            )
            assert error_of(res) == (
                400, "413", "Payload too large", "EntityTooLarge",
                "The object exceeded the maximum allowed size",
            )  # fmt: skip
            assert strict.post(f"/object/list/{unique_name}", json={"prefix": ""}).json() == []
            res = strict.post(
                f"/object/{unique_name}/small.bin",
                content=iter([b"12345", b"678"]),
                headers={"content-type": "application/octet-stream"},
            )
            assert res.status_code == 200, res.text
