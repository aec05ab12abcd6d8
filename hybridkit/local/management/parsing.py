"""Reading the Management API's requests: the JSON object every write sends."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from hybridkit.local.management.errors import ManagementError

__all__ = ["json_object"]


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` for an empty body).

    Raises:
        ManagementError: 400 when the body is not JSON or not an object.
    """
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ManagementError.bad_request("Invalid JSON body") from None
    if not isinstance(body, dict):
        raise ManagementError.bad_request("The body must be a JSON object")
    return body
