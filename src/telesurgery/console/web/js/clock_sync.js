// Clock synchronisation by ping/pong (mirrors telesurgery.link.clock_sync.ClockSync without the
// drift fit): a window of exchanges, the offset of the minimum-RTT one. All times BigInt ns.

export class ClockSync {
  constructor(windowSamples = 64) {
    this.windowSamples = windowSamples;
    this.samples = [];
    this.nextId = 0;
    this.pending = new Map();
  }

  /** A new ping: returns {ping_id, t0_ns}. */
  ping(nowNs) {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) % 2 ** 32;
    this.pending.set(id, nowNs);
    if (this.pending.size > 4096) this.pending.delete(this.pending.keys().next().value);
    return { ping_id: id, t0_ns: nowNs };
  }

  /** A pong arrived at t3 (local ns): returns the sample {rtt_ns, offset_ns} or null. */
  onPong(pong, t3Ns) {
    const t0 = this.pending.get(pong.ping_id);
    if (t0 === undefined || t0 !== pong.t0_ns) return null;
    this.pending.delete(pong.ping_id);
    const rtt = t3Ns - t0 - (pong.t2_ns - pong.t1_ns);
    if (rtt < 0n) return null;
    const offset = (pong.t1_ns - t0 + (pong.t2_ns - t3Ns)) / 2n;
    const sample = { rtt_ns: rtt, offset_ns: offset, t3_ns: t3Ns };
    this.samples.push(sample);
    if (this.samples.length > this.windowSamples) this.samples.shift();
    return sample;
  }

  /** Remote clock minus local clock [ns] from the minimum-RTT sample, or null before any. */
  offsetNs() {
    let best = null;
    for (const s of this.samples) if (best === null || s.rtt_ns < best.rtt_ns) best = s;
    return best === null ? null : best.offset_ns;
  }
}
