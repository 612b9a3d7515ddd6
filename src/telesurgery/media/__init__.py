"""Endoscope video: encode once, fan out, frame stamping, adaptive bitrate.

Camera to screen: ``robot/sim`` camera frames ->
:class:`~telesurgery.media.fanout.SharedVideoEncoder` (resize to the rate target, stamp,
encode once in one worker thread) -> one
:class:`~telesurgery.media.fanout.EncodedVideoTrack` per peer (aiortc only packetizes) -> the
peers -> :mod:`telesurgery.console.video` (the jitter buffer of :mod:`~telesurgery.media.jitter`,
stamp read-back).

Modules, one concept each:

* :mod:`~telesurgery.media.encoder` — ``EncoderConfig`` and the ``h264`` / ``vp8`` encoders
  (registry :data:`~telesurgery.media.encoder.ENCODERS`).
* :mod:`~telesurgery.media.fanout` — the shared encoder and its per-peer tracks (wiring recipe in
  its docstring).
* :mod:`~telesurgery.media.bitrate` — the sans-I/O rate controller and the who-drives-it policy.
* :mod:`~telesurgery.media.feedback` — the aiortc RTCP tap (PLI/FIR, receiver reports, REMB).
* :mod:`~telesurgery.media.stamp` — the pixel barcode (frame number, capture time).
* :mod:`~telesurgery.media.jitter` — the receive-side frame assembler: marker-bit release, a
  brief wait for retransmissions, then drop and request a keyframe instead of stalling.
* :mod:`~telesurgery.media.webrtc` — ICE configuration, codec preference, SDP read-back.
"""
