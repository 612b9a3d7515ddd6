// Alarms: one banner (the most severe active alarm, with the others counted) and a WebAudio
// beep whose pattern says the severity. No sound files.

export const Severity = Object.freeze({ INFO: 0, WARNING: 1, CRITICAL: 2 });

export class Alarms {
  /** @param {HTMLElement} banner */
  constructor(banner) {
    this.banner = banner;
    this.active = new Map(); // key -> {severity, text, sinceMs}
    this.audio = null;
    this.muted = false;
    this.lastBeepMs = -Infinity;
    this.history = [];
  }

  raise(key, severity, text) {
    const existing = this.active.get(key);
    if (existing && existing.severity === severity && existing.text === text) return;
    this.active.delete(key); // re-insert: Map order is raise order
    this.active.set(key, { severity, text, sinceMs: performance.now() });
    this.history.push({ key, severity, text, atMs: performance.now() });
    if (this.history.length > 200) this.history.shift();
    if (!existing || existing.severity < severity) this.beep(severity);
    this.render();
  }

  clear(key) {
    if (this.active.delete(key)) this.render();
  }

  has(key) {
    return this.active.has(key);
  }

  top() {
    let best = null;
    // the most severe; among equals the most recent
    for (const a of this.active.values()) if (best === null || a.severity >= best.severity) best = a;
    return best;
  }

  render() {
    const top = this.top();
    if (top === null) {
      this.banner.hidden = true;
      this.banner.className = "banner";
      return;
    }
    this.banner.hidden = false;
    this.banner.className = `banner ${top.severity === Severity.CRITICAL ? "critical" : top.severity === Severity.WARNING ? "warning" : "info"}`;
    const others = [...this.active.values()].filter((a) => a !== top).reverse();
    this.banner.replaceChildren(document.createTextNode(top.text));
    for (const a of others.slice(0, 2)) {
      const line = document.createElement("small");
      line.textContent = a.text;
      this.banner.append(line);
    }
    if (others.length > 2) {
      const more = document.createElement("small");
      more.textContent = `+${others.length - 2} more`;
      this.banner.append(more);
    }
  }

  beep(severity) {
    if (this.muted || severity === Severity.INFO) return;
    const now = performance.now();
    if (now - this.lastBeepMs < 300) return;
    this.lastBeepMs = now;
    try {
      this.audio = this.audio ?? new AudioContext();
      const ctx = this.audio;
      const pulses = severity === Severity.CRITICAL ? 3 : 1;
      for (let i = 0; i < pulses; i++) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        const t = ctx.currentTime + i * 0.18;
        osc.frequency.value = severity === Severity.CRITICAL ? 988 : 660;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.3, t + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.14);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t);
        osc.stop(t + 0.15);
      }
    } catch {
      /* no audio device: the banner still shows */
    }
  }
}
