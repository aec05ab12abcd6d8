"""Throughput plumbing of the storage client (issue 18), against the local stack.

Speed itself is measured by ``bench/storage_throughput.py``; these tests pin the
mechanisms: what a ``storage cp`` imports, the socket options, the pool size, the
bandwidth limit (with an injected clock), and how a folder job answers 429/503.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hybridkit.storage import StorageManager


def test_storage_cp_imports_no_supabase_py(stack: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(os.urandom(16 * 1024))
    code = (
        "import sys, json\n"
        "from hybridkit.cli import main\n"
        f"status = main(['storage', 'cp', {str(source)!r}, 'ss:///{bucket}/small.bin'])\n"
        "print(json.dumps([status, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('supabase', 'storage3', 'postgrest', 'gotrue', 'supabase_auth', 'realtime'))]))\n"
    )
    env = {
        **os.environ,
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    status, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert status == 0, out.stderr
    assert imported == []


def test_bucket_calls_still_use_storage3(manager: StorageManager, bucket: str) -> None:
    # The supabase-py client is built on first use, once, on the shared pool.
    assert bucket in {b.id for b in manager.list_buckets()}
    assert manager.client is manager.client
    assert manager.client.storage is not None
