// The per-arm teleoperation pipeline (docs/teleop-spec.md section 9). Pure: time comes only
// from the sample's timestamp. Mirrors telesurgery.teleop.pipeline.TeleopPipeline.
import { InvalidCommand, checkPose, pose, positionOf, quatXyzwFromMatrix, rotationOf } from "./so3.js";
import { TremorFilter } from "./tremor.js";
import { positionScale } from "./scaling.js";
import { rRcmConsole, sameRotation } from "./camera_frame.js";
import { anchorAt, mapPosition, mapRotation, reanchor } from "./anchor.js";
import { JawCatchUp, alignmentErrorRad } from "./alignment.js";
import { configFromJson } from "./config.js";

export const FollowState = Object.freeze({
  WAITING: "WAITING",
  CLUTCHED: "CLUTCHED",
  ALIGNING: "ALIGNING",
  FOLLOWING: "FOLLOWING",
});

/** Allowed old -> new changes (staying is always allowed). */
export const FOLLOW_TRANSITIONS = Object.freeze({
  WAITING: ["CLUTCHED", "ALIGNING", "FOLLOWING"],
  CLUTCHED: ["WAITING", "ALIGNING", "FOLLOWING"],
  ALIGNING: ["WAITING", "CLUTCHED", "FOLLOWING"],
  FOLLOWING: ["WAITING", "CLUTCHED"],
});

export class TeleopPipeline {
  /** @param {object} [configJson] section 10 JSON form; missing fields take defaults */
  constructor(configJson) {
    this.config = configFromJson(configJson);
    this.filter = new TremorFilter(this.config.tremor);
    this.state = FollowState.WAITING;
    this.toleranceRad = this.config.alignment.start_tolerance_rad;
    this.tPrev = null;
    this.anchor = null;
    this.jaw = null;
    this.lastT = null;
  }

  /** Forget everything: WAITING, start tolerance. */
  reset() {
    this.setState(FollowState.WAITING);
    this.filter.reset();
    this.toleranceRad = this.config.alignment.start_tolerance_rad;
    this.tPrev = null;
    this.anchor = null;
    this.jaw = null;
    this.lastT = null;
  }

  /**
   * One step. sample: {timestamp_s, T_console_master, jaw_rad, clutch_pressed};
   * tool: {T_rcm_tip, jaw_rad, T_world_camera, T_world_rcm, rtt_ms}.
   * Returns {target: null | {position_m, quat_xyzw, jaw_rad}, status}.
   */
  step(sample, tool) {
    const T_cm = checkPose(sample.T_console_master, "T_console_master");
    const T_rcm_tip = checkPose(tool.T_rcm_tip, "T_rcm_tip");
    const t = sample.timestamp_s;
    for (const [name, value] of [["timestamp_s", t], ["master jaw_rad", sample.jaw_rad], ["tool jaw_rad", tool.jaw_rad]]) {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new InvalidCommand(`${name} must be finite, got ${value}`);
      }
    }
    if (this.tPrev !== null && t < this.tPrev) {
      throw new InvalidCommand(`timestamps must not decrease: got ${t} s after ${this.tPrev} s`);
    }
    // Everything that can throw is checked before any state changes.
    const R_rc = rRcmConsole(tool.T_world_camera, tool.T_world_rcm);
    const dt = this.tPrev === null ? 0 : t - this.tPrev;
    this.tPrev = t;
    const R_m = rotationOf(T_cm);
    const p = this.filter.update(t, positionOf(T_cm));
    const restarted = this.filter.restarted;
    const scale = positionScale(this.config.scaling, tool.rtt_ms);
    if (sample.clutch_pressed) {
      this.setState(FollowState.CLUTCHED);
      this.toleranceRad = this.config.alignment.after_clutch_tolerance_rad;
      this.anchor = null;
      this.jaw = null;
      return this.output(null, null, scale, restarted);
    }
    let error = null;
    let jawDt;
    if (this.anchor === null || this.jaw === null) {
      error = alignmentErrorRad(R_rc, R_m, rotationOf(T_rcm_tip));
      if (!(error <= this.toleranceRad)) {
        this.setState(FollowState.ALIGNING);
        return this.output(null, error, scale, restarted);
      }
      this.anchor = anchorAt(p, R_m, T_rcm_tip, R_rc, scale);
      this.jaw = new JawCatchUp(this.config.jaw, tool.jaw_rad);
      this.setState(FollowState.FOLLOWING);
      jawDt = 0;
    } else {
      jawDt = dt;
      if (restarted && this.lastT !== null) {
        this.anchor = anchorAt(p, R_m, this.lastT, R_rc, scale);
      } else if (scale !== this.anchor.scale_a || !sameRotation(R_rc, this.anchor.R_rc_a)) {
        this.anchor = reanchor(this.anchor, p, R_m, R_rc, scale);
      }
    }
    const position = mapPosition(this.anchor, p);
    const R = mapRotation(this.anchor, R_m);
    const jawRad = this.jaw.step(sample.jaw_rad, jawDt);
    this.lastT = pose(R, position);
    return this.output({ position_m: position, quat_xyzw: quatXyzwFromMatrix(R), jaw_rad: jawRad }, error, scale, restarted);
  }

  output(target, error, scale, restarted) {
    return {
      target,
      status: {
        state: this.state,
        alignment_error_rad: error,
        tolerance_rad: this.toleranceRad,
        scale,
        jaw_caught_up: this.jaw !== null && this.jaw.caughtUp,
        filter_restarted: restarted,
      },
    };
  }

  setState(next) {
    const old = this.state;
    if (next === old) return;
    if (!FOLLOW_TRANSITIONS[old].includes(next)) {
      throw new Error(`teleop state ${old} -> ${next} is not allowed; valid from ${old}: ${FOLLOW_TRANSITIONS[old].join(", ")}`);
    }
    this.state = next;
  }
}
