"""A fault-injecting TCP proxy for HTTP/1.1 on loopback, between a client and the stack.

It frames requests (head plus ``Content-Length`` body) so that faults hit one
request, not a whole keep-alive connection, and can strike at the moment that
hurts most:

============== ==================================================================
fault           what the client sees
============== ==================================================================
reset_request   the connection is reset after half the request body went through
                (the server sees a truncated body)
drop_response   the whole request reaches the server, which acts on it; its answer
                is thrown away and the client's connection reset (a lost answer)
reset_response  the answer starts (about 64 KiB of it) and then the connection is reset
stall           the request reaches the server; the answer is held back until the
                client gives up (its read timeout), then the connection is closed
status_503      an injected ``503`` (JSON body), the server never sees the request
status_429      an injected ``429`` with ``Retry-After: 0``
status_500      an injected ``500``
============== ==================================================================

``latency`` adds a delay to every forwarded block in both directions.

Faults of a bad network, drawn per 64 KiB of request bytes (the head and each
64 KiB of body: a 33 MB upload draws about 500 times) with ``chunk_fault_rate``:

============== ==================================================================
chunk fault     what happens at that 64 KiB
============== ==================================================================
reset           the connection is reset mid-body (both sides see a reset; the
                server keeps what arrived, as a TUS server does)
stall           nothing is forwarded for ``stall_seconds`` (40 s), then the
                forwarding goes on if the client is still there
slow            the chunk is held for ``slow_seconds`` before it goes on
============== ==================================================================

``connect_503_rate`` answers ``503`` to the first request of that share of new
connections (a gateway shedding load); the server never sees it.

Example::

    with FaultProxy("http://127.0.0.1:54321", fault_rate=0.1, seed=7) as proxy:
        client = httpx.Client(base_url=proxy.url)
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

ALL_FAULTS = (
    "reset_request",
    "drop_response",
    "reset_response",
    "stall",
    "status_503",
    "status_429",
    "status_500",
)
CHUNK_FAULTS = ("reset", "stall", "slow")
_BLOCK = 64 * 1024


class _ChunkReset(OSError):
    """A chunk fault reset the connection: stop serving it."""


@dataclass
class _Request:
    method: str
    path: str
    head: bytes
    length: int
    chunked: bool


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees 'connection reset'.

    ``shutdown(SHUT_RD)`` first wakes a thread blocked in ``recv`` on this socket:
    while a system call holds the socket, ``close()`` alone sends nothing, and the
    peer would wait for the rest of the body forever.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class FaultProxy:
    """Forward loopback TCP to ``upstream``, injecting faults per HTTP request.

    Args:
        upstream: ``http://host:port`` of the real server.
        fault_rate: the chance that a request is faulted.
        faults: which faults to draw from (uniformly).
        seed: for the random draws (reproducible runs).
        latency: seconds added before each forwarded block.
        match: only requests for which ``match(method, path)`` is true are faulted.
        chunk_fault_rate: the chance per 64 KiB of request bytes of a chunk fault.
        chunk_faults: which chunk faults to draw from (``reset``, ``stall``, ``slow``).
        stall_seconds: how long a stall holds the request.
        slow_seconds: how long a slow chunk is held.
        connect_503_rate: the share of new connections whose first request gets a 503.
        retry_after: the ``Retry-After`` of an injected 429.
        retry_after_503: the ``Retry-After`` of an injected 503 (default: none).
    """

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.0,
        faults: Iterable[str] = ALL_FAULTS,
        seed: int = 0,
        latency: float = 0.0,
        match: Callable[[str, str], bool] | None = None,
        chunk_fault_rate: float = 0.0,
        chunk_faults: Iterable[str] = CHUNK_FAULTS,
        stall_seconds: float = 40.0,
        slow_seconds: float = 1.0,
        connect_503_rate: float = 0.0,
        retry_after: str = "0",
        retry_after_503: str | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
        self._upstream = (parts.hostname, parts.port or 80)
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.latency = latency
        self.match = match
        self.chunk_fault_rate = chunk_fault_rate
        self.chunk_faults = tuple(chunk_faults)
        self.stall_seconds = stall_seconds
        self.slow_seconds = slow_seconds
        self.connect_503_rate = connect_503_rate
        self.retry_after = retry_after
        self.retry_after_503 = retry_after_503
        self.chunks = 0  # 64 KiB request chunks that went through the draw
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._scripted: list[str] = []
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self.log: list[tuple[str, str, str]] = []  # (fault, method, path)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)

    # ------------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        _close(self._listener)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def script(self, *faults: str) -> None:
        """Fault the next matching requests with these faults, in order (``"none"`` skips one)."""
        with self._lock:
            self._scripted.extend(faults)

    def _choose(self, request: _Request) -> str:
        if self.match is not None and not self.match(request.method, request.path):
            return "none"
        with self._lock:
            self.requests += 1
            if self._scripted:
                fault = self._scripted.pop(0)
            elif self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
            else:
                fault = "none"
            self.counts[fault] += 1
            self.log.append((fault, request.method, request.path))
        return fault

    def _chunk_fault(self, request: _Request) -> str:
        """Draw the fault of the next 64 KiB of ``request`` (``"none"`` mostly)."""
        if not self.chunk_fault_rate or not self.chunk_faults:
            return "none"
        if self.match is not None and not self.match(request.method, request.path):
            return "none"
        with self._lock:
            self.chunks += 1
            if self._rng.random() >= self.chunk_fault_rate:
                return "none"
            fault = self._rng.choice(self.chunk_faults)
            self.counts[f"chunk_{fault}"] += 1
            self.log.append((f"chunk_{fault}", request.method, request.path))
        return fault

    def _apply_chunk_fault(
        self, request: _Request, client: socket.socket, upstream: socket.socket
    ) -> None:
        fault = self._chunk_fault(request)
        if fault == "reset":
            _reset(upstream)
            _reset(client)
            raise _ChunkReset("chunk fault: reset")
        if fault == "stall":
            self._stopping.wait(self.stall_seconds)
        elif fault == "slow":
            self._stopping.wait(self.slow_seconds)

    def _new_connection_refused(self) -> bool:
        if not self.connect_503_rate:
            return False
        with self._lock:
            refused = self._rng.random() < self.connect_503_rate
            if refused:
                self.counts["connect_503"] += 1
        return refused

    # ------------------------------------------------------------------ plumbing

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.update(socks)

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.difference_update(socks)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(client,), name="faultproxy-conn", daemon=True
            ).start()

    def _delay(self) -> None:
        if self.latency:
            time.sleep(self.latency)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream)
        except OSError:
            _reset(client)
            return
        for sock in (client, upstream):
            # Forwarding in pieces must not meet Nagle + delayed ACK (40 ms a request).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(client, upstream)
        # What the response pump does with the next answer: "forward"; "drop"
        # (reset the client at its first byte); "cut" (forward part, then reset);
        # "hold" (never forward it; the client waits until its timeout).
        state: dict[str, str] = {"mode": "forward"}
        answered = threading.Event()
        pump = threading.Thread(
            target=self._pump_responses,
            args=(upstream, client, state, answered),
            name="faultproxy-resp",
            daemon=True,
        )
        pump.start()
        try:
            self._pump_requests(client, upstream, state, answered)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)
            pump.join(timeout=5)
            self._untrack(client, upstream)

    def _read_head(self, sock: socket.socket, buffer: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buffer:
            data = sock.recv(_BLOCK)
            if not data:
                return None
            buffer.extend(data)
        end = buffer.index(b"\r\n\r\n") + 4
        head = bytes(buffer[:end])
        del buffer[:end]
        return head

    @staticmethod
    def _parse(head: bytes) -> _Request:
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        return _Request(method, path, head, length, chunked)

    def _forward_body(
        self,
        client: socket.socket,
        upstream: socket.socket,
        buffer: bytearray,
        length: int,
        request: _Request | None = None,
    ) -> None:
        """Forward ``length`` body bytes; with ``request``, draw a chunk fault per 64 KiB."""
        left = length
        into_chunk = 0  # body bytes since the last draw (the head drew for the first chunk)

        def send(data: bytes) -> None:
            nonlocal into_chunk
            view = memoryview(data)
            while view:
                if request is not None and into_chunk >= _BLOCK:
                    self._apply_chunk_fault(request, client, upstream)
                    into_chunk = 0
                piece = view[: _BLOCK - into_chunk] if request is not None else view
                self._delay()
                upstream.sendall(piece)
                into_chunk += len(piece)
                view = view[len(piece) :]

        if buffer:
            take = bytes(buffer[:left])
            del buffer[: len(take)]
            send(take)
            left -= len(take)
        while left > 0:
            data = client.recv(min(_BLOCK, left))
            if not data:
                raise OSError("client closed mid-body")
            send(data)
            left -= len(data)

    def _drain_body(self, client: socket.socket, buffer: bytearray, length: int) -> None:
        left = length - len(buffer[:length])
        del buffer[:length]
        while left > 0:
            data = client.recv(min(_BLOCK, left))
            if not data:
                return
            left -= len(data)

    def _pump_requests(
        self,
        client: socket.socket,
        upstream: socket.socket,
        state: dict[str, str],
        answered: threading.Event,
    ) -> None:
        buffer = bytearray()
        first = True
        while not self._stopping.is_set():
            head = self._read_head(client, buffer)
            if head is None:
                return
            request = self._parse(head)
            if first and self._new_connection_refused():
                self._drain_body(client, buffer, request.length)
                self._inject(client, 503)
                return
            first = False
            if request.chunked:
                # Not framed here: pass the rest of the connection through untouched.
                upstream.sendall(head + bytes(buffer))
                while data := client.recv(_BLOCK):
                    upstream.sendall(data)
                return
            fault = self._choose(request)
            if fault.startswith("status_"):
                self._drain_body(client, buffer, request.length)
                self._inject(client, int(fault.split("_")[1]))
                return
            if fault == "reset_request":
                upstream.sendall(head)
                self._forward_body(client, upstream, buffer, request.length // 2)
                _reset(upstream)
                _reset(client)
                return
            if fault in ("drop_response", "reset_response", "stall"):
                state["mode"] = {"drop_response": "drop", "reset_response": "cut"}.get(
                    fault, "hold"
                )
            self._apply_chunk_fault(request, client, upstream)  # the head's chunk
            self._delay()
            upstream.sendall(head)
            self._forward_body(client, upstream, buffer, request.length, request)
            if state["mode"] != "forward":
                # The answer decides this connection's fate: read no more requests.
                answered.wait()
                if state["mode"] == "hold":
                    # The server has answered; the client waits until it gives up.
                    with contextlib.suppress(OSError):
                        while client.recv(_BLOCK):
                            pass
                return

    def _inject(self, client: socket.socket, status: int) -> None:
        reason = {429: "Too Many Requests", 500: "Internal Server Error"}.get(
            status, "Service Unavailable"
        )
        body = json.dumps(
            {
                "statusCode": str(status),
                "error": "injected",
                "code": "InjectedFault",
                "message": f"fault proxy injected {status}",
            }
        ).encode()
        after = self.retry_after if status == 429 else self.retry_after_503
        extra = f"Retry-After: {after}\r\n" if status in (429, 503) and after is not None else ""
        client.sendall(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n".encode()
            + body
        )

    def _pump_responses(
        self,
        upstream: socket.socket,
        client: socket.socket,
        state: dict[str, str],
        answered: threading.Event,
    ) -> None:
        try:
            while True:
                data = upstream.recv(_BLOCK)
                if not data:
                    break
                mode = state["mode"]
                if mode == "drop":
                    _reset(client)
                    return
                if mode == "hold":
                    return
                if mode == "cut":
                    self._delay()
                    client.sendall(data[: max(1, len(data) // 2)])
                    _reset(client)
                    return
                self._delay()
                client.sendall(data)
            if state["mode"] != "hold":
                _close(client)  # the server closed: so does the client's side
        except OSError:
            pass
        finally:
            answered.set()
