"""Reliability benchmark: a folder job through a fault-injecting proxy (not a test).

The folder of issue 12 (``--files`` files, log-uniform from 1 KB to ``--max-mb``)
is uploaded through the project's fault proxy (tests/integration/faultproxy.py),
which draws a fault per 64 KiB of request bytes — a reset mid-body, a
``--stall``-second stall, a slow chunk — and answers 503 to ``--connect-503`` of
new connections. For each fault rate and each way of uploading it prints the
files that landed intact, the exit status, the wall time, the retries and the
peak RSS:

* ``resumable``: ``hybridkit storage cp -r --resumable --deadline D``;
* ``standard``: ``hybridkit storage cp -r --standard --deadline D`` (a file of
  more than 1 MiB whose request fails goes on as resumable);
* ``auto``: ``hybridkit storage cp -r --deadline D`` (the size threshold decides);
* ``storage3``: the official client alone, one attempt per file, no retries,
  4 threads.

Each run gets a fresh bucket and the same proxy seed. The CLI runs in its own
process, so the RSS is the job's alone (``VmHWM``). Figures go to stdout as a
Markdown table (and to ``--json``).

Usage::

    python bench/storage_reliability.py                 # the issue's soak: 100 files up to 33 MB
    python bench/storage_reliability.py --files 30 --max-mb 4 --stall 5 --idle 2 \\
        --deadline 60 --chunk-mb 1 --rates 0.01,0.1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from faultproxy import FaultProxy  # noqa: E402


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _sizes(count: int, max_bytes: int) -> list[int]:
    rng = random.Random(7)
    low, high = math.log(1000), math.log(max_bytes)
    out = [int(math.exp(rng.uniform(low, high))) for _ in range(count)]
    out[0], out[-1] = 1000, max_bytes
    return out


def _folder(root: Path, count: int, max_mb: float) -> dict[str, tuple[int, str]]:
    files: dict[str, tuple[int, str]] = {}
    for i, size in enumerate(_sizes(count, int(max_mb * MiB))):
        rel = f"d{i % 4}/f{i:03d}.bin"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(i)
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("wb") as fh:
            left = size
            while left:
                block = rng.randbytes(min(MiB, left))
                digest.update(block)
                fh.write(block)
                left -= len(block)
        files[rel] = (size, digest.hexdigest())
    return files


@contextmanager
def _stack(work: Path) -> Iterator[tuple[str, str]]:
    from hybridkit.local import LocalStack

    with LocalStack(dir=work / "stack", port=0) as stack:
        yield stack.url, stack.service_role_key


def _intact(url: str, key: str, bucket: str, files: dict[str, tuple[int, str]]) -> int:
    """Files stored under their key with the right bytes (checked straight, no proxy)."""
    import httpx

    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    good = 0
    with httpx.Client(base_url=f"{url}/storage/v1", headers=headers, timeout=60) as client:
        for rel, (_, digest) in files.items():
            response = client.get(f"/object/{bucket}/job/{rel}")
            if response.status_code == 200 and hashlib.md5(response.content).hexdigest() == digest:
                good += 1
    return good


def _bucket(url: str, key: str, create: bool, name: str) -> None:
    import httpx

    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{url}/storage/v1", headers=headers, timeout=60) as client:
        if create:
            client.post("/bucket", json={"name": name, "public": False}).raise_for_status()
        else:
            client.post(f"/bucket/{name}/empty", json={})
            client.request("DELETE", f"/bucket/{name}", json={})


def _run_cli(
    method: str, folder: Path, bucket: str, proxy_url: str, key: str, args: argparse.Namespace
) -> dict[str, Any]:
    env = {
        **os.environ,
        "SUPABASE_URL": proxy_url,
        "SUPABASE_SERVICE_ROLE_KEY": key,
        "SUPABASE_IDLE_TIMEOUT": str(args.idle),
        "SUPABASE_CHUNK_SIZE": str(int(args.chunk_mb * MiB)),
        "SUPABASE_STANDARD_UPLOAD_THRESHOLD": str(int(args.chunk_mb * MiB)),
        "XDG_CACHE_HOME": str(folder.parent / f"cache-{bucket}"),
    }
    env.pop("SUPABASE_ANON_KEY", None)
    command = [sys.executable, "-m", "hybridkit", "storage", "cp", "-r", "-j", str(args.jobs)]
    command += ["--deadline", str(args.deadline)]
    command += {"resumable": ["--resumable"], "standard": ["--standard"], "auto": []}[method]
    command += [str(folder), f"ss:///{bucket}/job"]
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, cwd=folder.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, _hwm(process.pid))
        time.sleep(0.05)
    seconds = time.monotonic() - started
    err = (process.stderr.read() if process.stderr else b"").decode()
    summary = re.search(r"uploaded: (.*)", err)
    retries = re.search(r"(\d+) retries", summary[1]) if summary else None
    resent = re.search(r"\((\d+) re-sent\)", summary[1]) if summary else None
    return {
        "exit": process.returncode,
        "seconds": seconds,
        "retries": int(retries[1]) if retries else None,
        "resent_mb": int(resent[1]) / MiB if resent else None,
        "rss_mib": peak / 1024,
        "breaker_lines": err.count("server unreachable"),
        "circuit_open_failures": err.count("circuit open"),
        "summary": summary[1] if summary else err[-500:],
        "failed": [line[8:300] for line in err.splitlines() if line.startswith("failed: ")],
    }


def _run_storage3(
    folder: Path, files: dict[str, tuple[int, str]], bucket: str, proxy_url: str, key: str
) -> dict[str, Any]:
    """storage3 alone: one attempt per file, no retries, 4 threads."""
    import httpx
    from supabase import ClientOptions, create_client

    http = httpx.Client(timeout=httpx.Timeout(60.0))
    client = create_client(proxy_url, key, options=ClientOptions(httpx_client=http))
    started = time.monotonic()

    def one(rel: str) -> bool:
        try:
            with (folder / rel).open("rb") as fh:
                client.storage.from_(bucket).upload(
                    f"job/{rel}", fh.read(), {"content-type": "application/octet-stream"}
                )
        except Exception:
            return False
        return True

    with ThreadPoolExecutor(4) as pool:
        ok = sum(pool.map(one, files))
    http.close()
    return {
        "exit": 0 if ok == len(files) else 1,
        "seconds": time.monotonic() - started,
        "retries": 0,
        "resent_mb": None,
        "rss_mib": None,
        "breaker_lines": 0,
        "circuit_open_failures": 0,
        "summary": f"{ok} of {len(files)} uploads answered 200",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--max-mb", type=float, default=33)
    parser.add_argument("--rates", default="0.003,0.01,0.1", help="faults per 64 KiB chunk")
    parser.add_argument("--methods", default="resumable,standard,storage3")
    parser.add_argument("--stall", type=float, default=40.0, help="seconds a stall holds")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds a slow chunk holds")
    parser.add_argument("--connect-503", type=float, default=0.2)
    parser.add_argument("--idle", type=float, default=15.0, help="SUPABASE_IDLE_TIMEOUT")
    parser.add_argument("--deadline", type=float, default=400.0)
    parser.add_argument("--chunk-mb", type=float, default=6.0)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hk-reliability-") as tmp:
        work = Path(tmp)
        files = _folder(work / "folder", args.files, args.max_mb)
        small = {rel for rel, (size, _) in files.items() if size <= 200_000}
        with _stack(work) as (url, key):
            for rate in (float(r) for r in args.rates.split(",")):
                for method in args.methods.split(","):
                    bucket = f"rel-{uuid.uuid4().hex[:8]}"
                    _bucket(url, key, True, bucket)
                    with FaultProxy(
                        url,
                        seed=args.seed,
                        chunk_fault_rate=rate,
                        stall_seconds=args.stall,
                        slow_seconds=args.slow,
                        connect_503_rate=args.connect_503,
                    ) as proxy:
                        if method == "storage3":
                            row = _run_storage3(work / "folder", files, bucket, proxy.url, key)
                        else:
                            row = _run_cli(method, work / "folder", bucket, proxy.url, key, args)
                        faults = {k: v for k, v in proxy.counts.items() if k != "none"}
                    row.update(
                        rate=rate,
                        method=method,
                        intact=_intact(url, key, bucket, files),
                        small_intact=_intact(url, key, bucket, {r: files[r] for r in small}),
                        small=len(small),
                        faults=faults,
                    )
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    _bucket(url, key, False, bucket)
    total = len(files)
    print(
        f"\n{total} files, {sum(s for s, _ in files.values()) / MiB:.0f} MiB, up to "
        f"{args.max_mb:g} MB; stall {args.stall:g}s, idle timeout {args.idle:g}s, "
        f"deadline {args.deadline:g}s, 503 on {args.connect_503:.0%} of new connections\n"
    )
    print(
        "| faults/64 KiB | method | landed intact | ≤200 KB intact | exit | wall s | retries "
        "| re-sent MiB | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        resent = f"{r['resent_mb']:.0f}" if r["resent_mb"] is not None else "-"
        rss = f"{r['rss_mib']:.0f}" if r["rss_mib"] is not None else "-"
        print(
            f"| {r['rate']:.1%} | {r['method']} | {r['intact']}/{total} | "
            f"{r['small_intact']}/{r['small']} | {r['exit']} | {r['seconds']:.0f} | "
            f"{r['retries'] if r['retries'] is not None else '-'} | {resent} | {rss} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
