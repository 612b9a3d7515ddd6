// Where the virtual master becomes a command on the wire (mirrors console/surgeon.py
// TeleopSession): the selected arm's TeleopPipeline runs against the streamed robot state, and its
// absolute target goes out in a CONTROL message with the engage / clutch / camera flags.
import { ControlFlag, encodeControl, nextSeq } from "./protocol.js";
import { monoNowNs } from "./connection.js";
import { FollowState, TeleopPipeline } from "./teleop/pipeline.js";
import { matmul3, matmul4, matrixFromQuatXyzw, pose, quatXyzwFromMatrix, rotationOf, transpose3 } from "./teleop/so3.js";
import { rRcmConsole } from "./teleop/camera_frame.js";

/** Engage requests are repeated at most this often while an arm is not following [ms]. */
export const ENGAGE_RETRY_MS = 100;

/** (4, 4) T_rcm_tip of an arm entry of a ROBOT_STATE (setpoint or measured). */
export function toolPose(armState, setpoint = true) {
  const p = setpoint ? armState.setpoint_position_m : armState.measured_position_m;
  const q = setpoint ? armState.setpoint_quat_xyzw : armState.measured_quat_xyzw;
  return pose(matrixFromQuatXyzw(q), p);
}

export function armOf(state, name) {
  return state ? state.arms.find((a) => a.arm === name) ?? null : null;
}

/** T_world_camera = T_world_rcm[ECM] @ T_rcm_tip(ECM measured), OpenCV camera frame. */
export function cameraPose(state, geometry) {
  const ecm = armOf(state, geometry.camera_arm);
  if (ecm === null) return null;
  return matmul4(geometry.T_world_rcm[geometry.camera_arm], toolPose(ecm, false));
}

/** A held arm stopped this close to a kept target resumes it without visible motion. */
const KEPT_RESUME_MAX_M = 0.001;
const KEPT_RESUME_MAX_RAD = (1 * Math.PI) / 180;

/** True if arm state ``a``'s setpoint is within 1 mm and 1 degree of the kept ``target``. */
function heldOnTarget(a, target) {
  const p = a.setpoint_position_m;
  const t = target.position_m;
  const distance = Math.hypot(p[0] - t[0], p[1] - t[1], p[2] - t[2]);
  const q = a.setpoint_quat_xyzw;
  const r = target.quat_xyzw;
  const dot = Math.min(1, Math.abs(q[0] * r[0] + q[1] * r[1] + q[2] * r[2] + q[3] * r[3]));
  return distance <= KEPT_RESUME_MAX_M && 2 * Math.acos(dot) <= KEPT_RESUME_MAX_RAD;
}

export class TeleopSession {
  /**
   * @param {import("./connection.js").GatewayConnection} connection
   * @param {{T_world_rcm: object, camera_arm: string}} geometry
   * @param {object} [configJson] teleop configuration (docs/teleop-spec.md section 10)
   */
  constructor(connection, geometry, configJson) {
    this.connection = connection;
    this.geometry = geometry;
    this.configJson = configJson ?? {};
    this.pipelines = {};
    this.status = {};
    this.held = {}; // arm -> last target, kept following while another arm is driven
    this.seq = 0;
    this.lastEngageMs = {};
    this.supervisorPrev = {};
    this.messagesSent = 0;
    this.inputGaps = 0;
    this.lastSampleS = {};
    this.lastInputGapMs = null; // the length of the last input gap [ms], for diagnostics
  }

  pipeline(arm) {
    if (!(arm in this.pipelines)) this.pipelines[arm] = new TeleopPipeline(this.configJson);
    return this.pipelines[arm];
  }

  /** Change the scaling ratio (a new pipeline config; applies from the next engage). */
  setRatio(ratio) {
    this.configJson = { ...this.configJson, scaling: { ...(this.configJson.scaling ?? {}), ratio } };
    for (const arm of Object.keys(this.pipelines)) {
      this.pipelines[arm] = new TeleopPipeline(this.configJson);
      delete this.held[arm];
    }
  }

  /**
   * The surgeon releases the arms: one CONTROL message with DISENGAGE_REQUEST and each driven
   * arm's current setpoint, then nothing until the next engage. Returns the arms released.
   * @param {(arm: string) => boolean} [holds] the arms this console controls (default: all)
   */
  release(holds = () => true) {
    const state = this.connection.latestState;
    const arms = Object.keys(this.pipelines).filter((arm) => {
      if (!holds(arm)) return false; // another console follows it now: not ours to release
      const s = armOf(state, arm)?.supervisor_state;
      return s === "FOLLOWING" || s === "HOLDING";
    });
    if (arms.length > 0) {
      const targets = arms.map((arm) => {
        const a = armOf(state, arm);
        const camera = arm === this.geometry.camera_arm;
        return this.wireTarget(arm, toolPose(a), camera ? null : a.setpoint_jaw_rad);
      });
      this.seq = nextSeq(this.seq);
      this.connection.sendControl(encodeControl({
        session_id: this.connection.sessionId,
        seq: this.seq,
        sent_time_ns: monoNowNs(),
        flags: ControlFlag.OPERATOR_PRESENT | ControlFlag.DISENGAGE_REQUEST,
        targets,
      }));
    }
    this.reset();
    return arms;
  }

  /** Forget one arm's following period (the next sample re-anchors on its tool). */
  resetArm(arm) {
    if (arm in this.pipelines) this.pipelines[arm].reset();
    delete this.held[arm];
    delete this.lastSampleS[arm];
  }

  /** Stop everything: no more targets until the surgeon engages again. */
  reset() {
    for (const p of Object.values(this.pipelines)) p.reset();
    this.held = {};
    this.lastSampleS = {};
  }

  toolState(arm, state, rttMs) {
    const a = armOf(state, arm);
    const T_world_camera = cameraPose(state, this.geometry);
    if (a === null || T_world_camera === null || !(arm in this.geometry.T_world_rcm)) return null;
    return {
      T_rcm_tip: toolPose(a),
      jaw_rad: a.setpoint_jaw_rad ?? 0,
      T_world_camera,
      T_world_rcm: this.geometry.T_world_rcm[arm],
      rtt_ms: rttMs,
    };
  }

  /** The master orientation that is aligned with the arm's tool as seen through the camera. */
  alignedMasterRotation(arm, state) {
    const tool = this.toolState(arm, state, null);
    if (tool === null) return null;
    const R_rc = rRcmConsole(tool.T_world_camera, tool.T_world_rcm);
    return matmul3(transpose3(R_rc), rotationOf(tool.T_rcm_tip));
  }

  /**
   * One sample of the master for the selected arm: condition it and send one CONTROL message.
   * Returns {sent: boolean, status} for the HUD.
   */
  step(arm, sample, rttMs, nowMs) {
    const state = this.connection.latestState;
    if (state === null) return { sent: false, status: null };
    // A supervisor that dropped the arm (watchdog, latency, e-stop) ends this following period:
    // the next one re-anchors on the tool where it now is.
    for (const a of state.arms) {
      const prev = this.supervisorPrev[a.arm];
      if (prev !== undefined && prev !== "DISENGAGED" && prev !== "ESTOPPED" &&
          (a.supervisor_state === "DISENGAGED" || a.supervisor_state === "ESTOPPED")) {
        this.resetArm(a.arm);
      }
      this.supervisorPrev[a.arm] = a.supervisor_state;
    }
    const tool = this.toolState(arm, state, rttMs);
    if (tool === null) return { sent: false, status: null };
    const out = this.pipeline(arm).step(sample, tool);
    this.status[arm] = out.status;
    // an input gap (> max_input_gap_s, e.g. a stalled page) restarts the filter: the pipeline
    // re-anchors without a jump, and the hand motion made during the gap is not applied
    if (out.status.filter_restarted && out.target !== null && this.lastSampleS[arm] !== undefined) {
      this.inputGaps++;
      this.lastInputGapMs = (sample.timestamp_s - this.lastSampleS[arm]) * 1000;
    }
    this.lastSampleS[arm] = sample.timestamp_s;
    const camera = arm === this.geometry.camera_arm;
    const targets = [];
    let flags = ControlFlag.OPERATOR_PRESENT | (camera ? ControlFlag.CAMERA_CONTROL : 0);
    const supervisor = armOf(state, arm).supervisor_state;
    if (sample.clutch_pressed) {
      // keep the link alive with the current setpoints; the gateway ignores clutched targets
      flags |= ControlFlag.CLUTCH;
      targets.push(this.wireTarget(arm, tool.T_rcm_tip, camera ? null : tool.jaw_rad));
    } else if (out.target !== null) {
      const t = out.target;
      const target = { arm, position_m: t.position_m, quat_xyzw: t.quat_xyzw, jaw_rad: camera ? null : t.jaw_rad };
      targets.push(target);
      this.held[arm] = target;
      if (supervisor !== "FOLLOWING" && supervisor !== "ESTOPPED" &&
          nowMs - (this.lastEngageMs[arm] ?? -Infinity) >= ENGAGE_RETRY_MS) {
        flags |= ControlFlag.ENGAGE_REQUEST;
        this.lastEngageMs[arm] = nowMs;
      }
    }
    // The other arms this console was driving keep their last target. HOLDING too (a stall
    // shorter than the watchdog's disengage), but only where the hold stopped the arm on that
    // target, so resuming does not move an arm nobody is driving. Never in a message that asks
    // for an engage: the gateway applies the request to every target in it, and this console's
    // view of a kept arm may be older than its disengage.
    if (!sample.clutch_pressed && !(flags & ControlFlag.ENGAGE_REQUEST)) {
      for (const [other, target] of Object.entries(this.held)) {
        const a = other === arm ? null : armOf(state, other);
        if (a?.supervisor_state === "FOLLOWING" || (a?.supervisor_state === "HOLDING" && heldOnTarget(a, target))) {
          targets.push(target);
        }
      }
    }
    if (targets.length === 0) return { sent: false, status: out.status };
    this.seq = nextSeq(this.seq);
    const sent = this.connection.sendControl(
      encodeControl({ session_id: this.connection.sessionId, seq: this.seq, sent_time_ns: monoNowNs(), flags, targets }),
    );
    if (sent) this.messagesSent++;
    return { sent, status: out.status };
  }

  wireTarget(arm, T, jaw) {
    const R = rotationOf(T);
    return { arm, position_m: [T[0][3], T[1][3], T[2][3]], quat_xyzw: quatXyzwFromMatrix(R), jaw_rad: jaw };
  }

  following(arm) {
    const state = this.connection.latestState;
    return this.pipeline(arm).state === FollowState.FOLLOWING && armOf(state, arm)?.supervisor_state === "FOLLOWING";
  }
}
