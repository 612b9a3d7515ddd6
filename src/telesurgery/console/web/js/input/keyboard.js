// Keyboard: held keys are velocities of the virtual master (documented in docs/console.md).

/** Console-frame translation direction per key (x right, y up, z toward the surgeon). */
export const TRANSLATION_KEYS = Object.freeze({
  KeyD: [1, 0, 0], KeyA: [-1, 0, 0], ArrowRight: [1, 0, 0], ArrowLeft: [-1, 0, 0],
  KeyR: [0, 1, 0], KeyF: [0, -1, 0], ArrowUp: [0, 1, 0], ArrowDown: [0, -1, 0],
  KeyW: [0, 0, -1], KeyS: [0, 0, 1],
});
/** Console-frame rotation axis per key. */
export const ROTATION_KEYS = Object.freeze({
  KeyI: [-1, 0, 0], KeyK: [1, 0, 0], // pitch the tool tip down / up on screen
  KeyJ: [0, 1, 0], KeyL: [0, -1, 0], // yaw left / right
  KeyU: [0, 0, 1], KeyO: [0, 0, -1], // roll counter-clockwise / clockwise
});
export const JAW_KEYS = Object.freeze({ KeyQ: -1, KeyE: 1 }); // close / open

export class KeyboardInput {
  constructor({ speedMps = 0.06, rateRadps = 0.6, jawRadps = 1.5 } = {}) {
    this.speedMps = speedMps;
    this.rateRadps = rateRadps;
    this.jawRadps = jawRadps;
    this.down = new Set();
  }

  keydown(code) {
    this.down.add(code);
  }

  keyup(code) {
    this.down.delete(code);
  }

  /** Forget held keys (focus lost: key-up events will not come). */
  release() {
    this.down.clear();
  }

  get clutch() {
    return this.down.has("Space");
  }

  get active() {
    return [...this.down].some((c) => c in TRANSLATION_KEYS || c in ROTATION_KEYS || c in JAW_KEYS);
  }

  /** Integrate dt [s] of held keys into the master. */
  apply(master, dt) {
    const v = [0, 0, 0];
    const w = [0, 0, 0];
    let jaw = 0;
    for (const code of this.down) {
      const t = TRANSLATION_KEYS[code];
      if (t) for (let k = 0; k < 3; k++) v[k] += t[k];
      const r = ROTATION_KEYS[code];
      if (r) for (let k = 0; k < 3; k++) w[k] += r[k];
      if (code in JAW_KEYS) jaw += JAW_KEYS[code];
    }
    master.translate(v.map((x) => x * this.speedMps * dt));
    master.rotate(w.map((x) => x * this.rateRadps * dt));
    if (jaw !== 0) master.setJaw(master.jawRad + jaw * this.jawRadps * dt);
  }
}
