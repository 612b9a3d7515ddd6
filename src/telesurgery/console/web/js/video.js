// Endoscope video: full-window <video>, each presented frame's stamp read in a
// requestVideoFrameCallback, glass-to-glass = presentation time - capture time, both on the
// gateway's wall clock (clock offset from ping/pong + gateway_wall_minus_mono_ns).
import { STAMP_HEIGHT_PX, STAMP_WIDTH_PX, readStamp, unwrapCaptureWallUs } from "./stamp.js";
import { SampleWindow } from "./connection.js";

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
    this.presentTimesMs = new SampleWindow(120);
    this.width = 0;
    this.height = 0;
    this.running = false;
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
    this.lastFrameAtMs = performance.now();
    if (meta.width >= STAMP_WIDTH_PX && meta.height >= STAMP_HEIGHT_PX) {
      this.ctx.drawImage(this.video, 0, 0, STAMP_WIDTH_PX, STAMP_HEIGHT_PX, 0, 0, STAMP_WIDTH_PX, STAMP_HEIGHT_PX);
      const pixels = this.ctx.getImageData(0, 0, STAMP_WIDTH_PX, STAMP_HEIGHT_PX).data;
      const stamp = readStamp(pixels, STAMP_WIDTH_PX);
      if (stamp === null) {
        this.stampsMissed++;
      } else {
        this.stampsRead++;
        if (this.lastFrameNumber !== null && stamp.frameNumber > this.lastFrameNumber + 1) {
          this.framesSkipped += stamp.frameNumber - this.lastFrameNumber - 1;
        }
        this.lastFrameNumber = stamp.frameNumber;
        const wallNs = this.connection.gatewayWallNs(BigInt(Math.round(displayMs * 1e6)));
        if (wallNs !== null) {
          const displayUs = wallNs / 1000n;
          const captureUs = unwrapCaptureWallUs(stamp.captureWallUs, displayUs);
          this.g2gMs.push(Number(displayUs - captureUs) / 1000);
        }
      }
    }
    this.video.requestVideoFrameCallback((n, m) => this.onFrame(n, m));
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
