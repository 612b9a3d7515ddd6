// Teleoperation configuration (docs/teleop-spec.md section 10), JSON form with defaults.
import { ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ } from "./tremor.js";

/** An invalid configuration value: says what was wrong and what is valid. */
export class ConfigError extends Error {
  constructor(field, value, valid) {
    super(`invalid ${field}=${JSON.stringify(value)}: valid is ${valid}`);
    this.name = "ConfigError";
    this.field = field;
    this.value = value;
    this.valid = valid;
  }
}

const DEG = Math.PI / 180;

/** The defaults of section 10. */
export function defaultConfig() {
  return {
    scaling: {
      ratio: 3.0,
      delay_adaptive: { enabled: true, full_speed_below_ms: 250.0, slowest_above_ms: 750.0, min_gain: 0.5 },
    },
    tremor: {
      enabled: true,
      rate_hz: 1000.0,
      sections: ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ.map((s) => s.slice()),
      max_input_gap_s: 0.1,
    },
    alignment: { start_tolerance_rad: 5 * DEG, after_clutch_tolerance_rad: 2 * DEG },
    jaw: { catch_up_rate_rad_per_s: 1.0, max_rate_rad_per_s: 10.0, min_rad: -0.698132, max_rad: 1.39626 },
  };
}

function merge(defaults, given, path) {
  if (given === undefined) return defaults;
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    throw new ConfigError(path || "config", given, "a JSON object");
  }
  const out = { ...defaults };
  for (const [key, value] of Object.entries(given)) {
    if (!(key in defaults)) {
      throw new ConfigError(path ? `${path}.${key}` : key, value, `one of the fields ${Object.keys(defaults).join(", ")}`);
    }
    const sub = defaults[key];
    out[key] = sub !== null && typeof sub === "object" && !Array.isArray(sub) ? merge(sub, value, path ? `${path}.${key}` : key) : value;
  }
  return out;
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** Build and validate a configuration from its JSON form (missing fields take defaults). */
export function configFromJson(json) {
  const c = merge(defaultConfig(), json ?? {}, "");
  const s = c.scaling;
  if (!finite(s.ratio) || !(s.ratio > 0)) {
    throw new ConfigError("scaling.ratio", s.ratio, "a finite ratio > 0, e.g. a preset '3:1' (3), '2:1' (2), '1.5:1' (1.5)");
  }
  const d = s.delay_adaptive;
  if (typeof d.enabled !== "boolean") throw new ConfigError("scaling.delay_adaptive.enabled", d.enabled, "true or false");
  if (!finite(d.full_speed_below_ms) || d.full_speed_below_ms < 0) {
    throw new ConfigError("scaling.delay_adaptive.full_speed_below_ms", d.full_speed_below_ms, "a finite RTT >= 0 ms");
  }
  if (!finite(d.slowest_above_ms) || !(d.slowest_above_ms > d.full_speed_below_ms)) {
    throw new ConfigError("scaling.delay_adaptive.slowest_above_ms", d.slowest_above_ms, `a finite RTT > ${d.full_speed_below_ms} ms`);
  }
  if (!finite(d.min_gain) || !(d.min_gain > 0 && d.min_gain <= 1)) {
    throw new ConfigError("scaling.delay_adaptive.min_gain", d.min_gain, "a gain in (0, 1]");
  }
  const t = c.tremor;
  if (typeof t.enabled !== "boolean") throw new ConfigError("tremor.enabled", t.enabled, "true or false");
  if (!finite(t.rate_hz) || !(t.rate_hz >= 10 && t.rate_hz <= 100000)) {
    throw new ConfigError("tremor.rate_hz", t.rate_hz, "a finite rate in [10, 100000] Hz");
  }
  if (!finite(t.max_input_gap_s) || !(t.max_input_gap_s > 0 && t.max_input_gap_s <= 1)) {
    throw new ConfigError("tremor.max_input_gap_s", t.max_input_gap_s, "a duration in (0, 1] s");
  }
  if (!Array.isArray(t.sections) || t.sections.length === 0) {
    throw new ConfigError("tremor.sections", t.sections, "at least one biquad section");
  }
  t.sections.forEach((sec, i) => {
    const ok =
      Array.isArray(sec) && sec.length === 6 && sec.every(finite) && sec[3] === 1 &&
      Math.abs(sec[5]) < 1 && Math.abs(sec[4]) < 1 + sec[5];
    if (!ok) throw new ConfigError(`tremor.sections[${i}]`, sec, "(b0, b1, b2, 1.0, a1, a2), finite, stable (|a2| < 1 and |a1| < 1 + a2)");
  });
  for (const name of ["start_tolerance_rad", "after_clutch_tolerance_rad"]) {
    const v = c.alignment[name];
    if (!finite(v) || !(v > 0 && v <= Math.PI)) throw new ConfigError(`alignment.${name}`, v, "an angle in (0, pi] rad");
  }
  for (const name of ["catch_up_rate_rad_per_s", "max_rate_rad_per_s"]) {
    const v = c.jaw[name];
    if (!finite(v) || !(v > 0)) throw new ConfigError(`jaw.${name}`, v, "a finite rate > 0 rad/s");
  }
  if (!finite(c.jaw.min_rad) || !finite(c.jaw.max_rad) || !(c.jaw.min_rad < c.jaw.max_rad)) {
    throw new ConfigError("jaw.min_rad/max_rad", [c.jaw.min_rad, c.jaw.max_rad], "finite angles with min_rad < max_rad");
  }
  return c;
}
