"""Storage benchmark: hybridkit against storage3 and curl, side by side (not a test).

Prints, from one run against the local stack (started here, or the project named
by SUPABASE_URL / SUPABASE_SERVICE_ROLE_KEY):

* throughput and peak RSS for one large file uploaded by hybridkit (standard and
  resumable), by storage3's plain ``upload`` from ``bytes``, and by curl (the ceiling);
* files/s for many small files: hybridkit's folder upload against a sequential
  storage3 loop;
* the time to empty a bucket of many objects.

Every upload runs in its own process, so each peak RSS is that method's alone:
``VmHWM`` of the executed program (``ru_maxrss`` would include the forked copy of
this process from before ``exec``).

Usage::

    python bench/storage_throughput.py                  # the issue's sizes (1 GiB, 2000, 20000)
    python bench/storage_throughput.py --big-mb 256 --small-files 500 --empty-objects 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


# --------------------------------------------------------------------------- child side


def _child(method: str, path: str, bucket: str, key: str) -> None:
    """Upload ``path`` one way and print {"seconds": ...} (RSS is read by the parent)."""
    from hybridkit.config import Settings

    settings = Settings.load(
        env_file=None,
        standard_upload_threshold=2**40 if method == "hybridkit-standard" else 6 * MiB,
    )
    url, key_value = settings.supabase_url, settings.api_key
    assert url and key_value
    # Imports happen before the clock starts (supabase-py takes ~0.5 s to import): the
    # figure is the transfer's, as curl's is.
    import httpx
    from supabase import ClientOptions, create_client

    from hybridkit.storage import StorageManager

    started = time.perf_counter()
    if method.startswith("hybridkit"):
        with StorageManager(settings, resume_dir=None) as manager:
            manager.upload(path, bucket, key, resumable=method == "hybridkit-resumable")
    elif method == "storage3-bytes":
        client = create_client(
            url,
            key_value.get_secret_value(),
            options=ClientOptions(httpx_client=httpx.Client(timeout=600)),
        )
        data = Path(path).read_bytes()
        client.storage.from_(bucket).upload(key, data, {"content-type": "application/octet-stream"})
    else:
        raise SystemExit(f"unknown method {method}")
    print(json.dumps({"seconds": time.perf_counter() - started, "rss_kib": _hwm("self")}))


def _hwm(pid: str) -> int:
    """Peak resident set size (KiB) of a live process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- parent side


def _wait(process: subprocess.Popen[str]) -> tuple[str, int]:
    """Wait for a child, watching its peak RSS; return its stdout and that peak (KiB)."""
    peak = 0
    while process.poll() is None:
        peak = max(peak, _hwm(str(process.pid)))
        time.sleep(0.02)
    out = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        err = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"child failed ({process.returncode}): {err[-2000:]}")
    return out, peak


def _run_child(
    method: str, path: Path, bucket: str, key: str, env: dict[str, str]
) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", method, str(path), bucket, key],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out, watched = _wait(process)
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_kib"] = max(result["rss_kib"], watched)
    return result


def _run_curl(path: Path, url: str, key: str, bucket: str, name: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".headers", delete=False) as headers:
        # Headers from a file: the key never appears on a command line.
        headers.write(f"Authorization: Bearer {key}\napikey: {key}\n")
        headers.write("Content-Type: application/octet-stream\nx-upsert: true\n")
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                "curl",
                "-sS",
                "--fail-with-body",
                "-o",
                "/dev/null",
                "-H",
                f"@{headers.name}",
                "-X",
                "POST",
                "-T",
                str(path),
                f"{url}/storage/v1/object/{bucket}/{name}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, rss = _wait(process)
        return {"seconds": time.perf_counter() - started, "rss_kib": rss}
    finally:
        os.unlink(headers.name)


@contextmanager
def _target(work: Path) -> Iterator[tuple[str, str]]:
    url, key = os.environ.get("SUPABASE_URL"), os.environ.get("SUPABASE_SERVICE_ROLE_KEY")
    if url and key:
        yield url, key
        return
    from hybridkit.local import LocalStack

    with LocalStack(dir=work / "stack", port=0) as stack:
        yield stack.url, stack.service_role_key


def _write(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(MiB, left)
            fh.write(block[:n])
            left -= n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=int, default=1024, help="large file size (MiB)")
    parser.add_argument("--small-files", type=int, default=2000, help="small files (16 KiB)")
    parser.add_argument("--empty-objects", type=int, default=20000, help="objects to empty")
    parser.add_argument("--jobs", type=int, default=8, help="folder-upload concurrency")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the large-file runs")
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0.0,
        help="for the small-file runs, add this round trip to every request of both "
        "clients (a network between them and the server; 0 = bare loopback)",
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch folder")
    parser.add_argument(
        "--only", default="big,small,empty", help="comma-separated: big, small, empty"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = Path(args.work or tempfile.mkdtemp(prefix="hybridkit-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    from hybridkit.config import Settings
    from hybridkit.storage import StorageManager

    with _target(work) as (url, key):
        env = {**os.environ, "SUPABASE_URL": url, "SUPABASE_SERVICE_ROLE_KEY": key}
        settings = Settings.load(env={}, env_file=None, supabase_url=url, service_role_key=key)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        lines: list[str] = [f"target: {url}  (cpus: {os.cpu_count()})"]
        with StorageManager(settings, resume_dir=None, max_connections=32) as manager:
            manager.create_bucket(bucket)
            try:
                if "big" in only:
                    lines += _big(
                        manager, work, url, key, bucket, env, args.big_mb * MiB, args.repeat
                    )
                if "small" in only:
                    with _small_files_manager(settings, args.rtt_ms) as small_manager:
                        lines += _small(
                            small_manager, work, bucket, args.small_files, args.jobs, args.rtt_ms
                        )
                if "empty" in only:
                    lines += _empty(manager, work, args.empty_objects, args.jobs)
            finally:
                manager.delete_bucket(bucket, force=True)
        print("\n".join(lines))


def _big(
    manager: Any,
    work: Path,
    url: str,
    key: str,
    bucket: str,
    env: dict[str, str],
    size: int,
    repeat: int,
) -> list[str]:
    path = work / "big.bin"
    _write(path, size)
    runs: dict[str, list[dict[str, Any]]] = {}
    # Interleaved rounds, so that a busy machine hits every method alike; and the page
    # cache is written back before each run (``sync``), so that no run pays for the
    # dirty pages the one before it left behind.
    for _ in range(repeat):
        os.sync()
        runs.setdefault("curl (ceiling)", []).append(_run_curl(path, url, key, bucket, "c.bin"))
        manager.remove(bucket, ["c.bin"])
        for method in ("hybridkit-standard", "hybridkit-resumable"):
            os.sync()
            runs.setdefault(method, []).append(_run_child(method, path, bucket, "h.bin", env))
            manager.remove(bucket, ["h.bin"])
    os.sync()
    # Once is enough to show what reading the file into memory costs.
    runs["storage3-bytes"] = [_run_child("storage3-bytes", path, bucket, "s.bin", env)]
    manager.remove(bucket, ["s.bin"])
    path.unlink()

    def rate(row: dict[str, Any]) -> float:
        return size / row["seconds"]

    def median(rows: list[dict[str, Any]]) -> float:
        rates = sorted(rate(r) for r in rows)
        return rates[len(rates) // 2]

    ceiling = median(runs["curl (ceiling)"])
    out = [
        f"\none file of {size / MiB:.0f} MiB, median of {repeat} interleaved run(s)",
        f"{'method':<22}{'MiB/s':>10}{'of curl':>10}{'peak RSS':>12}   runs (MiB/s)",
    ]
    for name, rows in runs.items():
        value = median(rows)
        peak = max(r["rss_kib"] for r in rows) / 1024
        each = ", ".join(f"{rate(r) / MiB:.0f}" for r in rows)
        out.append(
            f"{name:<22}{value / MiB:>10.1f}{value / ceiling:>10.0%}{peak:>9.0f} MB   {each}"
        )
    return out


class _Delayed:
    """An httpx transport that waits ``delay`` seconds before each request (a round trip)."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def handle_request(self, request: Any) -> Any:
        time.sleep(self.delay)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> _Delayed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _small_files_manager(settings: Any, rtt_ms: float) -> Iterator[Any]:
    """The manager for the small-file runs; its one httpx client also serves storage3."""
    import httpx

    from hybridkit.storage import StorageManager

    transport = None
    if rtt_ms > 0:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        transport = _Delayed(httpx.HTTPTransport(limits=limits), rtt_ms / 1000)
    with StorageManager(
        settings, resume_dir=None, max_connections=32, transport=transport
    ) as manager:
        yield manager


def _small(
    manager: Any, work: Path, bucket: str, count: int, jobs: int, rtt_ms: float = 0.0
) -> list[str]:
    folder = work / "small"
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(16 * 1024))
    started = time.perf_counter()
    report = manager.upload_folder(folder, bucket, "hk", jobs=jobs, skip_unchanged=False)
    hk = time.perf_counter() - started
    assert report.ok, report.summary()
    storage = manager.client.storage.from_(bucket)
    started = time.perf_counter()
    for i in range(count):
        with (folder / f"f{i:05d}.bin").open("rb") as fh:
            storage.upload(f"seq/f{i:05d}.bin", fh, {"content-type": "application/octet-stream"})
    seq = time.perf_counter() - started
    network = f", {rtt_ms:g} ms round trip added to every request" if rtt_ms else ""
    return [
        f"\n{count} files of 16 KiB{network}",
        f"hybridkit upload_folder (jobs={jobs}): {count / hk:8.1f} files/s",
        f"storage3 sequential loop:           {count / seq:8.1f} files/s",
        f"speed-up: {seq / hk:.2f}x",
    ]


def _empty(manager: Any, work: Path, count: int, jobs: int) -> list[str]:
    bucket = f"bench-empty-{uuid.uuid4().hex[:8]}"
    manager.create_bucket(bucket)
    try:
        folder = work / "tiny"
        folder.mkdir(exist_ok=True)
        for i in range(count):
            (folder / f"{i // 1000:03d}" / f"o{i:06d}").parent.mkdir(exist_ok=True)
            (folder / f"{i // 1000:03d}" / f"o{i:06d}").write_bytes(b"x")
        filled = time.perf_counter()
        report = manager.upload_folder(folder, bucket, jobs=jobs, skip_unchanged=False)
        fill = time.perf_counter() - filled
        assert report.ok, report.summary()
        started = time.perf_counter()
        manager.empty_bucket(bucket)
        emptied = time.perf_counter() - started
        left = len(manager.list_objects(bucket))
    finally:
        manager.delete_bucket(bucket, force=True)
    return [
        f"\nempty a bucket of {count} objects: {emptied:.2f}s ({left} left; "
        f"filling it took {fill:.1f}s)"
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:6])
    else:
        main()
