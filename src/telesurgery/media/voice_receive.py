"""Low-latency audio receive for aiortc: every Opus packet goes to the decoder as it arrives.

aiortc's audio ``RTCRtpReceiver`` holds packets in a ``JitterBuffer(capacity=16, prefetch=4)``:
a packet is released only once four newer frames have arrived (80 ms of added delay at every
receiver), and a single lost packet stalls the stream until the buffer's 16 slots are full
(about 300 ms of silence, then a burst). For voice, one jitter queue per hop is enough, and it
belongs where playout is clocked: the gateway's mixer (:mod:`telesurgery.media.voice_mix`, with
its bounded, primed queue per speaker) and the listener's own playout.

:class:`ImmediateAudioJitterBuffer` therefore releases each packet at once (an Opus RTP packet is
one whole frame), counts the sequence numbers it never saw (lost) and drops packets older than
the newest released one (late or duplicated; the decoder cannot use them anyway).
:func:`enable_immediate_audio` swaps it into one receiver; like
:func:`telesurgery.console.video.enable_low_latency_receive` for video, it goes through
:func:`telesurgery.media.webrtc.replace_jitter_buffer` (one private attribute, checked to be
aiortc's ``JitterBuffer`` first) and must run before media flows.
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame

from telesurgery.exceptions import TelesurgeryError
from telesurgery.media.webrtc import replace_jitter_buffer

_HALF_RANGE = 1 << 15


class ImmediateAudioUnavailable(TelesurgeryError):
    """The receiver does not have the jitter buffer this module replaces."""


class ImmediateAudioJitterBuffer(JitterBuffer):
    """Releases every in-order audio packet at once; gaps are counted, not waited for."""

    def __init__(self, capacity: int = 16) -> None:
        super().__init__(capacity, prefetch=0)
        self._next: int | None = None
        self.packets_released = 0
        """Packets handed to the decoder."""
        self.packets_lost = 0
        """Sequence numbers skipped (never arrived before a newer packet)."""
        self.packets_late = 0
        """Packets older than one already released (late, duplicated), dropped."""

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        sequence = int(packet.sequence_number)
        if self._next is not None:
            gap = (sequence - self._next) & 0xFFFF
            if gap >= _HALF_RANGE:
                self.packets_late += 1
                return False, None
            self.packets_lost += gap
        self._next = (sequence + 1) & 0xFFFF
        self.packets_released += 1
        return False, JitterFrame(data=getattr(packet, "_data", b""), timestamp=packet.timestamp)


def enable_immediate_audio(receiver: Any) -> ImmediateAudioJitterBuffer:
    """Give an audio ``RTCRtpReceiver`` the immediate-release buffer; returns it."""
    return replace_jitter_buffer(
        receiver,
        ImmediateAudioJitterBuffer,
        lambda current: ImmediateAudioJitterBuffer(capacity=current.capacity),
        video=False,
        error=ImmediateAudioUnavailable,
        call_hint="call enable_immediate_audio before the answer is applied or in the peer "
        "connection's 'track' handler",
    )
