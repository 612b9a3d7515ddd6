// Wire protocol version 1 (docs/protocol.md): encode CONTROL / PING / PONG, decode ROBOT_STATE /
// PING / PONG. Big-endian everywhere; float32 fields; int64 timestamps as BigInt nanoseconds.

export const PROTOCOL_VERSION = 1;
export const MAX_MESSAGE_BYTES = 1200;
export const MessageType = Object.freeze({ CONTROL: 1, ROBOT_STATE: 2, PING: 3, PONG: 4, EVENT: 5, LATENCY_REPORT: 6 });
export const ArmId = Object.freeze({ PSM1: 1, PSM2: 2, ECM: 3 });
export const ARM_NAMES = Object.freeze({ 1: "PSM1", 2: "PSM2", 3: "ECM" });
export const ControlFlag = Object.freeze({
  CLUTCH: 1 << 0,
  ENGAGE_REQUEST: 1 << 1,
  DISENGAGE_REQUEST: 1 << 2,
  CAMERA_CONTROL: 1 << 3,
  OPERATOR_PRESENT: 1 << 4,
});
export const OPERATING_STATES = Object.freeze(["DISABLED", "ENABLED", "PAUSED", "FAULT"]);
export const SUPERVISOR_STATES = Object.freeze(["DISENGAGED", "FOLLOWING", "HOLDING", "ESTOPPED"]);
const HEADER = 6;
const TARGET = 34;
const ARM_ENTRY = 76;
const U32 = 2 ** 32;

/** A message that breaks the protocol: says what was wrong and what is valid. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}

function header(view, type, length) {
  view.setUint8(0, 0x54);
  view.setUint8(1, 0x53);
  view.setUint8(2, PROTOCOL_VERSION);
  view.setUint8(3, type);
  view.setUint16(4, length);
}

function finite32(view, offset, value, what) {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ProtocolError(`${what} must be a finite number, got ${value}`);
  }
  view.setFloat32(offset, value);
}

/**
 * CONTROL: {session_id, seq, sent_time_ns: BigInt, flags, targets: [{arm, position_m, quat_xyzw,
 * jaw_rad | null}]} -> ArrayBuffer (26 + 34 n bytes).
 */
export function encodeControl(message) {
  const n = message.targets.length;
  if (n < 1 || n > 3) throw new ProtocolError(`a CONTROL message carries 1..3 targets, got ${n}`);
  const length = 26 + TARGET * n;
  const buffer = new ArrayBuffer(length);
  const view = new DataView(buffer);
  header(view, MessageType.CONTROL, length);
  view.setUint32(6, message.session_id >>> 0);
  view.setUint32(10, message.seq >>> 0);
  view.setBigInt64(14, BigInt(message.sent_time_ns));
  view.setUint16(22, message.flags);
  view.setUint8(24, n);
  view.setUint8(25, 0);
  const seen = new Set();
  message.targets.forEach((target, k) => {
    const o = 26 + TARGET * k;
    const code = typeof target.arm === "string" ? ArmId[target.arm] : target.arm;
    if (!(code in ARM_NAMES)) throw new ProtocolError(`unknown arm ${target.arm}; valid are PSM1, PSM2, ECM`);
    if (seen.has(code)) throw new ProtocolError(`arm ${ARM_NAMES[code]} appears twice; each arm at most once`);
    seen.add(code);
    const q = target.quat_xyzw;
    const norm = Math.hypot(q[0], q[1], q[2], q[3]);
    if (!(Math.abs(norm - 1) <= 0.001)) throw new ProtocolError(`quaternion norm ${norm}; valid is 1 +- 0.001`);
    const hasJaw = target.jaw_rad !== null && target.jaw_rad !== undefined;
    view.setUint8(o, code);
    view.setUint8(o + 1, hasJaw ? 1 : 0);
    for (let i = 0; i < 3; i++) finite32(view, o + 2 + 4 * i, target.position_m[i], "position_m");
    for (let i = 0; i < 4; i++) finite32(view, o + 14 + 4 * i, q[i], "quat_xyzw");
    finite32(view, o + 30, hasJaw ? target.jaw_rad : 0, "jaw_rad");
  });
  return buffer;
}

/** PING: 18 bytes. */
export function encodePing(pingId, t0Ns) {
  const buffer = new ArrayBuffer(18);
  const view = new DataView(buffer);
  header(view, MessageType.PING, 18);
  view.setUint32(6, pingId >>> 0);
  view.setBigInt64(10, BigInt(t0Ns));
  return buffer;
}

/** PONG: 34 bytes. */
export function encodePong(pingId, t0Ns, t1Ns, t2Ns) {
  const buffer = new ArrayBuffer(34);
  const view = new DataView(buffer);
  header(view, MessageType.PONG, 34);
  view.setUint32(6, pingId >>> 0);
  view.setBigInt64(10, BigInt(t0Ns));
  view.setBigInt64(18, BigInt(t1Ns));
  view.setBigInt64(26, BigInt(t2Ns));
  return buffer;
}

function readVec(view, offset, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const v = view.getFloat32(offset + 4 * i);
    if (!Number.isFinite(v)) throw new ProtocolError(`non-finite float at byte ${offset + 4 * i}; every float must be finite`);
    out.push(v);
  }
  return out;
}

function expectLength(actual, expected, what) {
  if (actual !== expected) throw new ProtocolError(`${what} must be ${expected} bytes, got ${actual}`);
}

/**
 * Decode one datagram (ArrayBuffer or typed array) into {type: "ROBOT_STATE" | "PING" | "PONG"
 * | "CONTROL", ...}; throws ProtocolError for anything malformed.
 */
export function decode(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.byteLength;
  if (size < HEADER) throw new ProtocolError(`message of ${size} bytes is shorter than the 6-byte header`);
  if (size > MAX_MESSAGE_BYTES) throw new ProtocolError(`message of ${size} bytes; at most ${MAX_MESSAGE_BYTES}`);
  if (bytes[0] !== 0x54 || bytes[1] !== 0x53) throw new ProtocolError('bad magic; valid is "TS" (54 53)');
  if (bytes[2] !== PROTOCOL_VERSION) {
    throw new ProtocolError(`unsupported protocol version ${bytes[2]}: this peer speaks version ${PROTOCOL_VERSION}`);
  }
  const length = view.getUint16(4);
  expectLength(size, length, "the datagram (header length)");
  const type = bytes[3];
  if (type === MessageType.PING) {
    expectLength(size, 18, "PING");
    return { type: "PING", ping_id: view.getUint32(6), t0_ns: view.getBigInt64(10) };
  }
  if (type === MessageType.PONG) {
    expectLength(size, 34, "PONG");
    return {
      type: "PONG",
      ping_id: view.getUint32(6),
      t0_ns: view.getBigInt64(10),
      t1_ns: view.getBigInt64(18),
      t2_ns: view.getBigInt64(26),
    };
  }
  if (type === MessageType.ROBOT_STATE) {
    if (size < 20) throw new ProtocolError(`ROBOT_STATE of ${size} bytes; at least 20 + 76 n`);
    const n = bytes[18];
    if (n < 1 || n > 3) throw new ProtocolError(`ROBOT_STATE with ${n} arms; valid is 1..3`);
    if (bytes[19] !== 0) throw new ProtocolError("reserved byte 19 must be 0");
    expectLength(size, 20 + ARM_ENTRY * n, `ROBOT_STATE with ${n} arms`);
    const arms = [];
    const seen = new Set();
    for (let k = 0; k < n; k++) {
      const o = 20 + ARM_ENTRY * k;
      const code = bytes[o];
      if (!(code in ARM_NAMES)) throw new ProtocolError(`unknown arm code ${code}; valid are 1 PSM1, 2 PSM2, 3 ECM`);
      if (seen.has(code)) throw new ProtocolError(`arm ${ARM_NAMES[code]} appears twice`);
      seen.add(code);
      const op = bytes[o + 1];
      const sup = bytes[o + 2];
      const flags = bytes[o + 3];
      if (op >= OPERATING_STATES.length) throw new ProtocolError(`operating state ${op}; valid are 0..3`);
      if (sup >= SUPERVISOR_STATES.length) throw new ProtocolError(`supervisor state ${sup}; valid are 0..3`);
      if (flags & ~0x0f) throw new ProtocolError(`undefined arm flag bits in 0x${flags.toString(16)}`);
      const hasJaw = (flags & 4) !== 0;
      const hasCommand = (flags & 8) !== 0;
      arms.push({
        arm: ARM_NAMES[code],
        operating_state: OPERATING_STATES[op],
        supervisor_state: SUPERVISOR_STATES[sup],
        is_homed: (flags & 1) !== 0,
        is_busy: (flags & 2) !== 0,
        measured_position_m: readVec(view, o + 4, 3),
        measured_quat_xyzw: readVec(view, o + 16, 4),
        setpoint_position_m: readVec(view, o + 32, 3),
        setpoint_quat_xyzw: readVec(view, o + 44, 4),
        measured_jaw_rad: hasJaw ? view.getFloat32(o + 60) : null,
        setpoint_jaw_rad: hasJaw ? view.getFloat32(o + 64) : null,
        last_command_seq: hasCommand ? view.getUint32(o + 68) : null,
        last_command_age_us: hasCommand ? view.getUint32(o + 72) : null,
      });
    }
    return { type: "ROBOT_STATE", seq: view.getUint32(6), gateway_time_ns: view.getBigInt64(10), arms };
  }
  if (type === MessageType.CONTROL) {
    const n = bytes[24];
    if (n < 1 || n > 3) throw new ProtocolError(`CONTROL with ${n} targets; valid is 1..3`);
    expectLength(size, 26 + TARGET * n, `CONTROL with ${n} targets`);
    const targets = [];
    for (let k = 0; k < n; k++) {
      const o = 26 + TARGET * k;
      const hasJaw = (bytes[o + 1] & 1) !== 0;
      targets.push({
        arm: ARM_NAMES[bytes[o]],
        position_m: readVec(view, o + 2, 3),
        quat_xyzw: readVec(view, o + 14, 4),
        jaw_rad: hasJaw ? view.getFloat32(o + 30) : null,
      });
    }
    return {
      type: "CONTROL",
      session_id: view.getUint32(6),
      seq: view.getUint32(10),
      sent_time_ns: view.getBigInt64(14),
      flags: view.getUint16(22),
      targets,
    };
  }
  throw new ProtocolError(`message type ${type} is not handled by the console; valid are 1..4 on the control channel`);
}

/** Next u32 sequence number. */
export function nextSeq(seq) {
  return (seq + 1) % U32;
}
