"""Uploads are atomic: a cut connection stores nothing, readers never see a torn object.

The real Storage API writes the bytes under a new version and switches the row
to it only once the upload is complete (shared/reference/storage-api.md §4.1),
so a dropped connection leaves the previous version intact and a concurrent
reader sees either the complete old or the complete new bytes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

MiB = 1024 * 1024


@contextmanager
def bucket(api: httpx.Client, name: str) -> Iterator[str]:
    res = api.post("/bucket", json={"id": name, "name": name})
    assert res.status_code == 200, res.text
    try:
        yield name
    finally:
        with suppress(Exception):
            api.post(f"/bucket/{name}/empty", json={})
        with suppress(Exception):
            api.request("DELETE", f"/bucket/{name}", json={})


def _upload(api: httpx.Client, bucket_id: str, key: str, data: bytes) -> None:
    res = api.put(
        f"/object/{bucket_id}/{key}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert res.status_code == 200, res.text


def _cut_upload(
    stack: Any,
    method: str,
    path: str,
    total: int,
    sent: bytes,
    *,
    content_type: str = "application/octet-stream",
    extra_headers: str = "",
) -> None:
    """Send the headers announcing ``total`` bytes, then ``sent``, then hang up."""
    parts = urlsplit(stack.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        pytest.skip("the raw-socket cut needs a plain-HTTP target")
    key = stack.service_role_key
    target = f"{parts.path.rstrip('/')}/storage/v1{path}"
    head = (
        f"{method} {target} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"apikey: {key}\r\n"
        f"Authorization: Bearer {key}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"{extra_headers}"
        f"Content-Length: {total}\r\n"
        "\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head)
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        # Whatever the server answers (if anything), it must not be a success.
        sock.settimeout(10)
        reply = b""
        with suppress(OSError):
            while chunk := sock.recv(65536):
                reply += chunk
        assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]


def _settled(check: Any) -> None:
    """Run ``check`` several times over a short while: a late commit would show up."""
    for _ in range(5):
        check()
        time.sleep(0.1)


def test_cut_upsert_leaves_the_previous_version(
    api: httpx.Client, stack: Any, unique_name: str
) -> None:
    v1 = os.urandom(256 * 1024)
    v2 = os.urandom(2 * MiB)
    with bucket(api, unique_name):
        _upload(api, unique_name, "doc.bin", v1)
        before = api.get(f"/object/info/{unique_name}/doc.bin").json()

        _cut_upload(stack, "PUT", f"/object/{unique_name}/doc.bin", len(v2), v2[: len(v2) // 2])

        def still_v1() -> None:
            res = api.get(f"/object/{unique_name}/doc.bin")
            assert res.status_code == 200
            assert res.content == v1
            info = api.get(f"/object/info/{unique_name}/doc.bin").json()
            assert info["size"] == len(v1)
            assert info["version"] == before["version"]

        _settled(still_v1)

        # and the key still takes a proper upload afterwards
        _upload(api, unique_name, "doc.bin", v2)
        assert api.get(f"/object/{unique_name}/doc.bin").content == v2


def test_cut_upsert_with_x_upsert_post(api: httpx.Client, stack: Any, unique_name: str) -> None:
    v1 = b"version one"
    v2 = os.urandom(MiB)
    with bucket(api, unique_name):
        _upload(api, unique_name, "p.bin", v1)
        _cut_upload(
            stack,
            "POST",
            f"/object/{unique_name}/p.bin",
            len(v2),
            v2[:1000],
            extra_headers="x-upsert: true\r\n",
        )
        _settled(lambda: _assert_content(api, unique_name, "p.bin", v1))


def _assert_content(api: httpx.Client, bucket_id: str, key: str, expected: bytes) -> None:
    res = api.get(f"/object/{bucket_id}/{key}")
    assert res.status_code == 200
    assert res.content == expected


def test_cut_create_leaves_no_object(api: httpx.Client, stack: Any, unique_name: str) -> None:
    data = os.urandom(MiB)
    with bucket(api, unique_name):
        _cut_upload(stack, "POST", f"/object/{unique_name}/new.bin", len(data), data[:4096])

        def absent() -> None:
            res = api.get(f"/object/info/{unique_name}/new.bin")
            assert res.status_code == 400
            assert res.json()["statusCode"] == "404"
            listed = api.post(f"/object/list-v2/{unique_name}", json={}).json()
            assert listed["objects"] == []

        _settled(absent)

        # the aborted create does not block a later one (no stale row, no lock left)
        res = api.post(
            f"/object/{unique_name}/new.bin",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert res.status_code == 200, res.text
        assert api.get(f"/object/{unique_name}/new.bin").content == data


def test_cut_multipart_upload_leaves_no_object(
    api: httpx.Client, stack: Any, unique_name: str
) -> None:
    boundary = "----hybridkit-cut"
    payload = os.urandom(512 * 1024)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="cacheControl"\r\n\r\n'
            f"3600\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="m.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with bucket(api, unique_name):
        _cut_upload(
            stack,
            "POST",
            f"/object/{unique_name}/m.bin",
            len(body),
            body[: len(body) // 2],
            content_type=f"multipart/form-data; boundary={boundary}",
        )

        def absent() -> None:
            listed = api.post(f"/object/list-v2/{unique_name}", json={}).json()
            assert listed["objects"] == []

        _settled(absent)


def test_concurrent_reader_sees_old_or_new_never_a_mix(
    api: httpx.Client, stack: Any, unique_name: str
) -> None:
    old = os.urandom(8 * MiB)
    new = os.urandom(8 * MiB + 3)
    hashes = {
        hashlib.sha256(old).hexdigest(): "old",
        hashlib.sha256(new).hexdigest(): "new",
    }
    key = "hot/object.bin"
    seen: list[str] = []
    torn: list[tuple[int, str]] = []
    half_sent = threading.Event()
    reads_during_upload = threading.Event()
    upload_done = threading.Event()
    errors: list[BaseException] = []

    def read_once(client: httpx.Client) -> None:
        res = client.get(f"/object/{unique_name}/{key}")
        assert res.status_code == 200, res.text
        digest = hashlib.sha256(res.content).hexdigest()
        label = hashes.get(digest)
        if label is None:
            torn.append((len(res.content), digest))
        else:
            seen.append(label)

    def reader() -> None:
        headers = dict(api.headers)
        try:
            with httpx.Client(base_url=str(api.base_url), headers=headers, timeout=60) as client:
                half_sent.wait(timeout=60)
                # Mid-upload: the body is half sent, so these reads must see "old".
                for _ in range(3):
                    read_once(client)
                reads_during_upload.set()
                # Keep reading through the commit, a bounded number of times.
                for _ in range(200):
                    read_once(client)
                    if upload_done.is_set():
                        break
                for _ in range(3):
                    read_once(client)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
            reads_during_upload.set()

    def body() -> Iterator[bytes]:
        half = len(new) // 2
        for start in range(0, half, 256 * 1024):
            yield new[start : min(start + 256 * 1024, half)]
        half_sent.set()
        reads_during_upload.wait(timeout=60)
        for start in range(half, len(new), 256 * 1024):
            yield new[start : start + 256 * 1024]

    with bucket(api, unique_name):
        _upload(api, unique_name, key, old)
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            res = api.put(
                f"/object/{unique_name}/{quote(key)}",
                content=body(),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(new)),
                },
            )
            assert res.status_code == 200, res.text
        finally:
            upload_done.set()
            thread.join(timeout=120)
        assert not errors, errors
        assert not torn, f"a reader saw bytes that are neither version: {torn[:3]}"
        assert seen[:3] == ["old", "old", "old"]
        assert seen[-1] == "new"
        # once "new" has been seen, "old" never comes back
        first_new = seen.index("new")
        assert all(label == "new" for label in seen[first_new:])
        assert api.get(f"/object/{unique_name}/{key}").content == new
