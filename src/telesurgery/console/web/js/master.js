// The virtual master: input devices integrate a hand pose T_console_master (console frame: x to
// the surgeon's right, y up, z toward the surgeon) and a gripper angle, sampled at a fixed rate.
import { axisAngle, matmul3, orthonormalize, pose } from "./teleop/so3.js";

/** Where the virtual hand starts [m] (any point works: the mapping is relative). */
export const MASTER_HOME_M = Object.freeze([0, 0, 0.35]);

export class VirtualMaster {
  constructor() {
    this.position = MASTER_HOME_M.slice();
    this.R = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    this.jawRad = 0.5;
    this.rotations = 0;
  }

  /** Move by a console-frame displacement [m]. */
  translate(d) {
    for (let k = 0; k < 3; k++) this.position[k] += d[k];
  }

  /** Rotate by a console-frame rotation vector [rad] (applied in the console frame). */
  rotate(omega) {
    const angle = Math.hypot(omega[0], omega[1], omega[2]);
    if (angle === 0) return;
    const axis = omega.map((v) => v / angle);
    this.R = matmul3(axisAngle(axis, angle), this.R);
    if (++this.rotations % 100 === 0) this.R = orthonormalize(this.R);
  }

  /** Set the gripper angle [rad], clamped to the jaw range the pipeline accepts. */
  setJaw(jawRad) {
    this.jawRad = Math.min(Math.max(jawRad, -0.698132), 1.39626);
  }

  /** Align the hand's orientation (motorised masters do this before engaging). */
  alignRotation(R) {
    this.R = orthonormalize(R);
  }

  pose() {
    return pose(this.R, this.position);
  }
}
