// Engage alignment and the jaw catch-up (docs/teleop-spec.md section 8).
import { matmul3, rotationAngleRad, transpose3 } from "./so3.js";

/** angle((R_rc R_m)^T R_rcm_tip) [rad]. */
export function alignmentErrorRad(R_rc, R_m, R_rcm_tip) {
  return rotationAngleRad(matmul3(transpose3(matmul3(R_rc, R_m)), R_rcm_tip));
}

/** The jaw target starts at the tool's jaw and is rate-limited toward the master's. */
export class JawCatchUp {
  constructor(config, jawToolRad) {
    this.config = config;
    this.jawRad = jawToolRad;
    this.caughtUp = false;
  }

  step(jawMasterRad, dt) {
    const target = Math.min(Math.max(jawMasterRad, this.config.min_rad), this.config.max_rad);
    const rate = this.caughtUp ? this.config.max_rate_rad_per_s : this.config.catch_up_rate_rad_per_s;
    const maxStep = rate * Math.max(dt, 0);
    const delta = target - this.jawRad;
    if (Math.abs(delta) <= maxStep) {
      this.jawRad = target;
      this.caughtUp = true;
    } else if (delta > 0) {
      this.jawRad = this.jawRad + maxStep;
    } else {
      this.jawRad = this.jawRad - maxStep;
    }
    return this.jawRad;
  }
}
