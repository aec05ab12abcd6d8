"""The local stack's Storage API under a large upload: throughput and the server's resident memory.

Usage::

    .venv/bin/python bench/server_memory.py            # 1 GiB (the figure in docs/benchmarks.md)
    .venv/bin/python bench/server_memory.py --size-mib 256

It starts a throw-away local stack, writes a file of random bytes, then uploads it
four ways — a raw-body POST, a multipart POST (what storage3 sends), TUS in 6 MiB
chunks, and curl's streaming PUT (the ceiling: no Python on the client side) — and
downloads it once. For each it prints the wall time, the throughput and the
server process's peak resident set size (VmHWM, reset before each run via
/proc/PID/clear_refs), next to its resident size at rest. A flat peak means the
server streams: bytes never sit in its memory whole.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from hybridkit.local import LocalStack

CHUNK = 6 * 1024 * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakSampler:
    """Samples VmRSS every 20 ms as a fallback where clear_refs is not allowed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _status_kib(self.pid, "VmRSS"))
            time.sleep(0.02)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _file_chunks(path: Path, size: int = 1024 * 1024) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(size):
            yield block


def make_file(path: Path, size: int) -> str:
    digest = hashlib.md5()
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 8 * 1024 * 1024))
            handle.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024

    work = Path(tempfile.mkdtemp(prefix="hk-bench-"))
    try:
        with LocalStack(work / "stack", port=0) as stack:
            run(stack, work, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(stack: LocalStack, work: Path, size: int) -> None:
    pid = int((stack.paths.root / "server.lock").read_text())
    source = work / "big.bin"
    print(f"writing {size / 2**20:.0f} MiB of random bytes ...", flush=True)
    md5 = make_file(source, size)
    key = stack.service_role_key
    auth = {"Authorization": f"Bearer {key}", "apikey": key}
    base = f"{stack.url}/storage/v1"
    timeout = httpx.Timeout(600, connect=10)
    client = httpx.Client(timeout=timeout, headers=auth)
    client.post(f"{base}/bucket", json={"name": "bench"}).raise_for_status()

    def raw_post() -> None:
        response = client.post(
            f"{base}/object/bench/raw.bin",
            content=_file_chunks(source),
            headers={"content-type": "application/octet-stream", "content-length": str(size)},
        )
        response.raise_for_status()

    def multipart_post() -> None:
        with source.open("rb") as handle:
            response = client.post(
                f"{base}/object/bench/multipart.bin",
                files={"file": ("multipart.bin", handle, "application/octet-stream")},
                data={"cacheControl": "3600"},
            )
        response.raise_for_status()

    def tus() -> None:
        meta = {
            "bucketName": "bench",
            "objectName": "tus.bin",
            "contentType": "application/octet-stream",
        }
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        created = client.post(
            f"{base}/upload/resumable",
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str(size),
                "Upload-Metadata": encoded,
            },
        )
        created.raise_for_status()
        location = created.headers["location"]
        offset = 0
        with source.open("rb") as handle:
            while offset < size:
                block = handle.read(CHUNK)
                response = client.patch(
                    location,
                    content=block,
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                response.raise_for_status()
                offset = int(response.headers["upload-offset"])

    def curl_put() -> None:
        subprocess.run(
            [
                "curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(source),
                "-H", f"Authorization: Bearer {key}", "-H", f"apikey: {key}",
                "-H", "content-type: application/octet-stream",
                f"{base}/object/bench/curl.bin",
            ],
            check=True,
        )  # fmt: skip

    def download() -> None:
        digest = hashlib.md5()
        with client.stream("GET", f"{base}/object/bench/raw.bin") as response:
            response.raise_for_status()
            for block in response.iter_bytes(1024 * 1024):
                digest.update(block)
        if digest.hexdigest() != md5:
            raise SystemExit("download does not match the upload")

    runs: list[tuple[str, Callable[[], None]]] = [
        ("upload, raw body POST (httpx)", raw_post),
        ("upload, multipart POST (as storage3)", multipart_post),
        ("upload, TUS 6 MiB chunks (httpx)", tus),
        ("download, streamed GET (httpx)", download),
    ]
    if shutil.which("curl"):
        runs.insert(3, ("upload, PUT by curl -T (ceiling)", curl_put))

    at_rest = _status_kib(pid, "VmRSS")
    print(f"\nserver pid {pid}, resident at rest {at_rest / 1024:.0f} MiB\n")
    print(f"{'operation':<40} {'seconds':>8} {'MB/s':>8} {'server peak RSS':>16}")
    for name, action in runs:
        exact = _reset_peak(pid)
        with PeakSampler(pid) as sampler:
            started = time.perf_counter()
            action()
            elapsed = time.perf_counter() - started
        peak_kib = _status_kib(pid, "VmHWM") if exact else sampler.peak
        print(
            f"{name:<40} {elapsed:>8.2f} {size / elapsed / 1e6:>8.0f} {peak_kib / 1024:>12.0f} MiB",
            flush=True,
        )
    for name in ("raw.bin", "multipart.bin", "tus.bin"):
        info = client.get(f"{base}/object/info/bench/{name}").json()
        if info.get("size") != size or info.get("etag", "").strip('"') != md5:
            raise SystemExit(f"{name}: stored object does not match the upload: {info}")
    print("\nall stored objects match the source (size and MD5 ETag)")
    client.close()


if __name__ == "__main__":
    main()
