// A fixed-rate loop for the page. Chrome clamps chained setTimeout calls to >= 4 ms after five
// levels of nesting; a timeout armed from a MessageChannel task is not nested, so re-arming it
// from a message keeps 1-2 ms periods without busy-waiting.

export class Ticker {
  /**
   * @param {number} periodMs period [ms]
   * @param {(nowMs: number) => void} callback called once per period with performance.now()
   */
  constructor(periodMs, callback) {
    this.periodMs = periodMs;
    this.callback = callback;
    this.channel = new MessageChannel();
    this.timer = null;
    this.running = false;
    this.next = 0;
    this.channel.port1.onmessage = () => {
      if (!this.running) return;
      this.next += this.periodMs;
      const now = performance.now();
      if (this.next < now - 50) this.next = now; // after a stall (background tab), no burst
      this.timer = setTimeout(() => this.fire(), Math.max(0, this.next - now));
    };
  }

  start() {
    this.running = true;
    this.next = performance.now();
    this.fire();
  }

  fire() {
    if (!this.running) return;
    try {
      this.callback(performance.now());
    } finally {
      this.channel.port2.postMessage(0);
    }
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.channel.port1.onmessage = null;
  }
}
