"""JupyterLab on loopback against the test stack, and Debian's Chromium driven by Playwright.

Never downloads a browser: Playwright's Python package brings only its driver,
and the browser is the system's ``/usr/bin/chromium`` (``./run test`` installs
Debian's ``chromium`` package). Without it the tests skip and say why (see the
test module).

One JupyterLab server per session, isolated in a temporary folder (config, runtime,
data, IPython profile, settings, workspaces), bound to 127.0.0.1 with a random token.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import CHROMIUM, CHROMIUM_ARGS, Lab, free_port, lab_env, prepare_home


@pytest.fixture(scope="session")
def lab(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab server for the session (loopback, a token, no browser of its own)."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    prepare_home(home)
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=lab_env(stack, home),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield Lab(base, token, root, log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium with a fresh profile, driven by Playwright.

    One per test module: Playwright's sync API keeps an asyncio loop running in the main
    thread while it is open, which would make every later test that starts its own
    loop (the MCP client's ``anyio.run``) fail with "Already running asyncio".
    """
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1400},
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_artifacts(artifacts_dir: Path) -> Path:
    """Screenshots and the executed notebook land here (tests/artifacts is gitignored)."""
    path = artifacts_dir / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path
