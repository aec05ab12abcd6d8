"""Issue 17's outside check: two local stacks named only by environment variables.

Seeds three buckets (one public with a size limit and MIME types) with ~140 objects
(nested keys, spaces and punctuation, empty files, a 50 MiB file, custom content
types, cache control, user metadata), then drives the ``hybridkit`` command as a
user would and checks every claim of the issue. Prints one line a check and the
sync's peak RSS (``/usr/bin/time -v``); exits 1 if any check fails.

Run: .venv/bin/python bench/sync_outside_check.py
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hybridkit.config import settings_for_profile
from hybridkit.local import LocalStack
from hybridkit.storage import StorageManager

MIB = 1024 * 1024
failures: list[str] = []


def check(what: str, ok: bool) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)


def hybridkit(env: dict[str, str], *args: str) -> tuple[int, str, int]:
    """Run the CLI; returns (exit status, stderr, peak RSS in KiB)."""
    cmd = [str(Path(sys.executable).with_name("hybridkit")), *args]
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    rss = [int(x.split()[-1]) for x in p.stderr.splitlines() if "Maximum resident" in x]
    return p.returncode, p.stderr, rss[0] if rss else 0


def state(storage: StorageManager, bucket: str) -> dict[str, Any]:
    out = {}
    for o in storage.iter_objects(bucket):
        i = storage.info(bucket, o.name)
        out[o.name] = (i.size, i.md5, i.content_type, i.cache_control, dict(i.user_metadata or {}))
    return out


def config(storage: StorageManager, bucket: str) -> tuple[Any, ...]:
    b = storage.get_bucket(bucket)
    return (b.public, b.file_size_limit, sorted(b.allowed_mime_types or ()))


def seed(storage: StorageManager, root: Path) -> list[str]:
    mimes = ["image/png", "text/plain", "application/json", "application/octet-stream"]
    storage.create_bucket("public-assets", public=True, file_size_limit=5 * MIB,
                          allowed_mime_types=mimes)  # fmt: skip
    storage.create_bucket("private-docs")
    storage.create_bucket("archive", file_size_limit=100 * MIB)
    f = root / "obj"
    n = 0
    for i in range(60):  # public: nested keys, spaces and punctuation, typed
        f.write_bytes(os.urandom(1000 + i * 97))
        key = f"img/{i % 5}/deep {i % 3}/pic no.{i} (v1), ok!.png"
        storage.upload(f, "public-assets", key, content_type="image/png", cache_control=86400)
        n += 1
    for i in range(70):  # private: text, json with metadata, empty files
        if i % 10 == 0:
            f.write_bytes(b"")
            ctype = "application/octet-stream"
        elif i % 2:
            f.write_bytes(f'{{"n": {i}}}'.encode())
            ctype = "application/json"
        else:
            f.write_bytes(f"line {i}\n".encode() * i)
            ctype = "text/x-custom-notes"
        storage.upload(f, "private-docs", f"reports/2026/{i:03d} a & b+(x)=y;z.txt",
                       content_type=ctype, cache_control=60 + i,
                       metadata={"owner": f"team-{i % 4}", "rev": i})  # fmt: skip
        n += 1
    for i in range(9):
        f.write_bytes(os.urandom(50_000))
        storage.upload(f, "archive", f"old/{i}.bin", content_type="application/x-archive",
                       metadata={"kept": True})  # fmt: skip
        n += 1
    big = root / "big.bin"
    with big.open("wb") as fh:
        for _ in range(50):
            fh.write(os.urandom(MIB))
    storage.upload(big, "archive", "big/fifty MiB.bin", content_type="application/x-big",
                   cache_control=3600, metadata={"size": "50MiB"})  # fmt: skip
    return ["public-assets", "private-docs", "archive"]


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="sync-check-"))
    with LocalStack(dir=root / "a", port=0) as a, LocalStack(dir=root / "b", port=0) as b:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
        for name, stack in (("SRC", a), ("DST", b)):
            env[f"HYBRIDKIT_PROFILE_{name}_URL"] = stack.url
            env[f"HYBRIDKIT_PROFILE_{name}_SERVICE_ROLE_KEY"] = stack.service_role_key
        env["XDG_CACHE_HOME"] = str(root / "cache")
        src = StorageManager(settings_for_profile("src", env=env, file=None), resume_dir=None)
        dst = StorageManager(settings_for_profile("dst", env=env, file=None), resume_dir=None)
        buckets = seed(src, root)
        total = sum(len(list(src.iter_objects(x))) for x in buckets)
        print(f"seeded {total} objects in {len(buckets)} buckets", flush=True)

        rc, err, rss = hybridkit(env, "storage", "sync", "ss://src/", "ss://dst/")
        check(f"first sync exits 0 (rc={rc})", rc == 0)
        print("   ", [x for x in err.splitlines() if x.startswith("synced")])
        check(f"the sync's peak RSS {rss / 1024:.0f} MiB < 150 MiB", 0 < rss < 150 * 1024)
        for x in buckets:
            check(f"{x}: bucket configuration matches", config(src, x) == config(dst, x))
            check(f"{x}: every object's size, MD5, type, cache control, metadata match",
                  state(src, x) == state(dst, x))  # fmt: skip
        digests = []
        for side in (src, dst):
            side.download("archive", "big/fifty MiB.bin", root / "got")
            digests.append(hashlib.sha256((root / "got").read_bytes()).hexdigest())
        check("the 50 MiB object's bytes match (sha256)", digests[0] == digests[1])

        stamps = {x: {o.name: o.updated_at for o in dst.iter_objects(x)} for x in buckets}
        rc, err, rss2 = hybridkit(env, "storage", "sync", "ss://src/", "ss://dst/")
        rewrote = {x: {o.name: o.updated_at for o in dst.iter_objects(x)} for x in buckets}
        check(f"second sync rewrites nothing (rc={rc}, {rss2 / 1024:.0f} MiB)",
              rc == 0 and "0 transferred" in err and rewrote == stamps)  # fmt: skip

        gone = "reports/2026/003 a & b+(x)=y;z.txt"
        src.remove("private-docs", [gone])
        rc, err, _ = hybridkit(env, "storage", "sync", "--delete", "ss://src/", "ss://dst/")
        check("sync --delete mirrors a deletion",
              rc == 0 and not dst.exists("private-docs", gone))  # fmt: skip

        bak = root / "bak"
        rc, _, rss3 = hybridkit(env, "storage", "backup", "ss://src/", str(bak))
        check(f"backup exits 0 ({rss3 / 1024:.0f} MiB)", rc == 0)
        rc, _, _ = hybridkit(env, "storage", "verify", str(bak))
        check("verify passes", rc == 0)
        target = bak / "objects" / "archive" / "old" / "4.bin"
        data = bytearray(target.read_bytes())
        data[1234] ^= 0x01
        target.write_bytes(bytes(data))
        p = subprocess.run([str(Path(sys.executable).with_name("hybridkit")), "storage", "verify",
                            str(bak)], env=env, capture_output=True, text=True)  # fmt: skip
        check("a changed byte makes verify fail, naming the file",
              p.returncode == 1 and "archive/old/4.bin" in p.stdout)  # fmt: skip
        data[1234] ^= 0x01
        target.write_bytes(bytes(data))

        dst.delete_bucket("public-assets", force=True)
        rc, _, rss4 = hybridkit(env, "storage", "restore", str(bak), "ss://dst/")
        check(f"restore exits 0 ({rss4 / 1024:.0f} MiB)", rc == 0)
        check("restore brings back a deleted bucket, configuration and objects",
              config(dst, "public-assets") == config(src, "public-assets")
              and state(dst, "public-assets") == state(src, "public-assets"))  # fmt: skip
    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
