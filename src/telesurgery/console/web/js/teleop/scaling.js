// Motion scaling with delay-adaptive gain (docs/teleop-spec.md section 5).

/** Ratio presets "r:1": the master moves r metres for one metre of tool motion. */
export const SCALE_PRESETS = Object.freeze({ "3:1": 3.0, "2:1": 2.0, "1.5:1": 1.5 });

/** Gain in [min_gain, 1] for a round-trip time [ms]; null/invalid RTT is the worst case. */
export function delayGain(config, rttMs) {
  if (!config.enabled) return 1;
  if (rttMs === null || rttMs === undefined || !Number.isFinite(rttMs) || rttMs < 0) {
    return config.min_gain;
  }
  let u = (rttMs - config.full_speed_below_ms) / (config.slowest_above_ms - config.full_speed_below_ms);
  u = Math.min(Math.max(u, 0), 1);
  return 1 - (1 - config.min_gain) * u;
}

/** Tool metres per master metre. */
export function positionScale(scaling, rttMs) {
  return delayGain(scaling.delay_adaptive, rttMs) / scaling.ratio;
}
