"""One undeliverable data-channel message is dropped, never the association that carried it.

aiortc delivers each data-channel message from its SCTP receive path: it decodes a text message as
UTF-8 and emits it to the channel's handlers, inside the task that reads the DTLS transport. An
exception there (text that is not UTF-8, a handler that raises) ends that task, and with it the
console's whole connection: one malformed message from a signed-in console, or one bug in a
handler, took the console off the operation and released its arms. :func:`guard_message_delivery`
wraps one association's delivery so that such a message is dropped and reported instead.

This relies on aiortc internals (1.16: ``RTCSctpTransport._data_channel_receive``); the function
checks for it and leaves a transport it does not recognise alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)


def guard_message_delivery(transport: Any, on_error: Callable[[BaseException], None]) -> bool:
    """Make one aiortc ``RTCSctpTransport`` drop a message whose delivery raises, calling
    ``on_error`` with the exception; False (with a warning) when the transport lacks the
    internals this relies on. Idempotent per transport."""
    if getattr(transport, "_telesurgery_delivery_guarded", False):
        return True
    receive: Callable[[int, int, bytes], Awaitable[None]] | None = getattr(
        transport, "_data_channel_receive", None
    )
    if receive is None:
        logger.warning("data-channel delivery not guarded: aiortc lacks _data_channel_receive")
        return False

    async def guarded(stream_id: int, pp_id: int, data: bytes) -> None:
        try:
            await receive(stream_id, pp_id, data)
        except Exception as error:  # the message goes, the association stays
            try:
                on_error(error)
            except Exception:
                logger.exception("data-channel delivery: the error handler failed")

    transport._data_channel_receive = guarded
    transport._telesurgery_delivery_guarded = True
    return True
