"""The gateway's limits on a request's head (request line + headers).

Kong and nginx in front of Supabase refuse a head over a few dozen KiB; uvicorn's
httptools protocol has no such cap, so one client sending megabytes of header
would grow the server's memory and starve everyone else. :class:`CappedHttpTools`
counts the bytes of each request until its headers are complete and answers
``431 Request Header Fields Too Large`` (and closes) once they pass
:data:`MAX_HEAD_BYTES`.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "CappedHttpTools"]

#: The largest request line + headers accepted (nginx's large_client_header_buffers: 4 x 8k).
MAX_HEAD_BYTES = 32 * 1024

_BODY = json.dumps(
    {
        "statusCode": "431",
        "error": "Request Header Fields Too Large",
        "message": f"the request line and headers exceed {MAX_HEAD_BYTES} bytes",
    }
).encode()
_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


class CappedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True
        self._head_bytes = 0  # bytes received while the head is incomplete
        self._head_size = 0  # the head's own bytes, counted by the parser's callbacks
        self._refused = False

    def _refuse(self) -> None:
        self._refused = True
        if not self.transport.is_closing():
            self.transport.write(_RESPONSE)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head_open:
            self._head_bytes += len(data)
        super().data_received(data)
        # A head still incomplete past the cap (megabytes of one header) is not read on.
        if self._head_open and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        if self._head_size > MAX_HEAD_BYTES:
            self._refuse()  # a whole head over the cap that came in one read
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._head_open = True
        self._head_bytes = self._head_size = 0
