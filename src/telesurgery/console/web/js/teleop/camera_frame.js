// Camera-frame mapping (docs/teleop-spec.md section 6): console vectors to the arm's RCM frame.
import { checkPose, matmul3, rotationOf, transpose3 } from "./so3.js";

/** R_rcm_console = R_world_rcm^T R_world_camera with columns 1 and 2 negated. */
export function rRcmConsole(T_world_camera, T_world_rcm) {
  checkPose(T_world_camera, "T_world_camera");
  checkPose(T_world_rcm, "T_world_rcm");
  const R = matmul3(transpose3(rotationOf(T_world_rcm)), rotationOf(T_world_camera));
  for (let i = 0; i < 3; i++) {
    R[i][1] = -R[i][1];
    R[i][2] = -R[i][2];
  }
  return R;
}

/** True when all nine elements are exactly equal. */
export function sameRotation(A, B) {
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) if (A[i][j] !== B[i][j]) return false;
  }
  return true;
}
