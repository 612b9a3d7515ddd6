// Mouse on the video: left drag moves the hand in the image plane, the wheel moves it along the
// view axis, right drag (or Shift + left drag) rotates it. Deltas accumulate between samples.

/** Master metres per pixel of mouse motion (0.1 mm; at 3:1 scaling the tool moves 1/3 of it). */
export const MOUSE_M_PER_PX = 1e-4;
/** Master metres per wheel line (deltaMode 1) or per 100 px of wheel delta. */
export const WHEEL_M_PER_STEP = 2e-3;
/** Master radians per pixel of rotating drag. */
export const MOUSE_RAD_PER_PX = 0.005;

export class MouseInput {
  constructor(element) {
    this.pending = [0, 0, 0];
    this.pendingRotation = [0, 0, 0];
    this.buttons = 0;
    this.last = null;
    element.addEventListener("pointerdown", (e) => {
      element.setPointerCapture(e.pointerId);
      this.buttons = e.buttons;
      this.rotating = e.button === 2 || e.shiftKey;
      this.last = [e.clientX, e.clientY];
    });
    element.addEventListener("pointermove", (e) => {
      if (this.last === null || e.buttons === 0) return;
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
      for (const ev of events.length ? events : [e]) this.move(ev.clientX, ev.clientY);
    });
    const end = () => {
      this.last = null;
      this.buttons = 0;
    };
    element.addEventListener("pointerup", end);
    element.addEventListener("pointercancel", end);
    element.addEventListener("contextmenu", (e) => e.preventDefault());
    element.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const steps = e.deltaMode === 1 ? e.deltaY : e.deltaY / 100;
        this.pending[2] += steps * WHEEL_M_PER_STEP; // wheel down (toward you) = hand toward surgeon
      },
      { passive: false },
    );
  }

  move(x, y) {
    const dx = x - this.last[0];
    const dy = y - this.last[1];
    this.last = [x, y];
    if (this.rotating) {
      this.pendingRotation[1] += dx * MOUSE_RAD_PER_PX; // yaw about console y
      this.pendingRotation[0] += dy * MOUSE_RAD_PER_PX; // pitch about console x
    } else {
      this.pending[0] += dx * MOUSE_M_PER_PX; // screen right = console +x
      this.pending[1] -= dy * MOUSE_M_PER_PX; // screen down = console -y
    }
  }

  release() {
    this.last = null;
    this.pending = [0, 0, 0];
    this.pendingRotation = [0, 0, 0];
  }

  apply(master) {
    master.translate(this.pending);
    master.rotate(this.pendingRotation);
    this.pending = [0, 0, 0];
    this.pendingRotation = [0, 0, 0];
  }
}
