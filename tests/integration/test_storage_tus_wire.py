"""TUS resumable uploads on the wire (``/storage/v1/upload/resumable``), raw httpx.

What Supabase's ``@tus/server`` set-up answers (shared/reference/storage-api.md §7):
text/plain errors with real HTTP statuses, an absolute ``Location``, offsets that
survive a cut connection, and completion through the same path as REST uploads.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import httpx
import pytest

TUS = {"Tus-Resumable": "1.0.0"}


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def metadata(bucket: str, key: str, **extra: str) -> str:
    pairs = {"bucketName": bucket, "objectName": key, **extra}
    return ",".join(f"{name} {_b64(value)}" for name, value in pairs.items())


@pytest.fixture
def tus_bucket(api: httpx.Client, unique_name: str) -> Iterator[str]:
    res = api.post(
        "/bucket",
        json={"name": unique_name, "file_size_limit": 1000, "allowed_mime_types": ["text/*"]},
    )
    assert res.status_code == 200, res.text
    try:
        yield unique_name
    finally:
        with suppress(httpx.HTTPError):
            api.post(f"/bucket/{unique_name}/empty", json={})
            api.request("DELETE", f"/bucket/{unique_name}", json={})


def create(api: httpx.Client, bucket: str, key: str, length: int, **headers: str) -> httpx.Response:
    return api.post(
        "/upload/resumable",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(bucket, key, contentType="text/plain", cacheControl="60"),
            **headers,
        },
    )


def patch(
    api: httpx.Client, url: str, offset: int, data: bytes, *, upsert: bool = False
) -> httpx.Response:
    return api.patch(
        url,
        content=data,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **({"x-upsert": "true"} if upsert else {}),
        },
    )


def test_options_advertises_the_server(api: httpx.Client) -> None:
    res = api.options("/upload/resumable")
    assert res.status_code == 204
    assert res.headers["tus-resumable"] == "1.0.0"
    assert res.headers["tus-version"] == "1.0.0"
    assert res.headers["tus-extension"] == (
        "creation,creation-with-upload,creation-defer-length,termination,expiration"
    )
    assert int(res.headers["tus-max-size"]) > 0
    assert "x-signature" in res.headers["access-control-allow-headers"]


def test_full_upload_in_odd_chunks(api: httpx.Client, stack: Any, tus_bucket: str) -> None:
    data = b"0123456789" * 50
    res = create(api, tus_bucket, "t/odd.txt", len(data))
    assert res.status_code == 201, res.text
    location = res.headers["location"]
    assert location.startswith(f"{stack.url}/storage/v1/upload/resumable/")
    upload_id = location.rsplit("/", 1)[1]
    decoded = base64.urlsafe_b64decode(upload_id + "=" * (-len(upload_id) % 4)).decode()
    assert decoded.startswith(f"{tus_bucket}/t/odd.txt/")

    head = api.head(location, headers=TUS)
    assert head.headers["upload-offset"] == "0"
    assert head.headers["upload-length"] == str(len(data))
    assert head.headers["cache-control"] == "no-store"

    offset = 0
    for size in (5, 6, 123, 7):
        res = patch(api, location, offset, data[offset : offset + size])
        assert res.status_code == 204, res.text
        offset += size
        assert res.headers["upload-offset"] == str(offset)
    # the object is invisible until the final chunk
    assert api.get(f"/object/info/{tus_bucket}/t/odd.txt").json()["statusCode"] == "404"

    res = patch(api, location, offset + 1, b"x")
    assert (res.status_code, res.text) == (409, "Upload-Offset conflict\n")
    res = patch(api, location, offset, data[offset:])
    assert res.status_code == 204 and res.headers["upload-offset"] == str(len(data))

    info = api.get(f"/object/info/{tus_bucket}/t/odd.txt").json()
    assert info["size"] == len(data)
    assert info["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert (info["content_type"], info["cache_control"]) == ("text/plain", "max-age=60")
    assert info["metadata"] is None  # TUS without metadata stores NULL, as on Supabase
    assert api.get(f"/object/{tus_bucket}/t/odd.txt").content == data
    # a finished upload still answers HEAD with its full offset
    assert api.head(location, headers=TUS).headers["upload-offset"] == str(len(data))


def test_creation_with_upload_and_deferred_length(api: httpx.Client, tus_bucket: str) -> None:
    res = api.post(
        "/upload/resumable",
        content=b"first",
        headers={
            **TUS,
            "Upload-Length": "9",
            "Upload-Metadata": metadata(tus_bucket, "cwu.txt", contentType="text/plain"),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert res.status_code == 201 and res.headers["upload-offset"] == "5"
    assert patch(api, res.headers["location"], 5, b" two").status_code == 204
    assert api.get(f"/object/{tus_bucket}/cwu.txt").content == b"first two"

    res = api.post(
        "/upload/resumable",
        headers={
            **TUS,
            "Upload-Defer-Length": "1",
            "Upload-Metadata": metadata(tus_bucket, "deferred.txt", contentType="text/plain"),
        },
    )
    location = res.headers["location"]
    assert api.head(location, headers=TUS).headers["upload-defer-length"] == "1"
    assert patch(api, location, 0, b"abc").status_code == 204
    res = api.patch(
        location,
        content=b"def",
        headers={
            **TUS,
            "Upload-Offset": "3",
            "Upload-Length": "6",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert res.status_code == 204
    assert api.get(f"/object/{tus_bucket}/deferred.txt").content == b"abcdef"


def test_tus_errors_are_text_with_real_statuses(
    api: httpx.Client, stack: Any, tus_bucket: str
) -> None:
    res = api.post("/upload/resumable", headers={"Upload-Length": "1"})
    assert (res.status_code, res.text) == (412, "Tus-Resumable Required\n")
    res = api.post("/upload/resumable", headers={**TUS, "Upload-Length": "1"})
    assert (res.status_code, res.text) == (400, "Metadata header is required")
    assert res.headers["content-type"].startswith("text/plain")
    res = api.post(
        "/upload/resumable", headers={**TUS, "Upload-Metadata": metadata(tus_bucket, "x.txt")}
    )
    assert res.status_code == 400
    assert res.text == "Upload-Length or Upload-Defer-Length header required\n"
    res = create(api, tus_bucket, "big.txt", 1001)
    assert (res.status_code, res.text) == (413, "Maximum size exceeded\n")
    res = api.post(
        "/upload/resumable",
        headers={
            **TUS,
            "Upload-Length": "3",
            "Upload-Metadata": metadata(tus_bucket, "x.png", contentType="image/png"),
        },
    )
    assert (res.status_code, res.text) == (415, "mime type image/png is not supported")
    res = create(api, f"{tus_bucket}-none", "x.txt", 3)
    assert (res.status_code, res.text) == (404, "Bucket not found")

    res = api.put(
        f"/object/{tus_bucket}/exists.txt", content=b"old", headers={"content-type": "text/plain"}
    )
    assert res.status_code == 200, res.text
    res = create(api, tus_bucket, "exists.txt", 3)
    assert (res.status_code, res.text) == (409, "The resource already exists")
    res = create(api, tus_bucket, "exists.txt", 3, **{"x-upsert": "true"})
    assert res.status_code == 201
    # Every request of an upsert upload says x-upsert (the real server checks each PATCH).
    assert patch(api, res.headers["location"], 0, b"new", upsert=True).status_code == 204
    assert api.get(f"/object/{tus_bucket}/exists.txt").content == b"new"

    # JWT failures come back as the JSON error, before TUS runs
    res = httpx.post(f"{stack.url}/storage/v1/upload/resumable", headers=TUS)
    assert res.status_code == 400 and res.json()["message"] == "Invalid Compact JWS"

    unknown = base64.urlsafe_b64encode(b"b/k/00000000-0000-4000-8000-000000000000").decode()
    res = api.head(f"/upload/resumable/{unknown.rstrip('=')}", headers=TUS)
    assert res.status_code == 404


def test_rls_decides_tus_uploads(api: httpx.Client, stack: Any, tus_bucket: str) -> None:
    anon = {"apikey": stack.anon_key, "Authorization": f"Bearer {stack.anon_key}"}
    res = httpx.post(
        f"{stack.url}/storage/v1/upload/resumable",
        headers={
            **anon,
            **TUS,
            "Upload-Length": "3",
            "Upload-Metadata": metadata(tus_bucket, "anon.txt", contentType="text/plain"),
        },
    )
    assert (res.status_code, res.text) == (403, "new row violates row-level security policy")


def test_a_refused_patch_keeps_no_bytes(
    api: httpx.Client, anon: httpx.Client, tus_bucket: str
) -> None:
    # The policy check of a PATCH runs while its body streams in; a refusal must
    # leave the upload exactly where it was, and answer before an offset conflict.
    res = create(api, tus_bucket, "guarded.txt", 12)
    location = res.headers["location"]
    assert patch(api, location, 0, b"abcd").status_code == 204
    refused = patch(anon, location, 4, b"efgh")
    assert (refused.status_code, refused.text) == (
        403,
        "new row violates row-level security policy",
    )
    assert api.head(location, headers=TUS).headers["upload-offset"] == "4"
    assert patch(anon, location, 99, b"x").status_code == 403  # not 409
    # The owner goes on where it stopped, and the stored bytes are exactly its own.
    assert patch(api, location, 4, b"EFGHIJKL").status_code == 204
    assert api.get(f"/object/{tus_bucket}/guarded.txt").content == b"abcdEFGHIJKL"
    info = api.get(f"/object/info/{tus_bucket}/guarded.txt").json()
    assert info["etag"] == f'"{hashlib.md5(b"abcdEFGHIJKL").hexdigest()}"'


def test_termination(api: httpx.Client, tus_bucket: str) -> None:
    res = create(api, tus_bucket, "gone.txt", 10)
    location = res.headers["location"]
    assert patch(api, location, 0, b"half").status_code == 204
    assert api.delete(location, headers=TUS).status_code == 204
    assert api.head(location, headers=TUS).status_code == 404
    assert patch(api, location, 4, b"rest!!").status_code == 404

    res = create(api, tus_bucket, "done.txt", 2)
    location = res.headers["location"]
    assert patch(api, location, 0, b"ok").status_code == 204
    # The real order: the RLS test first, which meets the finished upload's object...
    res = api.delete(location, headers=TUS)
    assert (res.status_code, res.text) == (409, "The resource already exists")
    # ... and only a caller who may overwrite it learns that the upload is finished.
    res = api.delete(location, headers={**TUS, "x-upsert": "true"})
    assert (res.status_code, res.text) == (400, "Cannot terminate an already completed upload")


def test_signed_tus_upload(api: httpx.Client, stack: Any, tus_bucket: str) -> None:
    token = api.post(f"/object/upload/sign/{tus_bucket}/signed.txt").json()["token"]
    bare = httpx.Client(base_url=f"{stack.url}/storage/v1", timeout=30)
    with bare:
        res = bare.post(
            "/upload/resumable/sign",
            headers={
                **TUS,
                "Upload-Length": "6",
                "Upload-Metadata": metadata(tus_bucket, "signed.txt", contentType="text/plain"),
            },
        )
        assert (res.status_code, res.text) == (400, "Missing x-signature header")
        res = bare.post(
            "/upload/resumable/sign",
            headers={
                **TUS,
                "x-signature": token,
                "Upload-Length": "6",
                "Upload-Metadata": metadata(tus_bucket, "signed.txt", contentType="text/plain"),
            },
        )
        assert res.status_code == 201, res.text
        location = res.headers["location"]
        assert "/upload/resumable/sign/" in location
        res = bare.patch(
            location,
            content=b"signed",
            headers={
                **TUS,
                "x-signature": token,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert res.status_code == 204, res.text
    assert api.get(f"/object/{tus_bucket}/signed.txt").content == b"signed"


def test_every_patch_of_an_upsert_upload_must_say_x_upsert(
    api: httpx.Client, tus_bucket: str
) -> None:
    """As on Supabase: the upload test runs per request, each with its own x-upsert."""
    first = create(api, tus_bucket, "up.txt", 3)
    assert patch(api, first.headers["Location"], 0, b"old").status_code == 204
    res = create(api, tus_bucket, "up.txt", 3, **{"x-upsert": "true"})
    assert res.status_code == 201, res.text
    url = res.headers["Location"]
    refused = patch(api, url, 0, b"new")
    assert refused.status_code == 409 and "already exists" in refused.text
    assert api.head(url, headers=TUS).headers["Upload-Offset"] == "0"  # nothing kept
    accepted = patch(api, url, 0, b"new", upsert=True)
    assert accepted.status_code == 204, accepted.text
    assert api.get(f"/object/{tus_bucket}/up.txt").content == b"new"
