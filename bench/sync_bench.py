"""Project-to-project sync between two local stacks: time and the CLI's peak RSS (docs/sync.md).

Run: .venv/bin/python bench/sync_bench.py  (prints one line a run; the second run skips all).
Project to project the bytes stream from the source's download into the upload (no spool file).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hybridkit.config import settings_for_profile
from hybridkit.local import LocalStack
from hybridkit.storage import StorageManager

root = Path(tempfile.mkdtemp(prefix="syncbench-"))
with LocalStack(dir=root / "a", port=0) as a, LocalStack(dir=root / "b", port=0) as b:
    env = dict(os.environ)
    for n, s in (("SRC", a), ("DST", b)):
        env[f"HYBRIDKIT_PROFILE_{n}_URL"] = s.url
        env[f"HYBRIDKIT_PROFILE_{n}_SERVICE_ROLE_KEY"] = s.service_role_key
    env["XDG_CACHE_HOME"] = str(root / "cache")
    src = StorageManager(settings_for_profile("src", env=env, file=None), resume_dir=None)
    src.create_bucket("bench")
    big = root / "big.bin"
    big.write_bytes(os.urandom(50 * 1024 * 1024))
    src.upload(big, "bench", "big.bin")
    small = root / "small.bin"
    for i in range(100):
        small.write_bytes(os.urandom(10_000))
        src.upload(small, "bench", f"many/{i:03d}.bin")
    cmd = [
        str(Path(sys.executable).with_name("hybridkit")),
        "storage",
        "sync",
        "ss://src/bench",
        "ss://dst/bench",
    ]
    for run in (1, 2):
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
        dt = time.monotonic() - t
        rss = [x for x in p.stderr.splitlines() if "Maximum resident" in x]
        summary = [x for x in p.stderr.splitlines() if x.startswith("synced")]
        print(p.stderr[-600:] if p.returncode else "", flush=True)
        mib = (50 * 1024 * 1024 + 100 * 10_000) / 2**20
        print(
            f"run {run}: rc={p.returncode} {dt:.1f}s, {101 / dt:.0f} objects/s, "
            f"{mib / dt:.0f} MiB/s "
            f"(wall time of the CLI, start-up included) {rss} {summary}",
            flush=True,
        )
