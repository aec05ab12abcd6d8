"""The bucket browser: its state against the local stack, and the panel's wiring."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import hybridkit_widgets as hkw
import pytest
from widgetfakes import FakeManager, keys_in

from hybridkit.config import Settings
from hybridkit.errors import RetryableError
from hybridkit.manager import HybridSupabaseManager

Put = Callable[[str, str, bytes], None]


def text_of(widget: Any) -> str:
    """What an HTML widget shows, as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


@pytest.fixture
def filled(bucket: str, put: Put) -> str:
    put(bucket, "readme.txt", b"hello")
    put(bucket, "2026/jan.csv", b"a,b\n1,2\n")
    put(bucket, "2026/feb.csv", b"a,b\n3,4\n5,6\n")
    put(bucket, "2026/deep/x.json", b"{}")
    return bucket


def test_lists_folders_first_then_objects_with_size_type_and_age(
    manager: HybridSupabaseManager, filled: str
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    state = hkw.BrowserState(manager, clock=lambda: later)
    assert filled in [b.name for b in state.load_buckets()]
    entries = state.open_bucket(filled)
    assert [(e.key, e.is_folder) for e in entries] == [("2026/", True), ("readme.txt", False)]
    assert state.rows() == [
        {"name": "2026/", "size": "", "type": "folder", "age": ""},
        {"name": "readme.txt", "size": "5 B", "type": "text/plain", "age": "10 min"},
    ]
    state.enter("2026/")
    assert state.path == f"{filled}/2026/"
    assert [e.name for e in state.entries] == ["deep/", "feb.csv", "jan.csv"]
    assert state.entry("2026/feb.csv").size == 12
    assert state.entry("2026/feb.csv").content_type == "text/csv"
    state.enter("2026/deep/")
    assert [e.name for e in state.entries] == ["x.json"]
    state.up()
    state.up()
    assert state.prefix == "" and state.path == f"{filled}/"
    state.up()  # at the top: stays
    assert state.prefix == ""


def test_refuses_what_is_not_in_the_listing_and_files_as_folders(
    manager: HybridSupabaseManager, filled: str
) -> None:
    state = hkw.BrowserState(manager, bucket=filled)
    state.refresh()
    with pytest.raises(hkw.PanelError, match="not in this folder any more"):
        state.enter("nope/")
    with pytest.raises(hkw.PanelError, match="is a file, not a folder"):
        state.enter("readme.txt")
    with pytest.raises(hkw.PanelError, match="for one object, not a folder"):
        state.signed_url("2026/")
    with pytest.raises(hkw.PanelError, match="select what to delete"):
        state.delete([])


def test_signed_link_downloads_the_object(manager: HybridSupabaseManager, filled: str) -> None:
    state = hkw.BrowserState(manager, bucket=filled)
    state.refresh()
    url = state.signed_url("readme.txt", 60)
    assert httpx.get(url).content == b"hello"


def test_download_writes_objects_and_folders(
    manager: HybridSupabaseManager, filled: str, tmp_path: Path
) -> None:
    state = hkw.BrowserState(manager, bucket=filled)
    state.refresh()
    written = state.download(["readme.txt", "2026/"], tmp_path / "out")
    assert (tmp_path / "out" / "readme.txt").read_bytes() == b"hello"
    assert (tmp_path / "out" / "2026" / "deep" / "x.json").read_bytes() == b"{}"
    assert len(written) == 4


def test_delete_objects_and_folders_then_empty_and_delete_the_bucket(
    manager: HybridSupabaseManager, filled: str
) -> None:
    state = hkw.BrowserState(manager, bucket=filled)
    state.refresh()
    plan = state.describe_delete(["readme.txt", "2026/"])
    assert plan == (
        f"delete readme.txt (5 B) and 1 folder(s) with everything in them (2026/) "
        f"from bucket {filled!r}"
    )
    state.enter("2026/")
    deleted = state.delete(["2026/jan.csv", "2026/deep/"])
    assert sorted(deleted) == ["2026/deep/x.json", "2026/jan.csv"]
    assert keys_in(manager, filled) == ["2026/feb.csv", "readme.txt"]
    assert state.count_objects() == (2, 17)
    state.empty_bucket()
    assert keys_in(manager, filled) == []
    state.delete_bucket()
    assert filled not in [b.name for b in manager.list_buckets().unwrap()]
    assert state.bucket is None


def test_create_bucket_opens_it(manager: HybridSupabaseManager, unique_name: str) -> None:
    state = hkw.BrowserState(manager)
    try:
        state.create_bucket(f"  {unique_name} ")
        assert state.bucket == unique_name and state.entries == []
        assert unique_name in state.bucket_names
        with pytest.raises(hkw.PanelError, match=r"create bucket .* failed: ConflictError"):
            state.create_bucket(unique_name)
        with pytest.raises(hkw.PanelError, match="type a name"):
            state.create_bucket(" ")
    finally:
        manager.delete_bucket(unique_name, force=True)


# ------------------------------------------------------------------------- the panel


def test_panel_creates_a_bucket_and_browses_it(
    manager: HybridSupabaseManager, unique_name: str, put: Put
) -> None:
    browser = hkw.BucketBrowser(manager)
    try:
        browser.new_name.value = unique_name
        browser.create_button.click()
        assert browser.level == "ok", browser.message
        assert browser.message == f"created the private bucket {unique_name!r}"
        assert browser.bucket_select.value == unique_name
        assert unique_name in [b.name for b in manager.list_buckets().unwrap()]
        put(unique_name, "in/a.csv", b"1,2\n")
        put(unique_name, "top.txt", b"x")
        browser.refresh_button.click()
        labels = [label for label, _ in browser.listing.options]
        assert labels[0].startswith("▸ in/") and "folder" in labels[0]
        assert labels[1].startswith("  top.txt") and "1 B" in labels[1]
        browser.select("in/")
        browser.open_button.click()
        assert browser.state.prefix == "in/"
        assert unique_name + "/in/" in browser.path_label.value
        assert [key for _, key in browser.listing.options] == ["in/a.csv"]
        browser.up_button.click()
        assert browser.state.prefix == ""
    finally:
        manager.delete_bucket(unique_name, force=True)


def test_panel_deletes_only_after_the_name_is_typed(
    manager: HybridSupabaseManager, filled: str
) -> None:
    browser = hkw.BucketBrowser(manager, bucket=filled)
    browser.select("readme.txt")
    browser.delete_button.click()
    dialog_box = browser.confirm_area.children[0]
    assert f"delete readme.txt (5 B) from bucket {filled!r}" in text_of(dialog_box.children[0])
    assert "readme.txt" in keys_in(manager, filled)  # nothing yet
    text, confirm, _cancel = dialog_box.children[1].children
    text.value = filled
    confirm.click()
    assert "readme.txt" not in keys_in(manager, filled)
    assert browser.level == "ok" and browser.message == f"deleted 1 object(s) from {filled!r}"
    assert browser.confirm_area.children == ()  # one status line: the dialog is gone
    assert [key for _, key in browser.listing.options] == ["2026/"]


def test_panel_empty_and_delete_bucket_ask_first(
    manager: HybridSupabaseManager, filled: str
) -> None:
    browser = hkw.BucketBrowser(manager, bucket=filled)
    browser.empty_button.click()
    box = browser.confirm_area.children[0]
    assert f"empty bucket {filled!r}: delete all 4 object(s)" in text_of(box.children[0])
    box.children[1].children[2].click()  # Cancel
    assert len(keys_in(manager, filled)) == 4
    browser.drop_button.click()
    box = browser.confirm_area.children[0]
    assert f"delete bucket {filled!r} and its 4 object(s)" in text_of(box.children[0])
    box.children[1].children[0].value = filled
    box.children[1].children[1].click()
    assert filled not in [b.name for b in manager.list_buckets().unwrap()]
    assert browser.message == f"deleted bucket {filled!r}"


def test_panel_signed_link_is_shown_with_a_copy_button(
    manager: HybridSupabaseManager, filled: str
) -> None:
    browser = hkw.BucketBrowser(manager, bucket=filled)
    browser.select("readme.txt")
    browser.sign_button.click()
    assert browser.level == "ok"
    shown = browser.output.value
    url = shown.split("value='", 1)[1].split("'", 1)[0].replace("&amp;", "&")
    assert url.startswith(manager.settings.supabase_url) and "token=" in url
    assert 'class="hk-copy"' in shown and ">Copy</button>" in shown
    assert "right-click" not in shown
    # the URL works: anyone holding it downloads the object
    import httpx

    assert httpx.get(url).content == b"hello"
    assert "token" not in browser.status.value  # the status line stays free of it


def test_panel_download_shows_where_files_went(
    manager: HybridSupabaseManager, filled: str, tmp_path: Path
) -> None:
    browser = hkw.BucketBrowser(manager, bucket=filled, download_dir=str(tmp_path / "dl"))
    browser.select("readme.txt")
    browser.download_button.click()
    assert browser.level == "ok", browser.message
    assert (tmp_path / "dl" / "readme.txt").read_bytes() == b"hello"
    assert str(tmp_path / "dl" / "readme.txt") in browser.output.value
    assert browser.message == f"downloaded 1 file(s) into {tmp_path / 'dl'}"


def test_downloads_go_outside_the_repository_by_default(
    manager: HybridSupabaseManager, filled: str
) -> None:
    browser = hkw.BucketBrowser(manager, bucket=filled)
    assert browser.download_dir.value == str(Path.home() / "Downloads" / "hybridkit")
    repo = Path(__file__).resolve().parents[2]
    assert not Path(browser.download_dir.value).resolve().is_relative_to(repo)


def test_panel_shows_errors_instead_of_raising(manager: HybridSupabaseManager, filled: str) -> None:
    browser = hkw.BucketBrowser(manager, bucket=filled)
    browser.open_button.click()  # nothing selected
    assert browser.level == "error" and browser.message == "open folder: select one folder to open"
    browser.select("readme.txt", "2026/")
    browser.sign_button.click()
    assert browser.message == "signed link: select one object to sign"
    browser.new_name.value = "bad/name"
    browser.create_button.click()
    assert browser.level == "error"
    assert "create bucket 'bad/name' failed: InvalidInputError" in browser.message


def test_an_unreachable_target_is_reported_in_the_panel(tmp_path: Path) -> None:
    settings = Settings.load(
        supabase_url="http://127.0.0.1:9",
        service_role_key="service-secret-value",
        max_retries=0,
        env_file=None,
    )
    with HybridSupabaseManager(settings, resume_dir=None) as hm:
        browser = hkw.BucketBrowser(hm)
    assert browser.level == "error"
    assert browser.message.startswith("load buckets: list buckets failed: ")
    assert "service-secret-value" not in browser.status.value
    assert browser.listing.options == ()
    assert all(b.disabled for b in (browser.delete_button, browser.sign_button))


def test_secrets_in_an_error_never_reach_the_panel() -> None:
    fake = FakeManager(fail_with=RetryableError("refused for key service-secret-value"))
    settings = Settings.load(
        supabase_url="http://127.0.0.1:54321",
        service_role_key="service-secret-value",
        env_file=None,
    )
    browser = hkw.BucketBrowser(fake, settings=settings)
    assert browser.level == "error"
    assert "service-secret-value" not in browser.message
    assert "refused for key ***" in browser.message
