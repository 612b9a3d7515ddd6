// Gamepad API: standard gamepads and 3D mice exposed as gamepads (6 axes). Polled each sample.

export const DEADZONE = 0.12;
/** Master velocity at full stick [m/s] and angular rate [rad/s]. */
export const STICK_SPEED_MPS = 0.08;
export const STICK_RATE_RADPS = 0.8;

const dz = (v) => (Math.abs(v) < DEADZONE ? 0 : (v - Math.sign(v) * DEADZONE) / (1 - DEADZONE));

/** True for a 3D mouse (3Dconnexion SpaceMouse and alike) exposed through the Gamepad API. */
export function isSpaceMouse(pad) {
  return /3dconnexion|spacemouse|space navigator|spacenavigator|046d:c6|256f:/i.test(pad.id);
}

export class GamepadInput {
  constructor() {
    this.index = null;
    this.id = null;
    this.clutch = false;
    this.lastEngage = false;
  }

  connect(pad) {
    this.index = pad.index;
    this.id = pad.id;
  }

  /** The pad went away: forget it (the console stops motion and says why). */
  disconnect() {
    this.index = null;
    this.clutch = false;
  }

  get connected() {
    return this.index !== null;
  }

  /** True once per press of the engage button (A), polled every sample, engaged or not. */
  pollEngage(pads) {
    const pad = this.index === null ? null : pads[this.index];
    if (!pad || !pad.connected || isSpaceMouse(pad)) return false;
    const pressed = (pad.buttons[0]?.value ?? 0) > 0.5;
    const edge = pressed && !this.lastEngage;
    this.lastEngage = pressed;
    return edge;
  }

  apply(master, dt, pads) {
    if (this.index === null) return;
    const pad = pads[this.index];
    if (!pad || !pad.connected) return;
    const a = pad.axes.map(dz);
    const b = (i) => (pad.buttons[i] ? pad.buttons[i].value : 0);
    const v = [0, 0, 0];
    const w = [0, 0, 0];
    if (isSpaceMouse(pad)) {
      // axes 0..2 translation (x right, y toward the user, z down), 3..5 rotation, same axes
      v[0] = a[0]; v[1] = -(a[2] ?? 0); v[2] = a[1] ?? 0;
      w[0] = a[3] ?? 0; w[1] = -(a[5] ?? 0); w[2] = a[4] ?? 0;
      this.clutch = b(0) > 0.5;
    } else {
      // standard mapping: left stick x/y = hand right/up, right stick y = push in/out,
      // right stick x = roll, d-pad = pitch/yaw, LB = clutch, triggers = jaw, A = engage
      v[0] = a[0]; v[1] = -a[1]; v[2] = a[3] ?? 0;
      w[2] = -(a[2] ?? 0);
      w[0] = b(13) - b(12);
      w[1] = b(14) - b(15);
      this.clutch = b(4) > 0.5;
      const jaw = b(6) - b(7); // LT opens, RT closes
      if (jaw !== 0) master.setJaw(master.jawRad + jaw * 1.5 * dt);
    }
    master.translate(v.map((x) => x * STICK_SPEED_MPS * dt));
    master.rotate(w.map((x) => x * STICK_RATE_RADPS * dt));
  }
}
