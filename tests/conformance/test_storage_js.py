"""supabase-js's storage client (storage-js), unchanged, under Node against the target.

The JavaScript side lives in ``tests/conformance/js``: a pinned
``@supabase/supabase-js`` (package-lock.json committed) and ``storage.test.mjs``,
run with Node's built-in test runner. This test installs the packages with
``npm ci`` when ``node_modules`` is missing, runs ``node --test`` with the
environment pointing at the ``stack`` fixture, and fails with Node's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).parent / "js"


def _node_major(node: str) -> int:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


@pytest.mark.node
def test_storage_js_conformance(stack: Any) -> None:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed for the supabase-js conformance tests")
    major = _node_major(node)
    if major < 20:
        pytest.skip(f"supabase-js needs Node.js 20 or later (found {major})")

    if not (JS_DIR / "node_modules" / "@supabase" / "supabase-js").is_dir():
        install = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if install.returncode != 0:
            pytest.fail(f"npm ci failed:\n{install.stdout}\n{install.stderr}")

    env = {
        **os.environ,
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_ANON_KEY": stack.anon_key,
        "NO_COLOR": "1",
    }
    # Node 20 has WebSocket only behind a flag; supabase-js's realtime client wants it.
    flags = ["--experimental-websocket"] if major < 22 else []
    result = subprocess.run(
        [node, *flags, "--test", "--test-reporter=spec", "storage.test.mjs"],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"node --test failed:\n{output}"
    assert "# fail 0" in output or "ℹ fail 0" in output, output
