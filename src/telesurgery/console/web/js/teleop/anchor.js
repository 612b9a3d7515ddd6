// Relative mapping and anchors (docs/teleop-spec.md section 7).
import { matmul3, matvec3, positionOf, rotationOf, transpose3 } from "./so3.js";
import { sameRotation } from "./camera_frame.js";

/** Anchor following at this sample: the tool stays where it is. */
export function anchorAt(p, R_m, T_rcm_tip, R_rc, scale) {
  return {
    p_a: p.slice(),
    p_tip_a: positionOf(T_rcm_tip),
    R_rc_a: R_rc,
    R_mt_a: matmul3(matmul3(transpose3(R_m), transpose3(R_rc)), rotationOf(T_rcm_tip)),
    scale_a: scale,
  };
}

export function mapPosition(anchor, p) {
  const d = [p[0] - anchor.p_a[0], p[1] - anchor.p_a[1], p[2] - anchor.p_a[2]];
  const v = matvec3(anchor.R_rc_a, d);
  return [0, 1, 2].map((k) => anchor.p_tip_a[k] + anchor.scale_a * v[k]);
}

export function mapRotation(anchor, R_m) {
  return matmul3(matmul3(anchor.R_rc_a, R_m), anchor.R_mt_a);
}

/** The mapping changed (scale, camera, RCM): re-anchor without a jump. */
export function reanchor(anchor, p, R_m, R_rc, scale) {
  const pTip = mapPosition(anchor, p);
  const R_mt = sameRotation(R_rc, anchor.R_rc_a)
    ? anchor.R_mt_a
    : matmul3(matmul3(transpose3(R_m), transpose3(R_rc)), mapRotation(anchor, R_m));
  return { p_a: p.slice(), p_tip_a: pTip, R_rc_a: R_rc, R_mt_a: R_mt, scale_a: scale };
}
