// Telestration on screen: a canvas over the video that draws everyone's strokes where they were
// drawn in the frame (normalised video coordinates, so every console sees them on the same
// anatomy whatever its window size), and, in draw mode, turns pointer strokes into
// telestration_stroke messages. Strokes stay until cleared (by their author, or the lead or
// bedside for everyone's).
import { StrokeBoard, StrokeBuilder, contentRect, fromVideoUv, toVideoUv } from "./telestration.js";

export class TelestrationView {
  /**
   * @param {HTMLCanvasElement} canvas fixed over the whole window, above the video
   * @param {HTMLVideoElement} video the endoscope view (object-fit: contain)
   * @param {{send: (m: object) => boolean, frameNumber: () => number | null,
   *   selfId: () => string, label: (id: string) => string}} hooks
   */
  constructor(canvas, video, hooks) {
    this.canvas = canvas;
    this.video = video;
    this.hooks = hooks;
    this.board = new StrokeBoard();
    this.builder = new StrokeBuilder({ firstStrokeId: Date.now() % 1e9 });
    this.enabled = false; // draw mode
    this.mayDraw = false;
    this.sentStrokes = 0;
    this.receivedAtMs = new Map(); // stroke key -> performance.now() of arrival (tests, latency)
    this.framePending = false;
    this.dirty = true;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    const redraw = () => { this.dirty = true; };
    window.addEventListener("resize", redraw);
    video.addEventListener("resize", redraw);
  }

  // Setting dirty asks for one animation frame; no frame loop runs while nothing changes (a
  // perpetual requestAnimationFrame keeps the compositor busy and delays the video).
  get dirty() {
    return this.needsDraw;
  }

  set dirty(on) {
    this.needsDraw = on;
    if (on && !this.framePending) {
      this.framePending = true;
      requestAnimationFrame(() => {
        this.framePending = false;
        if (this.needsDraw) this.draw();
      });
    }
  }

  setMayDraw(on) {
    this.mayDraw = on;
    if (!on) this.setDrawMode(false);
  }

  setDrawMode(on) {
    this.enabled = on && this.mayDraw;
    this.canvas.classList.toggle("drawing", this.enabled);
    this.dirty = true; // shows or hides the overlay
    if (!this.enabled && this.builder.drawing) this.finish();
    return this.enabled;
  }

  rect() {
    const box = this.video.getBoundingClientRect();
    const r = contentRect(box.width, box.height, this.video.videoWidth, this.video.videoHeight);
    return { x: r.x + box.left, y: r.y + box.top, width: r.width, height: r.height };
  }

  uv(e) {
    return toVideoUv(e.clientX, e.clientY, this.rect());
  }

  down(e) {
    if (!this.enabled || e.button !== 0) return;
    const uv = this.uv(e);
    if (uv === null) return;
    this.canvas.setPointerCapture(e.pointerId);
    this.builder.begin(uv, this.hooks.frameNumber() ?? 0, performance.now());
    this.dirty = true;
  }

  move(e) {
    if (!this.builder.drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) {
      const uv = this.uv(ev);
      if (uv === null) continue;
      for (const message of this.builder.add(uv, performance.now())) this.post(message);
    }
    this.dirty = true;
  }

  up() {
    if (this.builder.drawing) this.finish();
  }

  finish() {
    this.post(this.builder.end(performance.now()));
    this.dirty = true;
  }

  /** Send a piece and show it at once (the gateway's echo replaces it). */
  post(message) {
    if (message === null) return;
    this.board.add({ ...message, author: this.hooks.selfId() });
    if (this.hooks.send(message)) this.sentStrokes++;
    this.dirty = true;
  }

  /** A telestration / telestration_cleared message from the gateway. */
  apply(msg) {
    if (msg.type === "telestration") this.receivedAtMs.set(StrokeBoard.key(msg.author, msg.stroke_id), performance.now());
    if (this.board.apply(msg)) this.dirty = true;
  }

  /** The clear message for this console's own strokes (null when it has none). */
  clearMine() {
    return this.board.idsOf(this.hooks.selfId()).length === 0 ? null : { type: "telestration_clear", stroke_ids: null };
  }

  draw() {
    this.dirty = false;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(window.innerWidth * dpr);
    const h = Math.round(window.innerHeight * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, window.innerWidth, window.innerHeight);
    const rect = this.rect();
    const strokes = this.board.list();
    // the stroke being drawn, ahead of its last message (same key: it replaces the sent one)
    const live = this.builder.drawing
      ? [{ author: this.hooks.selfId(), stroke_id: this.builder.strokeId, points: this.builder.points, color: this.builder.color, width_px: this.builder.widthPx }]
      : [];
    const liveKey = live.length ? StrokeBoard.key(live[0].author, live[0].stroke_id) : null;
    // an empty overlay is not composited over every video frame
    this.canvas.style.visibility = strokes.length || live.length || this.enabled ? "visible" : "hidden";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of [...strokes.filter((x) => StrokeBoard.key(x.author, x.stroke_id) !== liveKey), ...live]) {
      const pts = s.points.map((p) => fromVideoUv(p, rect));
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = s.width_px;
      ctx.shadowColor = "rgba(0, 0, 0, 0.8)";
      ctx.shadowBlur = 2;
      if (pts.length === 1) {
        ctx.beginPath();
        ctx.arc(pts[0][0], pts[0][1], s.width_px, 0, 2 * Math.PI);
        ctx.fill();
      } else {
        ctx.beginPath();
        ctx.moveTo(pts[0][0], pts[0][1]);
        for (const p of pts.slice(1)) ctx.lineTo(p[0], p[1]);
        ctx.stroke();
      }
      if (!this.board.continues(s)) {
        ctx.font = "600 12px system-ui, sans-serif";
        ctx.shadowBlur = 3;
        ctx.fillText(this.hooks.label(s.author), pts[0][0] + 6, pts[0][1] - 6);
      }
    }
    ctx.shadowBlur = 0;
  }
}
