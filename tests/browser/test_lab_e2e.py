"""End to end: an analyst opens the upload runbook in JupyterLab, runs it, and uses its panels.

JupyterLab (loopback, a token) runs against the session's local stack; Debian's
Chromium, driven by Playwright, opens ``notebooks/upload.ipynb`` with the bucket
parameter changed (as an analyst would), runs all cells, then uses the widgets: it
creates a bucket in the bucket browser, uploads a folder with the upload panel, and
deletes one object through the browser's confirmation dialog.
The result is checked on the page and in the stack, and screenshots are kept in
``tests/artifacts/browser/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import CHROMIUM, Lab

from hybridkit.config import Settings
from hybridkit.manager import HybridSupabaseManager

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; "
        "./run test does it) — a browser is never downloaded",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="pip install 'hybridkit-widgets[test]'")
pytest.importorskip("jupyterlab", reason="pip install 'hybridkit-widgets[test]'")

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "notebooks" / "upload.ipynb"

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
TIMEOUT = 120_000  # ms: run-all includes starting a kernel and uploading the sample


def _prepare_runbook(lab: Lab, bucket: str) -> Path:
    """Copy the runbook into the lab and set its bucket."""
    nb = json.loads(RUNBOOK.read_text())
    params = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(params["source"])
    changed = re.sub(r'^bucket: str = "[^"]*"', f'bucket: str = "{bucket}"', source, flags=re.M)
    assert changed != source, "the upload runbook's bucket parameter moved"
    params["source"] = changed
    assert any("rb.panel(" in "".join(c["source"]) for c in nb["cells"]), (
        "the upload runbook lost its panel cell"
    )
    target = lab.root / "upload.ipynb"
    target.write_text(json.dumps(nb, indent=1))
    return target


def _wait_for_kernel(page: Any) -> None:
    """Wait until the notebook's kernel is idle, answering a kernel dialog if one comes up."""
    from playwright.sync_api import expect

    status = page.locator(".jp-StatusBar-TextItem", has_text="| Idle")
    deadline = TIMEOUT
    while deadline > 0:
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()  # "Select Kernel": the notebook's own, Python 3
        if status.count():
            break
        page.wait_for_timeout(250)
        deadline -= 250
    expect(status).to_have_count(1, timeout=1000)


def _select(listing: Any, label_start: str) -> None:
    """Click the listing's entry whose label starts with ``label_start``."""
    from playwright.sync_api import expect

    option = listing.locator("option", has_text=label_start.lstrip("▸ "))
    expect(option.first).to_be_attached(timeout=30_000)
    # ipywidgets writes the labels' spaces as no-break spaces (to keep the columns).
    labels = [t.replace("\xa0", " ").strip() for t in listing.locator("option").all_inner_texts()]
    index = next(i for i, t in enumerate(labels) if t.startswith(label_start.strip()))
    listing.select_option(index=index)


@pytest.fixture
def manager(stack: Any, tmp_path: Path) -> Iterator[HybridSupabaseManager]:
    settings = Settings.load(
        supabase_url=stack.url, service_role_key=stack.service_role_key, env_file=None
    )
    with HybridSupabaseManager(settings, resume_dir=tmp_path / "tus") as hm:
        yield hm


@pytest.fixture
def upload_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    (folder / "daily").mkdir(parents=True)
    (folder / "summary.csv").write_text("day,files\n2026-11-21,3\n")
    (folder / "daily" / "2026-11-21.json").write_text(json.dumps({"rows": list(range(50))}))
    (folder / "daily" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    return folder


def test_analyst_runs_the_upload_runbook_and_uses_its_panels(
    lab: Lab,
    browser_context: Any,
    browser_artifacts: Path,
    stack: Any,
    manager: HybridSupabaseManager,
    upload_folder: Path,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    run_id = uuid.uuid4().hex[:8]
    runbook_bucket, new_bucket = f"e2e-runbook-{run_id}", f"e2e-panel-{run_id}"
    _prepare_runbook(lab, runbook_bucket)
    page = browser_context.new_page()
    try:
        page.goto(lab.url(f"lab/tree/upload.ipynb?reset&token={lab.token}"))
        _wait_for_kernel(page)
        # Not awaited: the command's promise lasts as long as the cells run.
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

        # The runbook ran (its summary) and showed its panels under the last cell.
        outputs = page.locator(".jp-OutputArea-output")
        expect(outputs.filter(has_text="upload: OK")).to_have_count(1, timeout=TIMEOUT)
        panels = page.locator(".hk-runbook-panels")
        expect(panels).to_be_visible(timeout=TIMEOUT)
        browser = panels.locator(".hk-browser")
        upload = panels.locator(".hk-upload")
        expect(browser.locator(".hk-status-line")).to_contain_text("bucket(s)", timeout=30_000)
        expect(upload.locator(".hk-upload-bucket input")).to_have_value(runbook_bucket)

        # Create a bucket in the bucket browser.
        browser.locator(".hk-new-bucket input").fill(new_bucket)
        browser.locator("button.hk-create-bucket").click()
        expect(browser.locator(".hk-status-line")).to_contain_text(
            f"created the private bucket '{new_bucket}'", timeout=30_000
        )
        expect(browser.locator(".hk-path")).to_contain_text(f"{new_bucket}/")

        # Upload a folder into it with the upload panel.
        upload.locator(".hk-upload-bucket input").fill(new_bucket)
        upload.locator(".hk-upload-prefix input").fill("reports/2026-11")
        upload.locator(".hk-upload-path input").fill(str(upload_folder))
        upload.locator("button.hk-upload-start").click()
        expect(upload.locator(".hk-upload-summary")).to_contain_text(
            "upload summary: OK", timeout=60_000
        )
        expect(upload.locator(".hk-status-line")).to_contain_text(
            f"3 of 3 file(s) uploaded to '{new_bucket}'"
        )
        expect(upload.locator(".hk-upload-files")).to_contain_text("reports/2026-11/daily/big.bin")

        # The browser shows what landed.
        browser.locator("button.hk-refresh").click()
        expect(browser.locator(".hk-listing select")).to_contain_text("reports/", timeout=30_000)
        listing = browser.locator(".hk-listing select")
        _select(listing, "▸ reports/")
        browser.locator("button.hk-open").click()
        expect(browser.locator(".hk-path")).to_contain_text(f"{new_bucket}/reports/")
        _select(listing, "▸ 2026-11/")
        browser.locator("button.hk-open").click()
        expect(listing).to_contain_text("summary.csv", timeout=30_000)
        expect(listing).to_contain_text("text/csv")
        expect(listing).to_contain_text("daily/")

        # What an analyst sees: the panels, then the whole window.
        panels.scroll_into_view_if_needed()
        panels.screenshot(path=str(browser_artifacts / "upload-runbook-panels.png"))
        page.screenshot(path=str(browser_artifacts / "upload-runbook-window.png"))

        # A signed link: the URL itself, with a Copy button, by the buttons.
        _select(listing, "summary.csv")
        browser.locator("button.hk-sign").click()
        url_field = browser.locator("input.hk-signed-url")
        expect(url_field).to_be_visible(timeout=30_000)
        assert url_field.input_value().startswith(stack.url) and "token=" in url_field.input_value()
        browser.locator("button.hk-copy").click()
        expect(browser.locator("button.hk-copy")).to_have_text("Copied")
        browser.locator(".hk-output").screenshot(path=str(browser_artifacts / "browser-signed.png"))

        # A download goes to the folder typed in, and the panel says where.
        chosen = tmp_path / "chosen-downloads"
        _select(listing, "summary.csv")
        browser.locator(".hk-download-dir input").fill(str(chosen))
        browser.locator("button.hk-download").click()
        expect(browser.locator(".hk-status-line")).to_contain_text(
            f"downloaded 1 file(s) into {chosen}", timeout=30_000
        )
        assert (chosen / "summary.csv").read_text() == (upload_folder / "summary.csv").read_text()

        # A destructive action asks first: delete one object after typing the bucket's name.
        _select(listing, "summary.csv")
        browser.locator("button.hk-delete").click()
        confirm = browser.locator("button.hk-confirm-button")
        expect(confirm).to_be_disabled()
        browser.locator(".hk-confirm-text input").fill(new_bucket)
        expect(confirm).to_be_enabled()
        browser.locator(".hk-confirm").screenshot(
            path=str(browser_artifacts / "browser-confirm-delete.png")
        )
        confirm.click()
        expect(browser.locator(".hk-status-line").last).to_contain_text(
            f"deleted 1 object(s) from '{new_bucket}'", timeout=30_000
        )
        expect(listing).not_to_contain_text("summary.csv")
        expect(browser.locator(".hk-status-line")).to_have_count(1)  # one status line

        # No secret on the page (the target shows the URL and the key's role only), nor in
        # the notebook as JupyterLab saves it.
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        saved = (lab.root / "upload.ipynb").read_text()
        shutil.copy(lab.root / "upload.ipynb", browser_artifacts / "upload-runbook.ipynb")
        content = page.content()
        for secret in (stack.service_role_key, stack.anon_key, stack.jwt_secret):
            if secret:
                assert secret not in content
                assert secret not in saved
        assert not JWT.search(saved) and not JWT.search(content)
        assert "service_role key (not shown)" in content
        assert "upload: OK" in saved  # it was saved with its outputs
    except Exception:
        page.screenshot(path=str(browser_artifacts / "failure.png"))
        texts = page.locator(".jp-OutputArea-output").all_inner_texts()
        print("\n---\n".join(t[:800] for t in texts))
        print(lab.log.read_text()[-3000:])
        raise
    finally:
        page.close()
        lab.shutdown_kernels()

    # And in the stack: the runbook's upload and the panel's, byte for byte.
    try:
        runbook_keys = [o.name for o in manager.list_objects(runbook_bucket).unwrap()]
        assert len(runbook_keys) == 12  # the runbook's generated sample folder
        stored = {o.name: o for o in manager.list_objects(new_bucket).unwrap()}
        assert sorted(stored) == [  # summary.csv was deleted through the browser
            "reports/2026-11/daily/2026-11-21.json",
            "reports/2026-11/daily/big.bin",
        ]
        big = (upload_folder / "daily" / "big.bin").read_bytes()
        assert stored["reports/2026-11/daily/big.bin"].size == len(big)
        assert stored["reports/2026-11/daily/big.bin"].md5 == hashlib.md5(big).hexdigest()
    finally:
        manager.delete_bucket(runbook_bucket, force=True)
        manager.delete_bucket(new_bucket, force=True)
