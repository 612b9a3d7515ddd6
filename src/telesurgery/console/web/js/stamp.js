// Frame stamp reader (telesurgery.media.stamp): 88 cells of 8x8 px, 22 columns x 4 rows, in the
// top-left corner; bit = mean RGB (or luma) over the inner half of the cell >= 128; CRC-16/CCITT-FALSE.

export const STAMP_LAYOUT = Object.freeze({ cellPx: 8, columns: 22, rows: 4, bits: 88 });
export const STAMP_WIDTH_PX = STAMP_LAYOUT.cellPx * STAMP_LAYOUT.columns;
export const STAMP_HEIGHT_PX = STAMP_LAYOUT.cellPx * STAMP_LAYOUT.rows;

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of a byte array. */
export function crc16Ccitt(bytes) {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * Read a stamp from the barcode region's pixels: RGBA (ImageData.data, `channels` 4: the mean of
 * R, G and B) or one luma plane (a decoded frame's Y plane, `channels` 1), `stride` pixels per
 * row. Returns {frameNumber, captureWallUs (BigInt, modulo 2**40)} or null if absent or damaged.
 */
export function readStamp(pixels, stride, channels = 4) {
  if (channels !== 4 && channels !== 1) throw new Error(`invalid channels=${channels}: valid are 4 (RGBA), 1 (luma)`);
  const { cellPx, columns, bits } = STAMP_LAYOUT;
  const m = cellPx >> 2;
  const used = channels === 4 ? 3 : 1;
  const bytes = new Uint8Array(11);
  for (let i = 0; i < bits; i++) {
    const row = Math.floor(i / columns);
    const col = i % columns;
    let sum = 0;
    let count = 0;
    for (let y = row * cellPx + m; y < row * cellPx + cellPx - m; y++) {
      for (let x = col * cellPx + m; x < col * cellPx + cellPx - m; x++) {
        const o = (y * stride + x) * channels;
        for (let c = 0; c < used; c++) sum += pixels[o + c];
        count += used;
      }
    }
    if (sum / count >= 128) bytes[i >> 3] |= 0x80 >> (i & 7);
  }
  const crc = (bytes[9] << 8) | bytes[10];
  if (crc16Ccitt(bytes.subarray(0, 9)) !== crc) return null;
  const frameNumber = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  let us = 0n;
  for (let i = 4; i < 9; i++) us = (us << 8n) | BigInt(bytes[i]);
  return { frameNumber, captureWallUs: us };
}

/** Full capture wall time [us] nearest to a reference wall time [us] (undo the 2**40 wrap). */
export function unwrapCaptureWallUs(captureWallUs, referenceWallUs) {
  const wrap = 1n << 40n;
  const base = referenceWallUs - (referenceWallUs % wrap);
  let best = null;
  for (const b of [base - wrap, base, base + wrap]) {
    const t = b + captureWallUs;
    const d = t > referenceWallUs ? t - referenceWallUs : referenceWallUs - t;
    if (best === null || d < best.d) best = { t, d };
  }
  return best.t;
}
