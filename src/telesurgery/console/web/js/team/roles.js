// What each role may do in the console (mirrors telesurgery.operation.authorization.POLICY; the
// gateway enforces it for every message, the console only hides what would be refused).

export const ROLES = Object.freeze(["bedside", "lead", "consultant", "observer", "admin"]);

/**
 * @typedef {object} Capabilities
 * @property {boolean} drive may hold an arm and send control (engage, clutch, motion)
 * @property {boolean} estop may latch the emergency stop
 * @property {boolean} clearEstop may clear a latched emergency stop
 * @property {boolean} request may ask the holder of an arm for it
 * @property {boolean} take may take any arm at once
 * @property {boolean} reassign may give any arm (not held by the bedside) to a surgeon console
 * @property {boolean} draw may draw telestration strokes
 * @property {boolean} clearAll may clear everyone's strokes (others clear their own)
 * @property {boolean} chat may write in the team chat (everyone reads it)
 */

const NONE = Object.freeze({
  drive: false, estop: false, clearEstop: false, request: false, take: false, reassign: false,
  draw: false, clearAll: false, chat: false,
});

/** @type {Readonly<Record<string, Capabilities>>} */
export const CAPABILITIES = Object.freeze({
  bedside: Object.freeze({ ...NONE, drive: true, estop: true, clearEstop: true, take: true, draw: true, clearAll: true, chat: true }),
  lead: Object.freeze({ ...NONE, drive: true, estop: true, request: true, reassign: true, draw: true, clearAll: true, chat: true }),
  consultant: Object.freeze({ ...NONE, drive: true, estop: true, request: true, draw: true, chat: true }),
  observer: NONE,
  admin: Object.freeze({ ...NONE, estop: true, chat: true }),
});

/** The capabilities of `role`; an unknown role names the valid ones. */
export function capabilitiesOf(role) {
  const caps = CAPABILITIES[role];
  if (caps === undefined) throw new Error(`unknown role ${JSON.stringify(role)}: valid are ${ROLES.join(", ")}`);
  return caps;
}

/** True for the roles that may hold an arm (the targets of a reassign). */
export function maySurgeon(role) {
  return role === "bedside" || role === "lead" || role === "consultant";
}
