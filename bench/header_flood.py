"""Four clients each send 64 MiB of one header; print how another client's /health fares.

    .venv/bin/python bench/header_flood.py

Prints /health's answer time during the flood, the server's RSS before and after,
and what each flooding client got back (431 once the head passes 32 KiB).
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx

from hybridkit.local import LocalStack
from hybridkit.local.state import StackState


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return -1


def main() -> None:
    folder = tempfile.mkdtemp()
    with LocalStack(dir=folder, port=0) as stack:
        state = StackState.read(Path(folder) / "state.json")
        assert state is not None
        host, port = stack.url.removeprefix("http://").split(":")
        before = _rss_mb(state.pid)
        answers: list[tuple[int, bytes]] = []

        def flood() -> None:
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
                sent = 0
                try:
                    for _ in range(64):
                        sock.sendall(b"a" * (1 << 20))
                        sent += 1
                except OSError:
                    pass
                try:
                    answers.append((sent, sock.recv(64)))
                except OSError:
                    answers.append((sent, b""))

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        health = httpx.get(f"{stack.url}/health", timeout=10)
        took = time.monotonic() - started
        for thread in threads:
            thread.join()
        print(f"/health during the flood: {health.status_code} in {took * 1000:.0f} ms")
        print(f"server RSS: {before} MB before, {_rss_mb(state.pid)} MB after")
        for sent, answer in answers:
            print(f"  flood: {sent} MiB sent, answer {answer.splitlines()[0] if answer else b''!r}")


if __name__ == "__main__":
    main()
