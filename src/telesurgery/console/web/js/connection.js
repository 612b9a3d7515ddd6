// The console's WebRTC connection to a gateway: signalling, the two data channels, clock sync,
// robot state in, control out, and the endoscope video track (mirrors console/client.py).
import { ClockSync } from "./clock_sync.js";
import { PROTOCOL_VERSION, ProtocolError, decode, encodePing, encodePong } from "./protocol.js";
import { Ticker } from "./ticker.js";

/** The console's monotonic clock [ns] as BigInt (performance.now(), the page's time origin). */
export function monoNowNs() {
  return BigInt(Math.round(performance.now() * 1e6));
}

/** Bytes the control channel may hold unsent before new commands are skipped (~8 messages). */
export const MAX_BUFFERED_BYTES = 512;

/** Clock-sync pings per second when neither the page's ping_hz nor the gateway names a rate. */
export const DEFAULT_PING_HZ = 10;

/** The gateway refused or did not answer. */
export class ConnectError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConnectError";
  }
}

/** Order the receiver's codecs: H.264 packetization-mode=1 first (baseline profiles first). */
export function preferH264(codecs) {
  const rank = (c) => {
    if (c.mimeType.toLowerCase() !== "video/h264") return 3;
    const fmtp = c.sdpFmtpLine || "";
    if (!fmtp.includes("packetization-mode=1")) return 2;
    return /profile-level-id=42(e0|00)1f/.test(fmtp) ? 0 : 1;
  };
  return [...codecs].sort((a, b) => rank(a) - rank(b));
}

class Window {
  constructor(size) {
    this.size = size;
    this.values = [];
  }

  push(v) {
    this.values.push(v);
    if (this.values.length > this.size) this.values.shift();
  }

  percentile(p) {
    if (this.values.length === 0) return null;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
}
export { Window as SampleWindow };

/**
 * The ping rate the gateway's answer asks for [Hz] (its ping_interval_ms: 100 ms for a console that
 * may operate, 1 s for an observer by default); 10 Hz from a gateway that names none.
 */
export function answeredPingHz(answer) {
  const ms = answer?.ping_interval_ms;
  if (ms === undefined || ms === null) return DEFAULT_PING_HZ;
  if (typeof ms !== "number" || !(ms >= 10 && ms <= 10000)) {
    throw new ConnectError(`the gateway's answer has ping_interval_ms=${JSON.stringify(ms)}: expected a number of milliseconds in 10..10000`);
  }
  return 1000 / ms;
}

export class GatewayConnection extends EventTarget {
  /**
   * @param {{baseUrl: string, consoleId: string, role: string, pingHz: number | null, token?: string | null}} options
   *   pingHz: clock-sync pings per second; null: the rate the gateway's answer asks for
   *   token: the invitation token (the gateway takes the console's role from it)
   */
  constructor(options) {
    super();
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.consoleId = options.consoleId;
    this.role = options.role;
    this.pingHz = options.pingHz ?? null;
    this.token = options.token ?? null;
    this.beforeOffer = options.beforeOffer ?? null; // (pc) => void: more m-lines (voice.js)
    this.clock = new ClockSync();
    this.pc = null;
    this.control = null;
    this.events = null;
    this.answer = null;
    this.sessionId = null;
    this.gatewayWallMinusMonoNs = 0n;
    this.latestState = null;
    this.latestStateAtMs = null;
    this.statesReceived = 0;
    this.protocolErrors = 0;
    this.pingsAnswered = 0;
    this.controlSent = 0;
    this.controlSkipped = 0;
    this.rttMs = new Window(2000);
    this.lastRttMs = null;
    this.videoTrack = null;
    this.receiver = null;
    this.pinger = null;
  }

  /** Offer, exchange SDP, wait for both channels and a first clock sample. */
  async connect(timeoutMs = 15000) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    this.control = pc.createDataChannel("control", { ordered: false, maxRetransmits: 0 });
    this.control.binaryType = "arraybuffer";
    this.events = pc.createDataChannel("events", { ordered: true });
    this.control.onmessage = (e) => this.onControl(e.data);
    this.events.onmessage = (e) => this.onEvent(e.data);
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    const caps = RTCRtpReceiver.getCapabilities("video");
    if (caps && transceiver.setCodecPreferences) transceiver.setCodecPreferences(preferH264(caps.codecs));
    this.receiver = transceiver.receiver;
    pc.ontrack = (e) => {
      if (e.track.kind !== "video") return;
      this.videoTrack = e.track;
      this.lowLatency(e.receiver);
      this.dispatchEvent(new CustomEvent("track", { detail: e.track }));
    };
    pc.onconnectionstatechange = () => {
      this.dispatchEvent(new CustomEvent("connectionstate", { detail: pc.connectionState }));
    };
    this.control.onclose = () => this.dispatchEvent(new CustomEvent("closed", { detail: "control channel closed" }));
    if (this.beforeOffer !== null) await this.beforeOffer(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await this.iceGatheringComplete(3000);
    let response;
    try {
      response = await fetch(`${this.baseUrl}/api/offer`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          sdp: pc.localDescription.sdp,
          type: "offer",
          console_id: this.consoleId,
          role: this.role,
          protocol_version: PROTOCOL_VERSION,
          ...(this.token === null ? {} : { token: this.token }),
        }),
      });
    } catch (error) {
      pc.close();
      throw new ConnectError(`cannot reach the gateway at ${this.baseUrl}: ${error.message}`);
    }
    const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}, body is not JSON` }));
    if (!response.ok) {
      pc.close();
      const code = typeof answer.reason === "string" ? `, ${answer.reason}` : ""; // e.g. 403, expired
      throw new ConnectError(`gateway refused the connection (${response.status}${code}): ${answer.error ?? JSON.stringify(answer)}`);
    }
    if (answer.protocol_version !== PROTOCOL_VERSION) {
      pc.close();
      throw new ConnectError(`gateway speaks protocol ${answer.protocol_version}; this console speaks ${PROTOCOL_VERSION}`);
    }
    try {
      this.pingHz ??= answeredPingHz(answer);
    } catch (error) {
      pc.close();
      throw error;
    }
    this.answer = answer;
    this.sessionId = answer.session_id;
    this.gatewayWallMinusMonoNs = BigInt(answer.gateway_wall_minus_mono_ns);
    await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
    this.lowLatency(this.receiver);
    const deadline = performance.now() + timeoutMs;
    while (this.control.readyState !== "open" || this.events.readyState !== "open") {
      if (performance.now() > deadline) {
        this.close();
        throw new ConnectError(`data channels did not open within ${timeoutMs} ms (ICE: ${pc.iceConnectionState})`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    this.startPings();
    while (this.clock.offsetNs() === null && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return answer;
  }

  lowLatency(receiver) {
    if (!receiver) return;
    try {
      receiver.jitterBufferTarget = 0;
    } catch {
      /* older browsers: playoutDelayHint below */
    }
    if ("playoutDelayHint" in receiver) receiver.playoutDelayHint = 0;
  }

  iceGatheringComplete(timeoutMs) {
    const pc = this.pc;
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, timeoutMs); // host candidates are enough on a LAN
    });
  }

  /** Ping the gateway at pingHz on the control channel (its own RTT display, clock offset). */
  startPings() {
    this.pinger = new Ticker(1000 / this.pingHz, () => this.ping());
    this.pinger.start();
  }

  ping() {
    if (this.control && this.control.readyState === "open" && this.control.bufferedAmount <= MAX_BUFFERED_BYTES) {
      const p = this.clock.ping(monoNowNs());
      this.control.send(encodePing(p.ping_id, p.t0_ns));
    }
  }

  onControl(data) {
    const receivedNs = monoNowNs();
    if (typeof data === "string") {
      this.protocolErrors++;
      return;
    }
    let message;
    try {
      message = decode(data);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.protocolErrors++;
      return;
    }
    if (message.type === "PING") {
      // The gateway maps our timestamps with this exchange: answer at once, on our clock.
      this.control.send(encodePong(message.ping_id, message.t0_ns, receivedNs, monoNowNs()));
      this.pingsAnswered++;
    } else if (message.type === "PONG") {
      const sample = this.clock.onPong(message, receivedNs);
      if (sample !== null) {
        this.lastRttMs = Number(sample.rtt_ns) / 1e6;
        this.rttMs.push(this.lastRttMs);
      }
    } else if (message.type === "ROBOT_STATE") {
      if (this.latestState === null || message.seq > this.latestState.seq || message.seq + 1000 < this.latestState.seq) {
        this.latestState = message;
        this.latestStateAtMs = performance.now();
        this.statesReceived++;
      }
    } else {
      this.protocolErrors++;
    }
  }

  onEvent(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      this.protocolErrors++;
      return;
    }
    // {"type": ...}: the team's messages (presence, handover, telestration, chat);
    // {"event": ...}: the safety supervisor's events
    const kind = event !== null && typeof event === "object" && typeof event.type === "string" ? "team" : "supervisor";
    this.dispatchEvent(new CustomEvent(kind, { detail: event }));
  }

  /**
   * Send an encoded CONTROL message; false if the channel is not open or already backed up.
   * Latest value wins: a command queued behind others would only arrive stale, so nothing is
   * queued beyond MAX_BUFFERED_BYTES (the next sample replaces a skipped one).
   */
  sendControl(buffer) {
    if (!this.control || this.control.readyState !== "open") return false;
    if (this.control.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.controlSkipped++;
      return false;
    }
    this.control.send(buffer);
    this.controlSent++;
    return true;
  }

  /** A request on the reliable events channel, e.g. {type: "estop"}. */
  request(body) {
    if (!this.events || this.events.readyState !== "open") return false;
    this.events.send(JSON.stringify(body));
    return true;
  }

  /** Gateway wall clock [ns] at a console monotonic time [ns], or null before clock sync. */
  gatewayWallNs(consoleMonoNs) {
    const offset = this.clock.offsetNs();
    if (offset === null) return null;
    return consoleMonoNs + offset + this.gatewayWallMinusMonoNs;
  }

  close() {
    this.pinger?.stop();
    if (this.pc) this.pc.close();
    this.pc = null;
  }
}
