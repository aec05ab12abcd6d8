"""supabase-py's storage3 (2.34.1), unchanged, against the target.

Every bucket and file method storage3 has is called the way an application
calls it, through ``supabase.create_client(url, key).storage``, and checked
against what the real Storage API answers (shared/reference/storage-api.md,
supabase-python-clients.md §2). A tuspy 1.1.0 resumable upload covers the TUS
endpoint the same way.

The tests speak only the public protocol, so they also run against a real
project (HYBRIDKIT_TEST_URL...). Each test makes its own uniquely named
buckets and removes them in ``finally``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import supabase
from storage3.exceptions import StorageApiError
from storage3.types import CreateSignedUploadUrlOptions
from tusclient.client import TusClient

MiB = 1024 * 1024
TUS_CHUNK = 6 * MiB  # the chunk size Supabase's docs and clients fix for TUS


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def client(stack: Any) -> supabase.Client:
    """A service-role supabase-py client, built exactly as an application would."""
    return supabase.create_client(stack.url, stack.service_role_key)


@pytest.fixture(scope="module")
def anon_client(stack: Any) -> supabase.Client:
    return supabase.create_client(stack.url, stack.anon_key)


def _drop_bucket(storage: Any, bucket_id: str) -> None:
    """Best-effort clean-up: empty, then delete (retrying while a queued empty finishes)."""
    with contextlib.suppress(Exception):
        storage.empty_bucket(bucket_id)
    for _ in range(50):
        try:
            storage.delete_bucket(bucket_id)
            return
        except StorageApiError as exc:
            if str(exc.status) == "404":
                return
            if str(exc.status) != "409":
                return
            # A real project may empty asynchronously; remove what is left ourselves.
            with contextlib.suppress(Exception):
                names = [o.name for o in storage.from_(bucket_id).list_v2({"limit": 1000}).objects]
                if names:
                    storage.from_(bucket_id).remove(names)
            time.sleep(0.2)
        except Exception:
            return


@contextlib.contextmanager
def temp_bucket(storage: Any, bucket_id: str, **options: Any) -> Iterator[str]:
    storage.create_bucket(bucket_id, options=options or None)  # type: ignore[arg-type]
    try:
        yield bucket_id
    finally:
        _drop_bucket(storage, bucket_id)


def _api_error(excinfo: pytest.ExceptionInfo[StorageApiError]) -> tuple[str, str, str]:
    """(body statusCode, body error, body message) as storage3 surfaces them."""
    exc = excinfo.value
    return str(exc.status), exc.code, exc.message


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def _random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes in 1 MiB chunks; return their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(MiB, left))
            fh.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def _names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in entries]


FILE_ENTRY_KEYS = {"name", "id", "updated_at", "created_at", "last_accessed_at", "metadata"}
SYSTEM_METADATA_KEYS = {
    "eTag",
    "size",
    "mimetype",
    "cacheControl",
    "lastModified",
    "contentLength",
    "httpStatusCode",
}
INFO_KEYS = {
    "id",
    "name",
    "version",
    "bucket_id",
    "size",
    "content_type",
    "cache_control",
    "etag",
    "metadata",
    "last_modified",
    "created_at",
}


# ---------------------------------------------------------------------------
# buckets


def test_bucket_lifecycle(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    created = storage.create_bucket(
        unique_name,
        options={
            "public": False,
            "file_size_limit": 1024,
            "allowed_mime_types": ["image/png", "text/plain"],
        },
    )
    try:
        assert created == {"name": unique_name}

        bucket = storage.get_bucket(unique_name)
        assert bucket.id == unique_name
        assert bucket.name == unique_name
        assert bucket.public is False
        assert bucket.file_size_limit == 1024
        assert bucket.allowed_mime_types == ["image/png", "text/plain"]
        assert bucket.owner == ""  # NULL owner is serialised as "" (service key has no sub)
        assert bucket.created_at.tzinfo is not None
        assert bucket.updated_at.tzinfo is not None
        assert bucket.type is None  # GET /bucket/{id} carries no "type"

        listed = {b.id: b for b in storage.list_buckets()}
        assert unique_name in listed
        same = listed[unique_name]
        assert (same.name, same.public, same.file_size_limit, same.allowed_mime_types) == (
            unique_name,
            False,
            1024,
            ["image/png", "text/plain"],
        )
        assert same.type == "STANDARD"  # GET /bucket includes it for storage3 >= 0.12.1

        updated = storage.update_bucket(
            unique_name,
            {"public": True, "file_size_limit": 2048, "allowed_mime_types": ["image/*"]},
        )
        assert updated == {"message": "Successfully updated"}
        bucket = storage.get_bucket(unique_name)
        assert bucket.public is True
        assert bucket.file_size_limit == 2048
        assert bucket.allowed_mime_types == ["image/*"]

        # null clears a limit and the mime list
        storage.update_bucket(
            unique_name,
            {"file_size_limit": None, "allowed_mime_types": None},  # type: ignore[typeddict-item]
        )
        bucket = storage.get_bucket(unique_name)
        assert bucket.public is True
        assert bucket.file_size_limit is None
        assert bucket.allowed_mime_types is None

        assert storage.delete_bucket(unique_name) == {"message": "Successfully deleted"}
        with pytest.raises(StorageApiError) as excinfo:
            storage.get_bucket(unique_name)
        assert _api_error(excinfo) == ("404", "Bucket not found", "Bucket not found")
        assert unique_name not in {b.id for b in storage.list_buckets()}
    finally:
        _drop_bucket(storage, unique_name)


def test_create_bucket_with_a_name_other_than_its_id(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    name = f"{unique_name}-name"
    try:
        assert storage.create_bucket(unique_name, name=name) == {"name": name}
        bucket = storage.get_bucket(unique_name)
        assert (bucket.id, bucket.name, bucket.public) == (unique_name, name, False)
    finally:
        _drop_bucket(storage, unique_name)


def test_create_public_bucket_defaults(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name, public=True):
        bucket = storage.get_bucket(unique_name)
        assert bucket.public is True
        assert bucket.file_size_limit is None
        assert bucket.allowed_mime_types is None


def test_duplicate_bucket_is_a_conflict(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        with pytest.raises(StorageApiError) as excinfo:
            storage.create_bucket(unique_name)
        assert _api_error(excinfo) == ("409", "Duplicate", "The resource already exists")


def test_empty_bucket_then_delete(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        for key in ("one.txt", "dir/two.txt", "dir/sub/three.txt"):
            files.upload(key, key.encode())

        with pytest.raises(StorageApiError) as excinfo:
            storage.delete_bucket(unique_name)
        assert _api_error(excinfo) == (
            "409",
            "ResourceNotEmpty",
            "The bucket you tried to delete is not empty",
        )

        assert storage.empty_bucket(unique_name) == {
            "message": "Empty bucket has been queued. Completion may take up to an hour."
        }
        # The local stack (and a queue-less server) empties synchronously; a hosted
        # project may take a moment, so wait a bounded while.
        for _ in range(100):
            if not files.list_v2({"limit": 10}).objects:
                break
            time.sleep(0.1)
        assert files.list_v2({"limit": 10}).objects == []
        assert files.list() == []
        assert storage.delete_bucket(unique_name) == {"message": "Successfully deleted"}


# ---------------------------------------------------------------------------
# upload / update / download / info / exists


def test_upload_bytes_with_file_options(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        body = b'{"hello": "world"}'
        res = files.upload(
            "docs/hello.json",
            body,
            {
                "content-type": "application/json",
                "cache-control": "60",
                "metadata": {"owner": "qa", "n": 1},
            },
        )
        assert res.path == "docs/hello.json"
        assert res.full_path == f"{unique_name}/docs/hello.json"
        assert res.fullPath == res.full_path

        assert files.download("docs/hello.json") == body

        info = files.info("docs/hello.json")
        assert set(info) >= INFO_KEYS
        assert info["name"] == "docs/hello.json"
        assert info["bucket_id"] == unique_name
        assert info["size"] == len(body)
        assert info["content_type"] == "application/json"
        assert info["cache_control"] == "max-age=60"
        assert info["metadata"] == {"owner": "qa", "n": 1}
        assert info["etag"].strip('"') == hashlib.md5(body).hexdigest()
        assert info["id"] and info["version"]
        assert info["created_at"] and info["last_modified"]


def test_upload_defaults_content_type_and_cache_control(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("plain.txt", b"plain")
        info = files.info("plain.txt")
        # storage3 sends the part as text/plain;charset=UTF-8; the server stores the
        # part's mimetype without parameters, and cacheControl "3600" as max-age.
        assert info["content_type"] == "text/plain"
        assert info["cache_control"] == "max-age=3600"
        assert info["metadata"] == {}


def test_upload_from_file_path(client: supabase.Client, unique_name: str, tmp_path: Path) -> None:
    storage = client.storage
    src = tmp_path / "local-name.bin"
    sha = _random_file(src, 300_000)
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("as-str.bin", str(src), {"content-type": "application/octet-stream"})
        files.upload("as-path.bin", src, {"content-type": "application/octet-stream"})
        with src.open("rb") as fh:
            files.upload("as-reader.bin", fh, {"content-type": "application/octet-stream"})
        for key in ("as-str.bin", "as-path.bin", "as-reader.bin"):
            data = files.download(key)
            assert hashlib.sha256(data).hexdigest() == sha
            info = files.info(key)
            assert info["size"] == 300_000
            assert info["content_type"] == "application/octet-stream"


def test_duplicate_upload_conflicts_unless_upsert(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("k.txt", b"v1")
        with pytest.raises(StorageApiError) as excinfo:
            files.upload("k.txt", b"v2")
        assert _api_error(excinfo) == ("409", "Duplicate", "The resource already exists")
        assert files.download("k.txt") == b"v1"

        files.upload("k.txt", b"v2", {"upsert": "true"})
        assert files.download("k.txt") == b"v2"

        # upsert on a key that does not exist yet simply creates it
        files.upload("new.txt", b"fresh", {"upsert": "true"})
        assert files.download("new.txt") == b"fresh"


def test_update_replaces_content_and_metadata(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("u.csv", b"a,b\n", {"content-type": "text/plain"})
        first = files.info("u.csv")

        res = files.update("u.csv", b"a,b\n1,2\n", {"content-type": "text/csv"})
        assert res.full_path == f"{unique_name}/u.csv"
        assert files.download("u.csv") == b"a,b\n1,2\n"
        second = files.info("u.csv")
        assert second["content_type"] == "text/csv"
        assert second["size"] == 8
        assert second["id"] == first["id"]  # same row, new version
        assert second["version"] != first["version"]

        # PUT is always an upsert: update() creates a missing key
        files.update("created-by-update.txt", b"x")
        assert files.download("created-by-update.txt") == b"x"


def test_exists_and_missing_objects(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("here.txt", b"here")
        assert files.exists("here.txt") is True
        assert files.exists("not-here.txt") is False
        assert files.exists("dir/not-here.txt") is False

        with pytest.raises(StorageApiError) as excinfo:
            files.download("not-here.txt")
        assert _api_error(excinfo) == ("404", "not_found", "Object not found")

        with pytest.raises(StorageApiError) as excinfo:
            files.info("not-here.txt")
        assert _api_error(excinfo) == ("404", "not_found", "Object not found")

    # A missing bucket is not "does not exist": storage3 re-raises it.
    with pytest.raises(StorageApiError) as excinfo:
        storage.from_(f"{unique_name}-missing").exists("x.txt")
    assert str(excinfo.value.status) == "404"
    assert excinfo.value.code != "not_found"


def test_keys_with_spaces_and_reserved_characters_round_trip(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        # storage3 percent-encodes each segment; the server must decode them and keep '+'.
        keys = ["with space.txt", "plus+sign.txt", "q?mark.txt", "a=b&c;d.txt", "x/(1) ok!.txt"]
        for key in keys:
            files.upload(key, key.encode())
        for key in keys:
            assert files.download(key) == key.encode()
            assert files.info(key)["name"] == key
        names = {o.name for o in files.list_v2({"limit": 100}).objects}
        assert names == set(keys)


# ---------------------------------------------------------------------------
# list (v1)


def _populate_tree(files: Any) -> None:
    # Uploaded out of name order so created_at order differs from name order.
    for key in ("c.txt", "b/x.txt", "a.txt", "b/y.txt", "b/deep/z.txt", "d/w.txt"):
        files.upload(key, f"content of {key}".encode(), {"content-type": "text/plain"})


def test_list_root_folders_and_files(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)

        entries = files.list()
        assert _names(entries) == ["a.txt", "b", "c.txt", "d"]
        by_name = {e["name"]: e for e in entries}
        for folder in ("b", "d"):
            entry = by_name[folder]
            assert entry["id"] is None
            assert entry["metadata"] is None
            assert entry["updated_at"] is None
            assert entry["created_at"] is None
        for file in ("a.txt", "c.txt"):
            entry = by_name[file]
            assert set(entry) >= FILE_ENTRY_KEYS
            assert entry["id"]
            assert set(entry["metadata"]) >= SYSTEM_METADATA_KEYS
            assert entry["metadata"]["size"] == len(f"content of {file}")
            assert entry["metadata"]["mimetype"] == "text/plain"


def test_list_prefix_is_a_folder_and_names_are_relative(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)
        assert _names(files.list("b")) == ["deep", "x.txt", "y.txt"]
        assert _names(files.list("b/")) == ["deep", "x.txt", "y.txt"]
        assert _names(files.list("b/deep")) == ["z.txt"]
        assert files.list("nothing-here") == []
        # the prefix is matched case-insensitively
        assert _names(files.list("B")) == ["deep", "x.txt", "y.txt"]


def test_list_limit_offset_and_sort_by_name(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)
        assert _names(files.list("", {"limit": 2})) == ["a.txt", "b"]
        assert _names(files.list("", {"limit": 2, "offset": 1})) == ["b", "c.txt"]
        assert _names(files.list("", {"offset": 3})) == ["d"]
        desc = files.list("", {"sortBy": {"column": "name", "order": "desc"}})
        assert _names(desc) == ["d", "c.txt", "b", "a.txt"]
        asc = files.list("b", {"sortBy": {"column": "name", "order": "asc"}})
        assert _names(asc) == ["deep", "x.txt", "y.txt"]


def test_list_sort_by_created_at(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)
        # With a timestamp sort the real server lists the folders first (ordered by
        # name in the same direction), then the files ordered by the column.
        asc = files.list("", {"sortBy": {"column": "created_at", "order": "asc"}})
        assert _names(asc) == ["b", "d", "c.txt", "a.txt"]
        desc = files.list("", {"sortBy": {"column": "created_at", "order": "desc"}})
        assert _names(desc) == ["d", "b", "a.txt", "c.txt"]
        files_only = [e for e in asc if e["id"] is not None]
        stamps = [e["created_at"] for e in files_only]
        assert stamps == sorted(stamps)


def test_list_search_is_a_case_insensitive_prefix(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)
        assert _names(files.list("b", {"search": "X"})) == ["x.txt"]
        assert _names(files.list("b", {"search": "de"})) == ["deep"]
        assert _names(files.list("", {"search": "a"})) == ["a.txt"]
        assert files.list("", {"search": "txt"}) == []  # a prefix, not a substring


def test_list_missing_bucket_is_empty(client: supabase.Client, unique_name: str) -> None:
    assert client.storage.from_(f"{unique_name}-missing").list() == []


# ---------------------------------------------------------------------------
# list v2


def test_list_v2_with_delimiter(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)

        root = files.list_v2({"prefix": "", "with_delimiter": True})
        assert root.hasNext is False
        assert sorted(f.name for f in root.folders) == ["b/", "d/"]
        assert sorted(o.key or "" for o in root.objects) == ["a.txt", "c.txt"]
        for obj in root.objects:
            assert obj.id
            assert obj.metadata is not None
            assert obj.metadata["size"] == len(f"content of {obj.key}")

        sub = files.list_v2({"prefix": "b/", "with_delimiter": True})
        assert sorted(o.key or "" for o in sub.objects) == ["x.txt", "y.txt"]
        assert len(sub.folders) == 1
        folder = sub.folders[0]
        assert folder.name.endswith("/")
        assert folder.name.rstrip("/").split("/")[-1] == "deep"
        for obj in sub.objects:
            assert obj.name.endswith(obj.key or "<no key>")


def test_list_v2_without_delimiter_is_recursive(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        _populate_tree(files)
        flat = files.list_v2()
        assert flat.folders == []
        assert [o.name for o in flat.objects] == [
            "a.txt",
            "b/deep/z.txt",
            "b/x.txt",
            "b/y.txt",
            "c.txt",
            "d/w.txt",
        ]
        assert all(o.key is None for o in flat.objects)
        under_b = files.list_v2({"prefix": "b/"})
        assert [o.name for o in under_b.objects] == ["b/deep/z.txt", "b/x.txt", "b/y.txt"]
        missing = storage.from_(f"{unique_name}-missing").list_v2()
        assert (missing.hasNext, missing.folders, missing.objects) == (False, [], [])


def _page_through(files: Any, options: dict[str, Any]) -> tuple[list[str], int]:
    names: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        opts = dict(options)
        if cursor is not None:
            opts["cursor"] = cursor
        page = files.list_v2(opts)
        pages += 1
        assert len(page.objects) <= options["limit"]
        names.extend(o.name for o in page.objects)
        if not page.hasNext:
            break
        assert page.nextCursor, "hasNext without a nextCursor"
        cursor = page.nextCursor
        assert pages < 20, "pagination does not terminate"
    return names, pages


@pytest.mark.parametrize(
    ("sort_by", "expected_order"),
    [
        (None, "name-asc"),
        ({"column": "name", "order": "asc"}, "name-asc"),
        ({"column": "name", "order": "desc"}, "name-desc"),
        ({"column": "created_at", "order": "asc"}, "upload-order"),
        ({"column": "created_at", "order": "desc"}, "upload-order-reversed"),
    ],
)
def test_list_v2_cursor_pagination(
    client: supabase.Client,
    unique_name: str,
    sort_by: dict[str, str] | None,
    expected_order: str,
) -> None:
    storage = client.storage
    upload_order = ["p3.txt", "p0.txt", "p5.txt", "p1.txt", "p6.txt", "p2.txt", "p4.txt"]
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        for key in upload_order:
            files.upload(key, key.encode())
        options: dict[str, Any] = {"limit": 3}
        if sort_by is not None:
            options["sortBy"] = sort_by
        names, pages = _page_through(files, options)
        expected = {
            "name-asc": sorted(upload_order),
            "name-desc": sorted(upload_order, reverse=True),
            "upload-order": upload_order,
            "upload-order-reversed": list(reversed(upload_order)),
        }[expected_order]
        assert names == expected
        assert pages == 3


def test_list_v2_pagination_with_delimiter(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        for key in ("f1/a.txt", "f1/b.txt", "f2/a.txt", "g.txt", "h.txt", "i/j/k.txt"):
            files.upload(key, key.encode())
        seen_folders: list[str] = []
        seen_objects: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            opts: dict[str, Any] = {"limit": 2, "with_delimiter": True, "prefix": ""}
            if cursor:
                opts["cursor"] = cursor
            page = files.list_v2(opts)
            assert len(page.folders) + len(page.objects) <= 2
            seen_folders.extend(f.name for f in page.folders)
            seen_objects.extend(o.key or o.name for o in page.objects)
            if not page.hasNext:
                break
            cursor = page.nextCursor
        else:
            pytest.fail("pagination does not terminate")
        assert sorted(seen_folders) == ["f1/", "f2/", "i/"]
        assert sorted(seen_objects) == ["g.txt", "h.txt"]


# ---------------------------------------------------------------------------
# remove / move / copy


def test_remove_several(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        for key in ("r1.txt", "r2.txt", "r3.txt", "f/inner.txt"):
            files.upload(key, key.encode())
        removed = files.remove(["r1.txt", "r2.txt", "never-existed.txt", "f"])
        assert sorted(r["name"] for r in removed) == ["r1.txt", "r2.txt"]
        for row in removed:
            assert row["bucket_id"] == unique_name
            assert row["id"]
        # "prefixes" are exact names: "f" does not remove f/inner.txt
        assert [o.name for o in files.list_v2().objects] == ["f/inner.txt", "r3.txt"]
        assert files.remove(["never-existed.txt"]) == []


def test_move(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("from.txt", b"moving", {"content-type": "text/plain"})
        files.upload("taken.txt", b"occupied")
        before = files.info("from.txt")

        assert files.move("from.txt", "to/here.txt") == {"message": "Successfully moved"}
        assert files.exists("from.txt") is False
        assert files.download("to/here.txt") == b"moving"
        after = files.info("to/here.txt")
        assert after["id"] == before["id"]  # the row moves, keeping its id
        assert after["content_type"] == "text/plain"

        with pytest.raises(StorageApiError) as excinfo:
            files.move("to/here.txt", "taken.txt")
        assert _api_error(excinfo) == ("409", "Duplicate", "The resource already exists")
        assert files.download("taken.txt") == b"occupied"

        with pytest.raises(StorageApiError) as excinfo:
            files.move("no-such.txt", "anywhere.txt")
        assert _api_error(excinfo) == ("404", "not_found", "Object not found")


def test_copy(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("src.txt", b"copy me", {"content-type": "text/plain", "metadata": {"k": 1}})

        res = files.copy("src.txt", "dst/copy.txt")
        assert res["Key"] == f"{unique_name}/dst/copy.txt"
        assert files.download("src.txt") == b"copy me"
        assert files.download("dst/copy.txt") == b"copy me"
        src_info, dst_info = files.info("src.txt"), files.info("dst/copy.txt")
        assert dst_info["id"] != src_info["id"]
        assert dst_info["content_type"] == "text/plain"
        assert dst_info["size"] == 7

        with pytest.raises(StorageApiError) as excinfo:
            files.copy("src.txt", "dst/copy.txt")
        assert _api_error(excinfo) == ("409", "Duplicate", "The resource already exists")

        with pytest.raises(StorageApiError) as excinfo:
            files.copy("no-such.txt", "x.txt")
        assert _api_error(excinfo) == ("404", "not_found", "Object not found")


# ---------------------------------------------------------------------------
# signed URLs


def test_create_signed_url_and_fetch_it(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        body = os.urandom(10_000)
        files.upload("dir/signed.bin", body, {"content-type": "application/octet-stream"})

        signed = files.create_signed_url("dir/signed.bin", 60)
        url = signed["signedURL"]
        assert url is not None
        assert signed["signedUrl"] == url
        prefix = f"{client.storage_url}object/sign/{unique_name}/dir/signed.bin?token="
        assert url.startswith(prefix)

        # A signed URL needs no Authorization header.
        res = httpx.get(url)
        assert res.status_code == 200
        assert res.content == body
        assert res.headers["content-type"] == "application/octet-stream"

        attached = files.create_signed_url("dir/signed.bin", 60, {"download": True})
        assert attached["signedURL"] is not None
        assert "download=" in attached["signedURL"]
        res = httpx.get(attached["signedURL"])
        assert res.status_code == 200
        assert res.content == body
        assert res.headers["content-disposition"].startswith("attachment")

        named = files.create_signed_url("dir/signed.bin", 60, {"download": "renamed.bin"})
        assert named["signedURL"] is not None
        res = httpx.get(named["signedURL"])
        assert res.status_code == 200
        assert "filename=renamed.bin" in res.headers["content-disposition"]

        with pytest.raises(StorageApiError) as excinfo:
            files.create_signed_url("missing.bin", 60)
        assert _api_error(excinfo) == ("404", "not_found", "Object not found")


def test_create_signed_urls_with_a_missing_path(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        files.upload("one.txt", b"one")
        files.upload("two.txt", b"two")
        results = files.create_signed_urls(["one.txt", "missing.txt", "two.txt"], 60)
        assert [r["path"] for r in results] == ["one.txt", "missing.txt", "two.txt"]

        by_path = {r["path"]: r for r in results}
        missing = by_path["missing.txt"]
        assert missing["signedURL"] is None
        assert missing["error"] == (
            "Either the object does not exist or you do not have access to it"
        )

        for path, body in (("one.txt", b"one"), ("two.txt", b"two")):
            item = by_path[path]
            assert item["error"] is None
            assert item["signedURL"] is not None
            res = httpx.get(item["signedURL"])
            assert res.status_code == 200
            assert res.content == body

        downloads = files.create_signed_urls(["one.txt"], 60, {"download": True})
        assert downloads[0]["signedURL"] is not None
        res = httpx.get(downloads[0]["signedURL"])
        assert res.headers["content-disposition"].startswith("attachment")


def test_signed_upload_url(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        signed = files.create_signed_upload_url("up/load.txt")
        assert signed["path"] == "up/load.txt"
        assert signed["token"]
        assert signed["signed_url"] == signed["signedUrl"]
        assert f"object/upload/sign/{unique_name}/up/load.txt?token=" in signed["signed_url"]

        res = files.upload_to_signed_url(
            "up/load.txt", signed["token"], b"first", {"content-type": "text/plain"}
        )
        assert res.full_path == f"{unique_name}/up/load.txt"
        assert files.download("up/load.txt") == b"first"
        assert files.info("up/load.txt")["content_type"] == "text/plain"

        # Without upsert the server refuses an existing key already when signing.
        with pytest.raises(StorageApiError) as excinfo:
            files.create_signed_upload_url("up/load.txt")
        assert _api_error(excinfo) == ("409", "Duplicate", "The resource already exists")

        upsert = files.create_signed_upload_url(
            "up/load.txt", CreateSignedUploadUrlOptions(upsert="true")
        )
        files.upload_to_signed_url("up/load.txt", upsert["token"], b"second")
        assert files.download("up/load.txt") == b"second"

        # The token names its path: it cannot be used for another key.
        other = files.create_signed_upload_url("only/this.txt")
        with pytest.raises(StorageApiError) as excinfo:
            files.upload_to_signed_url("not/this.txt", other["token"], b"nope")
        assert _api_error(excinfo) == ("400", "InvalidSignature", "Invalid signature")
        assert files.exists("not/this.txt") is False


def test_signed_upload_token_without_upsert_cannot_overwrite(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        signed = files.create_signed_upload_url("race.txt")
        files.upload("race.txt", b"got there first")
        with pytest.raises(StorageApiError) as excinfo:
            files.upload_to_signed_url("race.txt", signed["token"], b"late")
        assert _api_error(excinfo) == ("409", "Duplicate", "The resource already exists")
        assert files.download("race.txt") == b"got there first"


# ---------------------------------------------------------------------------
# public URLs


def test_get_public_url_of_a_public_bucket(client: supabase.Client, unique_name: str) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name, public=True):
        files = storage.from_(unique_name)
        files.upload("pub/lic.txt", b"for everyone", {"content-type": "text/plain"})
        url = files.get_public_url("pub/lic.txt")
        assert url == f"{client.storage_url}object/public/{unique_name}/pub/lic.txt"

        res = httpx.get(url)  # no key, no Authorization
        assert res.status_code == 200
        assert res.content == b"for everyone"
        assert res.headers["content-type"].startswith("text/plain")

        res = httpx.get(files.get_public_url("pub/lic.txt", {"download": True}))
        assert res.status_code == 200
        assert res.headers["content-disposition"].startswith("attachment")

        res = httpx.get(files.get_public_url("pub/missing.txt"))
        assert res.status_code == 400
        body = res.json()
        assert (body["statusCode"], body["error"], body["code"]) == (
            "404",
            "not_found",
            "NoSuchKey",
        )


def test_get_public_url_of_a_private_bucket_is_refused(
    client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name, public=False):
        files = storage.from_(unique_name)
        files.upload("secret.txt", b"not for everyone")
        res = httpx.get(files.get_public_url("secret.txt"))
        assert res.status_code == 400
        body = res.json()
        assert body["statusCode"] == "404"
        assert body["error"] == "Bucket not found"
        assert body["code"] == "NoSuchBucket"
        assert b"not for everyone" not in res.content

        # Making the bucket public opens the same URL.
        storage.update_bucket(unique_name, {"public": True})
        res = httpx.get(files.get_public_url("secret.txt"))
        assert res.status_code == 200
        assert res.content == b"not for everyone"


# ---------------------------------------------------------------------------
# the anon key through the same client


def test_anon_client_sees_no_private_objects(
    client: supabase.Client, anon_client: supabase.Client, unique_name: str
) -> None:
    storage = client.storage
    with temp_bucket(storage, unique_name):
        storage.from_(unique_name).upload("private.txt", b"private")
        anon_files = anon_client.storage.from_(unique_name)
        assert anon_files.list() == []
        with pytest.raises(StorageApiError) as excinfo:
            anon_files.upload("anon.txt", b"x")
        assert _api_error(excinfo) == (
            "403",
            "Unauthorized",
            "new row violates row-level security policy",
        )
        with pytest.raises(StorageApiError) as excinfo:
            anon_client.storage.empty_bucket(unique_name)
        assert _api_error(excinfo) == ("403", "Unauthorized", "Access denied: Invalid role")
        assert excinfo.value.__cause__.response.status_code == 403  # type: ignore[union-attr]
        assert storage.from_(unique_name).download("private.txt") == b"private"


# ---------------------------------------------------------------------------
# large transfers


@pytest.mark.slow
def test_50_mb_upload_and_download(
    client: supabase.Client, unique_name: str, tmp_path: Path
) -> None:
    storage = client.storage
    src = tmp_path / "big.bin"
    size = 50 * MiB
    sha = _random_file(src, size)
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        res = files.upload("big/blob.bin", str(src), {"content-type": "application/octet-stream"})
        assert res.full_path == f"{unique_name}/big/blob.bin"
        info = files.info("big/blob.bin")
        assert info["size"] == size
        data = files.download("big/blob.bin")
        assert len(data) == size
        assert hashlib.sha256(data).hexdigest() == sha


# ---------------------------------------------------------------------------
# TUS resumable uploads with tuspy


def _tus_client(stack: Any, *, upsert: bool) -> TusClient:
    key = stack.service_role_key
    return TusClient(
        f"{stack.url}/storage/v1/upload/resumable",
        headers={
            "Authorization": f"Bearer {key}",
            "apikey": key,
            "x-upsert": "true" if upsert else "false",
        },
    )


def _tus_metadata(bucket: str, key: str) -> dict[str, str]:
    return {
        "bucketName": bucket,
        "objectName": key,
        "contentType": "application/octet-stream",
        "cacheControl": "3600",
    }


def test_tus_upload_with_tuspy(
    stack: Any, client: supabase.Client, unique_name: str, tmp_path: Path
) -> None:
    storage = client.storage
    src = tmp_path / "tus.bin"
    size = 20 * MiB + 12_345  # not a multiple of the chunk size
    sha = _random_file(src, size)
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        # x-upsert: true lets TUS replace an object uploaded the ordinary way.
        files.upload("tus/object.bin", b"old bytes")
        uploader = _tus_client(stack, upsert=True).uploader(
            file_path=str(src),
            chunk_size=TUS_CHUNK,
            metadata=_tus_metadata(unique_name, "tus/object.bin"),
        )
        uploader.upload()
        assert uploader.offset == size

        info = files.info("tus/object.bin")
        assert info["size"] == size
        assert info["content_type"] == "application/octet-stream"
        assert info["cache_control"] == "max-age=3600"
        data = files.download("tus/object.bin")
        assert hashlib.sha256(data).hexdigest() == sha


def test_tus_resume_from_the_server_offset(
    stack: Any, client: supabase.Client, unique_name: str, tmp_path: Path
) -> None:
    storage = client.storage
    src = tmp_path / "resume.bin"
    size = 20 * MiB + 777
    sha = _random_file(src, size)
    metadata = _tus_metadata(unique_name, "resume/me.bin")
    with temp_bucket(storage, unique_name):
        files = storage.from_(unique_name)
        tus = _tus_client(stack, upsert=True)

        first = tus.uploader(file_path=str(src), chunk_size=TUS_CHUNK, metadata=metadata)
        first.set_url(first.create_url())
        first.offset = 0
        first.upload_chunk()
        assert first.offset == TUS_CHUNK
        location = first.url
        assert location

        # Until the last PATCH the object is invisible.
        assert files.exists("resume/me.bin") is False

        # A new uploader (a new process, say) resumes where the server says it stopped.
        second = tus.uploader(
            file_path=str(src), url=location, chunk_size=TUS_CHUNK, metadata=metadata
        )
        assert second.offset == TUS_CHUNK
        second.upload()
        assert second.offset == size

        assert files.info("resume/me.bin")["size"] == size
        assert hashlib.sha256(files.download("resume/me.bin")).hexdigest() == sha
        assert _sha256_file(src) == sha
