"""The browser console's stamp reader (``console/web/js/stamp.js``) on pixels drawn by Python.

``telesurgery.media.stamp.draw_stamp`` writes the barcode the gateway puts in every frame; the
JavaScript reader the page runs in ``requestVideoFrameCallback`` must return the same frame number
and capture time from RGBA pixels (a canvas) and from a decoded frame's Y plane, reject a damaged
barcode (CRC), and unwrap the 40-bit capture time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from telesurgery.media.stamp import FrameStamp, StampLayout, draw_stamp, draw_stamp_yuv420p

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "src" / "telesurgery" / "console" / "web" / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

SCRIPT = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [jsDir, inputPath] = process.argv.slice(1);
const s = await import(pathToFileURL(`${jsDir}/stamp.js`).href);
const input = JSON.parse(readFileSync(inputPath, "utf8"));
const read = ([hex, stride, channels]) => {
  const stamp = s.readStamp(Buffer.from(hex, "hex"), stride, channels);
  return stamp === null ? null : [stamp.frameNumber, String(stamp.captureWallUs)];
};
const out = input.images.map(read);
let refused = null;
try { s.readStamp(new Uint8Array(16), 4, 3); } catch (error) { refused = error.message; }
const unwrapped = input.unwrap.map(([captured, reference]) =>
  String(s.unwrapCaptureWallUs(BigInt(captured), BigInt(reference))));
const size = [s.STAMP_WIDTH_PX, s.STAMP_HEIGHT_PX];
console.log(JSON.stringify({ out, unwrapped, refused, size }));
"""


def _rgb(stamp: FrameStamp, noise: int, damage: bool = False) -> np.ndarray:
    layout = StampLayout()
    pixels = np.full((layout.height_px, layout.width_px, 3), 90, dtype=np.uint8)
    draw_stamp(pixels, stamp, layout)
    rng = np.random.default_rng(noise)
    noisy = pixels.astype(np.int16) + rng.integers(-noise, noise + 1, pixels.shape)
    pixels = np.clip(noisy, 0, 255).astype(np.uint8)
    if damage:  # flip one payload cell
        pixels[0:8, 8:16] = 255 - pixels[0:8, 8:16]
    return pixels


def _rgba(stamp: FrameStamp, noise: int, damage: bool = False) -> list[object]:
    """ImageData-like RGBA bytes, as a canvas returns them."""
    pixels = _rgb(stamp, noise, damage)
    alpha = np.full((*pixels.shape[:2], 1), 255, dtype=np.uint8)
    rgba = np.concatenate([pixels, alpha], axis=2)
    return [rgba.tobytes().hex(), StampLayout().width_px, 4]


def _y_plane(stamp: FrameStamp, noise: int, damage: bool = False, pad_px: int = 16) -> list[object]:
    """The Y plane of an I420 picture stamped as the gateway's encoder stamps it
    (``draw_stamp_yuv420p``), rows padded as a decoder's are."""
    layout = StampLayout()
    h, w = layout.height_px, layout.width_px
    y = np.full((h, w + pad_px), 90, dtype=np.uint8)
    u = np.full((h // 2, (w + pad_px) // 2), 128, dtype=np.uint8)
    v = u.copy()
    draw_stamp_yuv420p((y, u, v), stamp, layout)
    rng = np.random.default_rng(noise)
    noisy = y.astype(np.int16) + rng.integers(-noise, noise + 1, y.shape)
    y = np.clip(noisy, 0, 255).astype(np.uint8)
    if damage:  # flip one payload cell
        y[0:8, 8:16] = 255 - y[0:8, 8:16]
    return [y.tobytes().hex(), y.shape[1], 1]


def test_browser_reads_the_stamps_python_draws(tmp_path: Path) -> None:
    stamps = [
        FrameStamp(0, 0),
        FrameStamp(12345, 1_700_000_000_123_456 % (1 << 40)),
        FrameStamp((1 << 32) - 1, (1 << 40) - 1),
    ]
    images = (
        [_rgba(s, noise=40) for s in stamps]
        + [_rgba(stamps[1], 0, damage=True)]
        + [_y_plane(s, noise=40) for s in stamps]
        + [_y_plane(stamps[1], 0, damage=True)]
    )
    now_us = 1_764_000_000_000_000
    wrap = 1 << 40
    unwrap = [[now_us % wrap, now_us], [(now_us - 5000) % wrap, now_us], [wrap - 10, wrap + 5]]
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"images": images, "unwrap": unwrap}))
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, "--", str(JS), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(result.stdout)
    assert out["size"] == [StampLayout().width_px, StampLayout().height_px]
    expected = [[s.frame_number, str(s.capture_wall_us)] for s in stamps]
    assert out["out"][:3] == expected  # RGBA, as a canvas gives it
    assert out["out"][3] is None  # the CRC rejects a damaged barcode
    assert out["out"][4:7] == expected  # a decoded frame's Y plane, padded rows
    assert out["out"][7] is None
    assert out["refused"] == "invalid channels=3: valid are 4 (RGBA), 1 (luma)"
    assert out["unwrapped"] == [str(now_us), str(now_us - 5000), str(wrap - 10)]
