// Rotations and 3x3 products in the exact evaluation order of docs/teleop-spec.md sections 1 and 3.
// Matrices are arrays of rows: R[row][col]. Poses T are 4x4 arrays of rows.

/** An input that the pipeline rejects (the Python side raises InvalidCommand). */
export class InvalidCommand extends Error {
  constructor(message) {
    super(message);
    this.name = "InvalidCommand";
  }
}

export const ROTATION_TOLERANCE = 1e-6;

/** matmul3(A, B)[i][j] = A[i][0]*B[0][j] + A[i][1]*B[1][j] + A[i][2]*B[2][j] (left to right). */
export function matmul3(A, B) {
  const out = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      out[i][j] = A[i][0] * B[0][j] + A[i][1] * B[1][j] + A[i][2] * B[2][j];
    }
  }
  return out;
}

/** matvec3(A, v)[i] = A[i][0]*v[0] + A[i][1]*v[1] + A[i][2]*v[2]. */
export function matvec3(A, v) {
  return [0, 1, 2].map((i) => A[i][0] * v[0] + A[i][1] * v[1] + A[i][2] * v[2]);
}

/** Exact transpose of a 3x3 (or the rotation block of a 4x4). */
export function transpose3(A) {
  return [
    [A[0][0], A[1][0], A[2][0]],
    [A[0][1], A[1][1], A[2][1]],
    [A[0][2], A[1][2], A[2][2]],
  ];
}

/** The rotation block R of a pose T. */
export function rotationOf(T) {
  return [T[0].slice(0, 3), T[1].slice(0, 3), T[2].slice(0, 3)];
}

/** The translation p of a pose T. */
export function positionOf(T) {
  return [T[0][3], T[1][3], T[2][3]];
}

/** A pose from a rotation R and a position p. */
export function pose(R, p) {
  return [
    [R[0][0], R[0][1], R[0][2], p[0]],
    [R[1][0], R[1][1], R[1][2], p[1]],
    [R[2][0], R[2][1], R[2][2], p[2]],
    [0, 0, 0, 1],
  ];
}

/** Product of two 4x4 poses (rigid transforms). */
export function matmul4(A, B) {
  const R = matmul3(rotationOf(A), rotationOf(B));
  const t = matvec3(rotationOf(A), positionOf(B));
  return pose(R, [t[0] + A[0][3], t[1] + A[1][3], t[2] + A[2][3]]);
}

/** Check a rigid pose (section 3): finite, last row [0,0,0,1], rotation within 1e-6. */
export function checkPose(T, name) {
  if (!Array.isArray(T) || T.length !== 4 || T.some((row) => !Array.isArray(row) || row.length !== 4)) {
    throw new InvalidCommand(`${name} must be a 4x4 array of rows`);
  }
  for (const row of T) {
    for (const v of row) {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new InvalidCommand(`${name} must be finite, got ${JSON.stringify(T)}`);
      }
    }
  }
  const last = T[3];
  if (last[0] !== 0 || last[1] !== 0 || last[2] !== 0 || last[3] !== 1) {
    throw new InvalidCommand(`${name} last row must be [0, 0, 0, 1], got ${JSON.stringify(last)}`);
  }
  checkRotation(T, `${name}[:3, :3]`);
  return T;
}

/** Check the rotation block of R (3x3 or 4x4). */
export function checkRotation(R, name) {
  const columns = [0, 1, 2].map((j) => [R[0][j], R[1][j], R[2][j]]);
  let orthonormality = 0;
  for (let i = 0; i < 3; i++) {
    for (let j = i; j < 3; j++) {
      const a = columns[i];
      const b = columns[j];
      const dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
      orthonormality = Math.max(orthonormality, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  const [r00, r01, r02] = R[0];
  const [r10, r11, r12] = R[1];
  const [r20, r21, r22] = R[2];
  const det =
    r00 * (r11 * r22 - r12 * r21) - r01 * (r10 * r22 - r12 * r20) + r02 * (r10 * r21 - r11 * r20);
  if (!(orthonormality <= ROTATION_TOLERANCE) || !(Math.abs(det - 1) <= ROTATION_TOLERANCE)) {
    throw new InvalidCommand(
      `${name} is not a rotation: max|R^T R - I| = ${orthonormality.toPrecision(3)}, ` +
        `det = ${det}; valid is orthonormal with det +1 within ${ROTATION_TOLERANCE}`,
    );
  }
}

/** Shepperd's method (section 3), scalar-last, w >= 0. */
export function quatXyzwFromMatrix(R) {
  const [r00, r01, r02] = R[0];
  const [r10, r11, r12] = R[1];
  const [r20, r21, r22] = R[2];
  const t = r00 + r11 + r22;
  let q;
  if (t >= r00 && t >= r11 && t >= r22) {
    const s = 2 * Math.sqrt(1 + t);
    q = [(r21 - r12) / s, (r02 - r20) / s, (r10 - r01) / s, 0.25 * s];
  } else if (r00 >= r11 && r00 >= r22) {
    const s = 2 * Math.sqrt(1 + r00 - r11 - r22);
    q = [0.25 * s, (r01 + r10) / s, (r02 + r20) / s, (r21 - r12) / s];
  } else if (r11 >= r22) {
    const s = 2 * Math.sqrt(1 + r11 - r00 - r22);
    q = [(r01 + r10) / s, 0.25 * s, (r12 + r21) / s, (r02 - r20) / s];
  } else {
    const s = 2 * Math.sqrt(1 + r22 - r00 - r11);
    q = [(r02 + r20) / s, (r12 + r21) / s, 0.25 * s, (r10 - r01) / s];
  }
  const n = Math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  const sign = q[3] < 0 ? -1 : 1;
  return [(sign * q[0]) / n, (sign * q[1]) / n, (sign * q[2]) / n, (sign * q[3]) / n];
}

/** angle(R) = 2 atan2(|xyz|, w) of quat_xyzw(R), in [0, pi]. */
export function rotationAngleRad(R) {
  const [x, y, z, w] = quatXyzwFromMatrix(R);
  return 2 * Math.atan2(Math.sqrt(x * x + y * y + z * z), w);
}

/** Rotation matrix of a unit quaternion (x, y, z, w); normalised first. */
export function matrixFromQuatXyzw(q) {
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  const x = q[0] / n;
  const y = q[1] / n;
  const z = q[2] / n;
  const w = q[3] / n;
  return [
    [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
  ];
}

/** Rotation of angle [rad] about a unit axis (Rodrigues). */
export function axisAngle(axis, angleRad) {
  const half = angleRad / 2;
  const s = Math.sin(half);
  return matrixFromQuatXyzw([axis[0] * s, axis[1] * s, axis[2] * s, Math.cos(half)]);
}

/** Re-orthonormalise a rotation that accumulated rounding (Gram-Schmidt on the columns). */
export function orthonormalize(R) {
  const c0 = [R[0][0], R[1][0], R[2][0]];
  const c1 = [R[0][1], R[1][1], R[2][1]];
  const norm = (v) => {
    const n = Math.hypot(v[0], v[1], v[2]);
    return [v[0] / n, v[1] / n, v[2] / n];
  };
  const x = norm(c0);
  const d = x[0] * c1[0] + x[1] * c1[1] + x[2] * c1[2];
  const y = norm([c1[0] - d * x[0], c1[1] - d * x[1], c1[2] - d * x[2]]);
  const z = [x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]];
  return [
    [x[0], y[0], z[0]],
    [x[1], y[1], z[1]],
    [x[2], y[2], z[2]],
  ];
}
