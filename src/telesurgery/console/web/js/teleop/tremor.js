// Tremor filter (docs/teleop-spec.md section 4): elliptic 8-12 Hz band-stop, direct form I,
// run on a fixed grid t_n = t_origin + n / rate_hz onto which the input is linearly interpolated.
import { InvalidCommand } from "./so3.js";

/** Normative sections (b0, b1, b2, a0, a1, a2) at 1 kHz (section 4.2). */
export const ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ = Object.freeze([
  [0.9748320106023614, -1.945181859105833, 0.9748320106023612, 1.0, -1.9677909624199308, 0.9733967854810325],
  [1.0, -1.9968771522041862, 1.0, 1.0, -1.979667445361887, 0.9821718926616808],
  [1.0, -1.9944158268830476, 0.9999999999999998, 1.0, -1.9903610873130178, 0.9963704441203587],
  [1.0, -1.997428997741286, 0.9999999999999998, 1.0, -1.9953312374555514, 0.9977131205058085],
]);

class Biquad {
  constructor(section) {
    [this.b0, this.b1, this.b2, , this.a1, this.a2] = section;
    this.x1 = [0, 0, 0];
    this.x2 = [0, 0, 0];
    this.y1 = [0, 0, 0];
    this.y2 = [0, 0, 0];
  }

  step(x) {
    const out = [0, 0, 0];
    for (let k = 0; k < 3; k++) {
      const y =
        this.b0 * x[k] + this.b1 * this.x1[k] + this.b2 * this.x2[k] - this.a1 * this.y1[k] - this.a2 * this.y2[k];
      this.x2[k] = this.x1[k];
      this.x1[k] = x[k];
      this.y2[k] = this.y1[k];
      this.y1[k] = y;
      out[k] = y;
    }
    return out;
  }
}

/** Filters (3,) positions with irregular timestamps; time is a parameter. */
export class TremorFilter {
  /** @param {{enabled: boolean, rate_hz: number, sections: number[][], max_input_gap_s: number}} config */
  constructor(config) {
    this.config = config;
    this.sections = [];
    this.tOrigin = 0;
    this.nextTick = 0;
    this.tPrev = null;
    this.xPrev = [0, 0, 0];
    this.y = [0, 0, 0];
    this.origin = [0, 0, 0];
    /** True after the update that (re)started the filter. */
    this.restarted = false;
  }

  reset() {
    this.tPrev = null;
  }

  update(t, position) {
    const x = [position[0], position[1], position[2]];
    if (!Number.isFinite(t) || !x.every(Number.isFinite)) {
      throw new InvalidCommand(`tremor filter input must be finite, got t=${t}, x=${x}`);
    }
    const tPrev = this.tPrev;
    if (tPrev !== null && t < tPrev) {
      throw new InvalidCommand(`timestamps must not decrease: got ${t} s after ${tPrev} s`);
    }
    if (!this.config.enabled) {
      this.restarted = tPrev === null;
      this.tPrev = t;
      return x;
    }
    if (tPrev === null || t - tPrev > this.config.max_input_gap_s) {
      this.sections = this.config.sections.map((s) => new Biquad(s));
      this.origin = x;
      this.tOrigin = t;
      this.nextTick = 1;
      this.tPrev = t;
      this.xPrev = x;
      this.y = x.slice();
      this.restarted = true;
      return this.y.slice();
    }
    this.restarted = false;
    if (t > tPrev) {
      const rate = this.config.rate_hz;
      const span = t - tPrev;
      for (;;) {
        const tTick = this.tOrigin + this.nextTick / rate;
        if (tTick > t) break;
        const u = (tTick - tPrev) / span;
        let v = [0, 1, 2].map((k) => this.xPrev[k] + (x[k] - this.xPrev[k]) * u - this.origin[k]);
        for (const section of this.sections) v = section.step(v);
        this.y = [0, 1, 2].map((k) => this.origin[k] + v[k]);
        this.nextTick += 1;
      }
    }
    this.tPrev = t;
    this.xPrev = x;
    return this.y.slice();
  }
}
