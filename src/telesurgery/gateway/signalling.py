"""``POST /api/offer``: the WebRTC signalling request, shared by the gateway and the replay viewer.

The body is ``{"sdp", "type": "offer", "console_id", "protocol_version", "token"}`` (``role``
too on gateways without authentication); a token may instead come as the header
``Authorization: Bearer <token>`` (the body wins). The answer is whatever ``accept`` returns
(JSON). Anything wrong is ``{"error": "..."}`` that says what was wrong and what is valid, with
status 400 - or, for a refusal that carries them, the refusal's ``status`` (403 for a refused
token, 409 for a console id in use) and ``reason`` (machine-readable, added to the body).
``accept`` raises one of ``refusals`` for a request it refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from telesurgery.exceptions import TelesurgeryError

Handler = Callable[[web.Request], Awaitable[web.Response]]

_BEARER = "bearer "


class OfferRefused(TelesurgeryError):
    """A signalling request refused with an HTTP status and a machine-readable reason."""

    def __init__(self, detail: str, *, status: int = 400, reason: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        """HTTP status of the refusal."""
        self.reason = reason
        """Machine-readable cause (``forged``, ``console_id_in_use``...), or None."""


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    header = request.headers.get("Authorization", "")
    if header[: len(_BEARER)].lower() == _BEARER:
        return header[len(_BEARER) :].strip() or None
    return None


def offer_handler(
    accept: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    refusals: tuple[type[Exception], ...],
) -> Handler:
    """An aiohttp handler that parses the offer body and answers with ``accept(body)``."""

    async def offer(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            return web.json_response(
                {"error": "request body must be one JSON object (plain fields, not nested deeply)"},
                status=400,
            )
        if not isinstance(body, dict):
            return web.json_response({"error": "request body must be a JSON object"}, status=400)
        token = bearer_token(request)
        if token is not None:
            body.setdefault("token", token)
        try:
            return web.json_response(await accept(body))
        except refusals as error:
            answer: dict[str, Any] = {"error": str(error)}
            reason = getattr(error, "reason", None)
            if isinstance(reason, str):
                answer["reason"] = reason
            status = getattr(error, "status", 400)
            return web.json_response(answer, status=status if isinstance(status, int) else 400)
        except ValueError as error:  # aiortc: malformed SDP
            return web.json_response({"error": f"invalid SDP: {error}"}, status=400)

    return offer
