"""Messages between the gateway and its observer relay process: tags and framing.

The two processes share one local stream socket (a ``socketpair``), driven by asyncio on both
sides. Every message is a tuple whose first item is one of the tags below, pickled with protocol
5, behind a 4-byte big-endian length. Both ends are this package, started together: the pickle
never crosses a trust boundary (as on the patient process's pipe).

A video frame travels once per frame as its RTP payloads (packetized once, in the gateway's
encoder thread), however many observers the relay serves; a robot state message once per
observer tick. See :mod:`telesurgery.gateway.observer_relay` for what each message does.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

from telesurgery.exceptions import TelesurgeryError

# gateway -> relay
OFFER = "offer"
"""(OFFER, session_id, console_id, offer SDP): answer it (ANSWER or FAILED back)."""
FRAME = "frame"
"""(FRAME, frame_number, capture_monotonic_ns, keyframe, ((payloads, rtp_timestamp), ...))."""
STATE = "state"
"""(STATE, encoded robot state): to every observer's control channel."""
SEND_CONTROL = "send_control"
"""(SEND_CONTROL, session_id, bytes): to one observer's control channel (pings, pongs)."""
SEND_EVENT = "send_event"
"""(SEND_EVENT, session_id, text or bytes): to one observer's events channel."""
CUT = "cut"
"""(CUT, session_id, bool): cut or restore that observer's emulated link."""
CLOSE = "close"
"""(CLOSE, session_id): close that observer's peer connection."""
# relay -> gateway
READY = "ready"
"""(READY, pid): the relay serves (its first message)."""
ANSWER = "answer"
"""(ANSWER, session_id, answer SDP)."""
FAILED = "failed"
"""(FAILED, session_id, what went wrong): the offer could not be answered."""
CHANNEL = "channel"
"""(CHANNEL, session_id, label): the observer opened a data channel."""
CONTROL = "control"
"""(CONTROL, session_id, bytes or text): a message on an observer's control channel."""
EVENTS = "events"
"""(EVENTS, session_id, bytes or text): a message on an observer's events channel."""
CONNECTION = "connection"
"""(CONNECTION, session_id, state): an observer's connection state changed."""
KEYFRAME = "keyframe"
"""(KEYFRAME, reason): an observer needs a keyframe (new track, PLI/FIR, overflow)."""
STATS = "stats"
"""(STATS, dict): the relay's counters, every second."""

HEADER = struct.Struct(">I")
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Largest message either side accepts [bytes] (a keyframe is well under 1 MB)."""


class RelayWireError(TelesurgeryError):
    """A message on the relay socket that cannot be read (the other side is broken)."""


def pack(message: tuple[Any, ...]) -> bytes:
    """One message, framed: length + pickle."""
    data = pickle.dumps(message, protocol=5)
    if len(data) > MAX_MESSAGE_BYTES:
        raise RelayWireError(
            f"a {message[0]!r} message of {len(data)} bytes; at most {MAX_MESSAGE_BYTES}"
        )
    return HEADER.pack(len(data)) + data


async def read_message(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """The next message; raises ``asyncio.IncompleteReadError`` at the end of the stream and
    :class:`RelayWireError` on a length out of range or a payload that is not a tagged tuple."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if not 0 < size <= MAX_MESSAGE_BYTES:
        raise RelayWireError(f"message length {size}; valid is 1..{MAX_MESSAGE_BYTES}")
    message = pickle.loads(await reader.readexactly(size))
    if not isinstance(message, tuple) or not message or not isinstance(message[0], str):
        raise RelayWireError(f"expected a tagged tuple, got {type(message).__name__}")
    return message
