"""``POST /api/offer``: the WebRTC signalling request, shared by the gateway and the replay viewer.

The body is ``{"sdp", "type": "offer", "console_id", "role", "protocol_version"}``; the answer is
whatever ``accept`` returns (JSON). Anything wrong is a 400 ``{"error": "..."}`` that says what
was wrong and what is valid; ``accept`` raises one of ``refusals`` for a request it refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.Response]]


def offer_handler(
    accept: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    refusals: tuple[type[Exception], ...],
) -> Handler:
    """An aiohttp handler that parses the offer body and answers with ``accept(body)``."""

    async def offer(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "request body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "request body must be a JSON object"}, status=400)
        try:
            return web.json_response(await accept(body))
        except refusals as error:
            return web.json_response({"error": str(error)}, status=400)
        except ValueError as error:  # aiortc: malformed SDP
            return web.json_response({"error": f"invalid SDP: {error}"}, status=400)

    return offer
