// Endoscope video: full-window <video>, each presented frame's stamp read in a
// requestVideoFrameCallback, glass-to-glass = presentation time - capture time, both on the
// gateway's wall clock (clock offset from ping/pong + gateway_wall_minus_mono_ns).
import { STAMP_HEIGHT_PX, STAMP_WIDTH_PX, readStamp, unwrapCaptureWallUs } from "./stamp.js";
import { SampleWindow } from "./connection.js";

/** VideoFrame formats whose first plane is the full-resolution luma (Y). */
const LUMA_FIRST_FORMATS = new Set(["I420", "I420A", "I422", "I444", "NV12"]);
/** A frame number this far below the last one read is a restarted counter, not a late read. */
const FRAME_NUMBER_RESTART = 1000;

export class VideoView {
  /**
   * @param {HTMLVideoElement} video
   * @param {import("./connection.js").GatewayConnection} connection
   */
  constructor(video, connection) {
    this.video = video;
    this.connection = connection;
    this.canvas = new OffscreenCanvas(STAMP_WIDTH_PX, STAMP_HEIGHT_PX);
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.framesPresented = 0;
    this.stampsRead = 0;
    this.stampsMissed = 0;
    this.lastFrameNumber = null;
    this.lastFrameAtMs = null;
    this.framesSkipped = 0;
    this.g2gMs = new SampleWindow(3000);
    // the browser's own share of glass-to-glass: last packet received -> expected display
    // (decode, then the compositor), where the browser reports receiveTime (Chromium does)
    this.receiveToDisplayMs = new SampleWindow(300);
    this.presentTimesMs = new SampleWindow(120);
    this.width = 0;
    this.height = 0;
    this.running = false;
    this.stampSource = null; // "y-plane" or "canvas" once a stamp was read
    this.planeFailures = 0; // plane copies failed in a row
  }

  attach(track) {
    this.video.srcObject = new MediaStream([track]);
    this.video.muted = true;
    this.video.play().catch(() => {});
    if (!this.running) {
      this.running = true;
      this.video.requestVideoFrameCallback((now, meta) => this.onFrame(now, meta));
    }
  }

  onFrame(now, meta) {
    if (!this.running) return;
    this.framesPresented++;
    this.width = meta.width;
    this.height = meta.height;
    const displayMs = meta.expectedDisplayTime ?? now;
    this.presentTimesMs.push(displayMs);
    if (typeof meta.receiveTime === "number") this.receiveToDisplayMs.push(displayMs - meta.receiveTime);
    this.lastFrameAtMs = performance.now();
    if (meta.width >= STAMP_WIDTH_PX && meta.height >= STAMP_HEIGHT_PX) {
      this.stampPixels().then(
        (region) => this.onStamp(region === null ? null : readStamp(region.pixels, region.stride, region.channels), displayMs),
        () => this.stampsMissed++,
      );
    }
    this.video.requestVideoFrameCallback((n, m) => this.onFrame(n, m));
  }

  /**
   * The stamp region's pixels ({pixels, stride, channels}), or null if this frame's could not
   * be read. Where the browser exposes the decoded frame's planes (I420, NV12...), the rows of
   * the Y plane under the stamp are copied from the frame: drawing the video into a canvas
   * instead converts the whole frame to RGB on the main thread first (~3 ms per frame at
   * 640x480 with software decoding on the test machine, 9 % of the page's main thread at
   * 30 fps). A frame without planes (format null) uses the canvas from then on, and so does a
   * browser whose plane copies failed 3 times in a row.
   */
  async stampPixels() {
    if (this.stampSource !== "canvas" && typeof VideoFrame !== "undefined") {
      let frame = null;
      try {
        frame = new VideoFrame(this.video); // the frame being presented (created in the callback)
        if (LUMA_FIRST_FORMATS.has(frame.format)) {
          const { x, y } = frame.visibleRect;
          const rect = { x, y, width: STAMP_WIDTH_PX, height: STAMP_HEIGHT_PX };
          const buffer = new Uint8Array(frame.allocationSize({ rect }));
          const [luma] = await frame.copyTo(buffer, { rect });
          this.stampSource = "y-plane";
          this.planeFailures = 0;
          return { pixels: buffer.subarray(luma.offset), stride: luma.stride, channels: 1 };
        }
        this.useCanvas(`frames have no readable planes (format ${frame.format})`);
      } catch (error) {
        // after an await the video may show a later frame: no canvas read for this one
        if (++this.planeFailures >= 3) this.useCanvas(`copying the Y plane failed: ${error.message}`);
        return null;
      } finally {
        frame?.close(); // an unclosed frame holds a decoder buffer
      }
    }
    this.ctx.drawImage(this.video, 0, 0, STAMP_WIDTH_PX, STAMP_HEIGHT_PX, 0, 0, STAMP_WIDTH_PX, STAMP_HEIGHT_PX);
    const pixels = this.ctx.getImageData(0, 0, STAMP_WIDTH_PX, STAMP_HEIGHT_PX).data;
    return { pixels, stride: STAMP_WIDTH_PX, channels: 4 };
  }

  useCanvas(reason) {
    if (this.stampSource === "canvas") return;
    this.stampSource = "canvas";
    console.warn(`video stamps: reading them through a canvas from now on: ${reason}`);
  }

  onStamp(stamp, displayMs) {
    if (stamp === null) {
      this.stampsMissed++;
      return;
    }
    this.stampsRead++;
    if (this.lastFrameNumber !== null && stamp.frameNumber > this.lastFrameNumber + 1) {
      this.framesSkipped += stamp.frameNumber - this.lastFrameNumber - 1;
    }
    // reads finish in order but may overtake each other after a switch to the canvas: keep the
    // newest number, unless the counter restarted (a new camera) or wrapped
    const last = this.lastFrameNumber;
    if (last === null || stamp.frameNumber > last || last - stamp.frameNumber > FRAME_NUMBER_RESTART) {
      this.lastFrameNumber = stamp.frameNumber;
    }
    const wallNs = this.connection.gatewayWallNs(BigInt(Math.round(displayMs * 1e6)));
    if (wallNs !== null) {
      const displayUs = wallNs / 1000n;
      const captureUs = unwrapCaptureWallUs(stamp.captureWallUs, displayUs);
      this.g2gMs.push(Number(displayUs - captureUs) / 1000);
    }
  }

  /** Presented frames per second over the last ~120 frames. */
  fps() {
    const v = this.presentTimesMs.values;
    if (v.length < 2) return null;
    return ((v.length - 1) * 1000) / (v[v.length - 1] - v[0]);
  }

  stop() {
    this.running = false;
  }
}
