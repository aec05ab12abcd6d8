"""What the local services' wire errors share: the real service's status, body and encoding.

Each service's ``errors`` module (:mod:`.storage.errors`, :mod:`.rest.errors`,
:mod:`.management.errors`) subclasses :class:`WireError` with the real service's
statuses, codes and JSON body; the response is built here, once. The class
attributes pin the byte-level details each real service differs in (media type,
JSON spacing, non-ASCII escaping).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from starlette.responses import Response

__all__ = ["WireError"]


class WireError(Exception):
    """An error answer of a local service, rendered as the real service renders it.

    Attributes:
        http_status: the response's HTTP status.
        media_type: the response's ``Content-Type``.
        separators: ``json.dumps``'s separators for the body.
        ensure_ascii: whether non-ASCII characters are escaped in the body.
    """

    http_status: int = 500
    media_type: ClassVar[str] = "application/json; charset=utf-8"
    separators: ClassVar[tuple[str, str]] = (",", ":")
    ensure_ascii: ClassVar[bool] = True

    def body(self) -> Any:
        """The JSON body (keys in the real service's order)."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """Extra response headers."""
        return {}

    def response(self) -> Response:
        """The Starlette response for this error."""
        text = json.dumps(self.body(), separators=self.separators, ensure_ascii=self.ensure_ascii)
        return Response(
            text, status_code=self.http_status, media_type=self.media_type, headers=self.headers()
        )
