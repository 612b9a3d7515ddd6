// Telestration, the pure part: where the video is on screen, pointer <-> normalised video
// coordinates (u, v in [0, 1], origin top-left of the frame), strokes cut into messages while
// they are drawn, and the board of everyone's strokes (docs/protocol.md, "Events channel").

/** Most points in one telestration_stroke message (the protocol's limit); a longer stroke goes on
 * under a new stroke id that starts at the previous one's last point. */
export const MAX_POINTS = 256;
/** While drawing, the growing stroke is re-sent under its id at most this often [ms] (the
 * gateway replaces a stroke re-sent with the same id, so the others see it grow). */
export const RESEND_MS = 50;
/** Points closer than this to the previous one are skipped [normalised units]. */
export const MIN_STEP = 0.002;
/** Decimals kept in u, v (1e-4 of the frame: 0.05 px at 640 px). */
export const UV_DECIMALS = 4;
export const DEFAULT_COLOR = "#ffd400";
export const DEFAULT_WIDTH_PX = 3;

/**
 * Where a video of videoW x videoH is drawn in a box of boxW x boxH with object-fit: contain.
 * @returns {{x: number, y: number, width: number, height: number}} in the box's pixels
 */
export function contentRect(boxW, boxH, videoW, videoH) {
  if (!(videoW > 0 && videoH > 0 && boxW > 0 && boxH > 0)) return { x: 0, y: 0, width: boxW, height: boxH };
  const scale = Math.min(boxW / videoW, boxH / videoH);
  const width = videoW * scale;
  const height = videoH * scale;
  return { x: (boxW - width) / 2, y: (boxH - height) / 2, width, height };
}

const round = (x) => Math.round(x * 10 ** UV_DECIMALS) / 10 ** UV_DECIMALS;

/** Box pixels -> [u, v] of the frame, or null outside the picture. */
export function toVideoUv(x, y, rect) {
  const u = (x - rect.x) / rect.width;
  const v = (y - rect.y) / rect.height;
  if (!(u >= 0 && u <= 1 && v >= 0 && v <= 1)) return null;
  return [round(u), round(v)];
}

/** [u, v] of the frame -> box pixels. */
export function fromVideoUv(uv, rect) {
  return [rect.x + uv[0] * rect.width, rect.y + uv[1] * rect.height];
}

/** Why a stroke message is invalid (what is valid), or null when it is valid. */
export function strokeProblem(m) {
  if (!Number.isInteger(m.stroke_id) || m.stroke_id < 0) return `stroke_id ${m.stroke_id}: valid is an integer >= 0`;
  if (!Number.isInteger(m.frame_id) || m.frame_id < 0) return `frame_id ${m.frame_id}: valid is an integer >= 0`;
  if (!Array.isArray(m.points) || m.points.length < 1 || m.points.length > MAX_POINTS) {
    return `${Array.isArray(m.points) ? m.points.length : "no"} points: valid is 1..${MAX_POINTS}`;
  }
  for (const p of m.points) {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((c) => typeof c === "number" && c >= 0 && c <= 1)) {
      return `point ${JSON.stringify(p)}: valid is [u, v] with 0 <= u, v <= 1`;
    }
  }
  if (typeof m.color !== "string" || !/^#[0-9a-f]{6}$/i.test(m.color)) return `color ${m.color}: valid is #rrggbb`;
  if (!(typeof m.width_px === "number" && m.width_px >= 0.5 && m.width_px <= 32)) return `width_px ${m.width_px}: valid is 0.5..32`;
  return null;
}

/**
 * Turns the stroke being drawn into telestration_stroke messages: the growing stroke every
 * RESEND_MS under one id, the final one at pen up, a new id every MAX_POINTS points. Stroke ids
 * count up from firstStrokeId (unique per console and page load).
 */
export class StrokeBuilder {
  constructor({ firstStrokeId = 0, color = DEFAULT_COLOR, widthPx = DEFAULT_WIDTH_PX } = {}) {
    this.nextStrokeId = firstStrokeId;
    this.color = color;
    this.widthPx = widthPx;
    this.points = null; // the stroke being drawn, or null between strokes
    this.strokeId = null;
    this.frameId = 0;
    this.sentAtMs = -Infinity;
    this.sentPoints = 0;
    this.continued = false;
  }

  get drawing() {
    return this.points !== null;
  }

  /** Pen down at [u, v] on frame `frameId` (the stamp of the frame shown). */
  begin(uv, frameId, nowMs) {
    this.frameId = Math.max(0, frameId ?? 0);
    this.start([uv], false);
    this.sentAtMs = nowMs; // the first message waits for motion (or pen up: a dot)
  }

  start(points, continued) {
    this.points = points;
    this.continued = continued;
    this.strokeId = this.nextStrokeId++;
    this.sentPoints = 0;
  }

  /**
   * Pen moved: returns the messages to send now (the growing stroke every RESEND_MS; a full
   * stroke, then its continuation under a new id).
   */
  add(uv, nowMs) {
    if (this.points === null) return [];
    const last = this.points[this.points.length - 1];
    if (Math.hypot(uv[0] - last[0], uv[1] - last[1]) < MIN_STEP) return [];
    this.points.push(uv);
    if (this.points.length >= MAX_POINTS) {
      const full = this.message(nowMs);
      this.start([uv], true);
      return [full];
    }
    return nowMs - this.sentAtMs >= RESEND_MS ? [this.message(nowMs)] : [];
  }

  /** Pen up: the final stroke, or null when it was sent complete already (a tap sends a dot). */
  end(nowMs) {
    if (this.points === null) return null;
    const onlyTheJoint = this.continued && this.points.length === 1; // the last one ended here
    const done = this.points.length > this.sentPoints && !onlyTheJoint ? this.message(nowMs) : null;
    this.points = null;
    return done;
  }

  message(nowMs) {
    this.sentAtMs = nowMs;
    this.sentPoints = this.points.length;
    return {
      type: "telestration_stroke",
      stroke_id: this.strokeId,
      frame_id: this.frameId,
      points: this.points.slice(),
      color: this.color,
      width_px: this.widthPx,
    };
  }
}

/** Everyone's strokes, keyed by author and stroke id, in arrival order. */
export class StrokeBoard {
  constructor() {
    this.strokes = new Map(); // "author\u0000stroke_id" -> stroke
  }

  static key(author, strokeId) {
    return `${author}\u0000${strokeId}`;
  }

  /** Add (or replace) a stroke: {author, stroke_id, frame_id, points, color, width_px}. */
  add(stroke) {
    if (strokeProblem(stroke) !== null) return false;
    this.strokes.set(StrokeBoard.key(stroke.author, stroke.stroke_id), {
      author: stroke.author,
      stroke_id: stroke.stroke_id,
      frame_id: stroke.frame_id,
      points: stroke.points,
      color: stroke.color,
      width_px: stroke.width_px,
    });
    return true;
  }

  /** Remove `author`'s strokes `strokeIds` (all of the author's when null); returns the count. */
  clear(author, strokeIds) {
    let removed = 0;
    for (const [key, s] of this.strokes) {
      if (s.author === author && (strokeIds === null || strokeIds.includes(s.stroke_id))) {
        this.strokes.delete(key);
        removed++;
      }
    }
    return removed;
  }

  idsOf(author) {
    return [...this.strokes.values()].filter((s) => s.author === author).map((s) => s.stroke_id);
  }

  list() {
    return [...this.strokes.values()];
  }

  /** A gateway message (telestration / telestration_cleared); true if the board changed. */
  apply(msg) {
    if (msg.type === "telestration") return this.add(msg);
    if (msg.type === "telestration_cleared") {
      return this.clear(msg.author, Array.isArray(msg.stroke_ids) ? msg.stroke_ids : null) > 0;
    }
    return false;
  }

  /** True when `stroke` starts where the author's previous piece ended (no label needed). */
  continues(stroke) {
    const prev = this.strokes.get(StrokeBoard.key(stroke.author, stroke.stroke_id - 1));
    if (prev === undefined) return false;
    const a = prev.points[prev.points.length - 1];
    const b = stroke.points[0];
    return a[0] === b[0] && a[1] === b[1];
  }
}
