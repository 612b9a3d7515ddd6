"""Frame stamps drawn into the pixels: frame number and capture time, readable by any decoder.

A stamp is a small binary barcode of black and white square cells in the top-left corner of the
encoded picture. It survives lossy compression because each cell is a flat block of full contrast
and the reader samples only the inner part of each cell against a mid-grey threshold. A CRC-16
rejects stamps damaged by packet loss or concealment, so a reader never returns a wrong number.

Bit layout (88 bits, most significant first, row by row):

* ``frame_number`` — 32 bits, the camera's frame counter (modulo 2**32).
* ``capture_wall_us`` — 40 bits, capture wall-clock time in microseconds modulo 2**40 (12.7
  days); :func:`unwrap_capture_wall_ns` restores the full value from the reader's own clock.
* CRC-16/CCITT (``binascii.crc_hqx``) of the 9 payload bytes.

Readers: the Python SDK uses :func:`read_stamp` on decoded frames. A browser reads the same
cells in its ``requestVideoFrameCallback`` handler: copy the top-left ``width_px x height_px``
rectangle of the decoded frame's Y plane (``VideoFrame.copyTo``), or draw that region of the
video to a canvas, and for bit ``i`` (row ``i // columns``, column ``i % columns``) average the
luma (or R, G and B) over the inner half of the cell (a ``cell_px // 4`` margin on each side);
bit = mean >= 128. Assemble the 88 bits most significant first, check
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the first 9 bytes against the last 2, then
frame number = bytes 0-3 and capture time [us] = bytes 4-8 (big-endian).

The module is pure: no I/O, no clock; pixels are numpy arrays, (H, W, 3) RGB or (H, W) luma.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError

FRAME_NUMBER_BITS = 32
CAPTURE_TIME_BITS = 40
CRC_BITS = 16
PAYLOAD_BITS = FRAME_NUMBER_BITS + CAPTURE_TIME_BITS
STAMP_BITS = PAYLOAD_BITS + CRC_BITS
_CAPTURE_WRAP_US = 1 << CAPTURE_TIME_BITS

PixelArray = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class FrameStamp:
    """What travels inside the picture."""

    frame_number: int
    """Camera frame counter, 0 <= n < 2**32."""
    capture_wall_us: int
    """Capture wall-clock time [us] modulo 2**40; see :func:`unwrap_capture_wall_ns`."""

    @classmethod
    def from_capture(cls, frame_number: int, capture_wall_ns: int) -> FrameStamp:
        """Stamp for a camera frame, wrapping both fields to their bit widths."""
        return cls(
            frame_number=frame_number % (1 << FRAME_NUMBER_BITS),
            capture_wall_us=(capture_wall_ns // 1000) % _CAPTURE_WRAP_US,
        )


@dataclass(frozen=True, slots=True)
class StampLayout:
    """Where and how large the barcode is, in pixels of the encoded picture."""

    cell_px: int = 8
    """Side of one square cell [px]; 8 survives H.264 and VP8 at 100 kbps for 640x480."""
    columns: int = 22
    """Cells per row; rows follow from the 88 bits (22 columns -> 4 rows)."""
    x_px: int = 0
    """Left edge of the barcode [px]."""
    y_px: int = 0
    """Top edge of the barcode [px]."""

    def __post_init__(self) -> None:
        if self.cell_px < 2:
            raise ConfigError("cell_px", self.cell_px, "an integer >= 2")
        if not 1 <= self.columns <= STAMP_BITS:
            raise ConfigError("columns", self.columns, f"1..{STAMP_BITS}")
        if self.x_px < 0 or self.y_px < 0:
            raise ConfigError("x_px/y_px", (self.x_px, self.y_px), "non-negative pixels")

    @property
    def rows(self) -> int:
        """Number of cell rows."""
        return -(-STAMP_BITS // self.columns)

    @property
    def width_px(self) -> int:
        """Barcode width [px]."""
        return self.columns * self.cell_px

    @property
    def height_px(self) -> int:
        """Barcode height [px]."""
        return self.rows * self.cell_px

    def check_fits(self, width_px: int, height_px: int) -> None:
        """Raise ``ConfigError`` if the barcode does not fit in a picture of this size."""
        if self.x_px + self.width_px > width_px or self.y_px + self.height_px > height_px:
            raise ConfigError(
                "picture size",
                (width_px, height_px),
                f"at least {self.x_px + self.width_px}x{self.y_px + self.height_px} px "
                "for this stamp layout",
            )


def stamp_bits(stamp: FrameStamp) -> list[int]:
    """The 88 bits of a stamp, most significant first (payload then CRC)."""
    payload = (stamp.frame_number << CAPTURE_TIME_BITS) | stamp.capture_wall_us
    payload_bytes = payload.to_bytes(PAYLOAD_BITS // 8, "big")
    word = (payload << CRC_BITS) | binascii.crc_hqx(payload_bytes, 0xFFFF)
    return [(word >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)]


def bits_to_stamp(bits: list[int]) -> FrameStamp | None:
    """Inverse of :func:`stamp_bits`; ``None`` if the CRC does not match."""
    if len(bits) != STAMP_BITS:
        return None
    word = 0
    for bit in bits:
        word = (word << 1) | (bit & 1)
    payload = word >> CRC_BITS
    crc = word & 0xFFFF
    if binascii.crc_hqx(payload.to_bytes(PAYLOAD_BITS // 8, "big"), 0xFFFF) != crc:
        return None
    return FrameStamp(
        frame_number=payload >> CAPTURE_TIME_BITS,
        capture_wall_us=payload & (_CAPTURE_WRAP_US - 1),
    )


def draw_stamp(pixels: PixelArray, stamp: FrameStamp, layout: StampLayout) -> None:
    """Draw the barcode into ``pixels`` in place: (H, W, 3) RGB or (H, W) luma, uint8."""
    height_px, width_px = pixels.shape[0], pixels.shape[1]
    layout.check_fits(width_px, height_px)
    c = layout.cell_px
    for i, bit in enumerate(stamp_bits(stamp)):
        row, col = divmod(i, layout.columns)
        y = layout.y_px + row * c
        x = layout.x_px + col * c
        pixels[y : y + c, x : x + c] = 255 if bit else 0
    # Cells past the last bit (when columns does not divide 88) are painted black.
    for i in range(STAMP_BITS, layout.rows * layout.columns):
        row, col = divmod(i, layout.columns)
        y = layout.y_px + row * c
        x = layout.x_px + col * c
        pixels[y : y + c, x : x + c] = 0


def draw_stamp_yuv420p(
    planes: tuple[PixelArray, PixelArray, PixelArray], stamp: FrameStamp, layout: StampLayout
) -> None:
    """Draw into I420 planes in place: full-contrast luma cells on (H, W) ``planes[0]``, neutral
    chroma under the barcode on the (H/2, W/2) ``planes[1]`` and ``planes[2]``.

    Drawing after the RGB -> YUV conversion avoids two picture copies in the encoder; the luma
    values 0 and 255 read back as black and white in RGB too.
    """
    if layout.cell_px % 2 or layout.x_px % 2 or layout.y_px % 2:
        raise ConfigError(
            "cell_px/x_px/y_px",
            (layout.cell_px, layout.x_px, layout.y_px),
            "even numbers for a 4:2:0 picture",
        )
    luma, chroma_u, chroma_v = planes
    draw_stamp(luma, stamp, layout)
    x, y = layout.x_px // 2, layout.y_px // 2
    w, h = layout.width_px // 2, layout.height_px // 2
    chroma_u[y : y + h, x : x + w] = 128
    chroma_v[y : y + h, x : x + w] = 128


def read_stamp(pixels: PixelArray, layout: StampLayout) -> FrameStamp | None:
    """Read the barcode from decoded pixels; ``None`` if absent, damaged or too small.

    Each cell is sampled over its inner half (a quarter margin on each side), so ringing at the
    cell edges does not matter; RGB input is reduced to its mean over channels.
    """
    height_px, width_px = pixels.shape[0], pixels.shape[1]
    if layout.x_px + layout.width_px > width_px or layout.y_px + layout.height_px > height_px:
        return None
    region = pixels[
        layout.y_px : layout.y_px + layout.height_px,
        layout.x_px : layout.x_px + layout.width_px,
    ].astype(np.float32)
    if region.ndim == 3:
        region = region.mean(axis=2)
    c = layout.cell_px
    m = c // 4
    cells = region.reshape(layout.rows, c, layout.columns, c)[:, m : c - m, :, m : c - m]
    means = cells.mean(axis=(1, 3)).reshape(-1)
    bits = [1 if v >= 128.0 else 0 for v in means[:STAMP_BITS]]
    return bits_to_stamp(bits)


def unwrap_capture_wall_ns(capture_wall_us: int, reference_wall_ns: int) -> int:
    """Full capture wall-clock time [ns] nearest to ``reference_wall_ns`` (e.g. "now").

    Correct while the reader's clock is within +-6 days of the capture clock.
    """
    reference_us = reference_wall_ns // 1000
    base = reference_us - (reference_us % _CAPTURE_WRAP_US)
    candidates = (base - _CAPTURE_WRAP_US, base, base + _CAPTURE_WRAP_US)
    best = min((b + capture_wall_us for b in candidates), key=lambda t: abs(t - reference_us))
    return best * 1000
