// Voice: the surgeon's microphone to the gateway's conference and the mix back (mix-minus: the
// gateway never sends you your own voice). Mirrors telesurgery.console.voice (Python SDK).
//
// Hooks (the only coupling with the rest of the console):
//   new GatewayConnection({..., beforeOffer: (pc) => voice.prepare(pc)})  adds the audio m-line
//   voice.start(answer)     after the answer: the microphone, for the roles that speak
//   voice.onMessage(event)  every {"type": ...} event (uses "voice_activity", ignores the rest)
//
// The offer is always sendrecv with no track yet; the gateway narrows it by the role it took from
// the token (sendonly for observers allowed to listen, inactive otherwise). The microphone is only
// opened (getUserMedia) once the answer says this console may speak: observers are never asked
// for their microphone. Muting disables the track (the peer sends silence, the others see you
// stop speaking); push-to-talk unmutes while the key is held.

/** Keys: V toggles the microphone, hold P to talk while muted (none while typing in a field). */
export const VOICE_KEYS = Object.freeze({ toggle: "KeyV", talk: "KeyP" });

/** Roles that speak (the gateway enforces it; this only decides whether to open the mic). */
export const SPEAKING_ROLES = Object.freeze(new Set(["bedside", "lead", "consultant", "admin"]));

/** Microphone capture constraints: the browser's echo canceller matters with open speakers. */
export const MIC_CONSTRAINTS = Object.freeze({
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  video: false,
});

/** What the microphone is doing (one state, shown in the panel and in snapshot()). */
export const MicState = Object.freeze({
  OFF: "off", // not offered yet / not connected
  LISTEN_ONLY: "listen-only", // this role does not speak, or the gateway did not accept our audio
  NO_AUDIO: "no-audio", // the gateway sends no voice to this console (observers without permission)
  ASKING: "asking", // waiting for the browser's microphone permission
  LIVE: "live",
  MUTED: "muted",
  TALKING: "talking", // push-to-talk held while muted
  UNAVAILABLE: "unavailable", // no microphone, permission denied, or not a secure context
});

const isTyping = (target) =>
  target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target?.isContentEditable === true;

export class Voice {
  /**
   * @param {{role: string, mic?: "on" | "muted", mediaDevices?: MediaDevices, root?: HTMLElement}} options
   */
  constructor(options) {
    this.role = options.role;
    this.startMuted = options.mic === "muted";
    this.mediaDevices = options.mediaDevices ?? navigator.mediaDevices;
    this.transceiver = null;
    this.micTrack = null;
    this.state = MicState.OFF;
    this.muted = this.startMuted;
    this.talkHeld = false;
    this.speakers = []; // [{console_id, level_dbfs}] from the newest voice_activity
    this.activityAtMs = null;
    this.remoteTrack = null;
    this.error = null;
    this.audio = document.createElement("audio");
    this.audio.autoplay = true;
    this.audio.id = "voice-audio";
    this.playBlocked = false;
    this.panel = this.buildPanel(options.root ?? document.getElementById("right-column") ?? document.body);
    this.render();
  }

  /** Before createOffer: one sendrecv audio transceiver, and the mix's track when it arrives. */
  prepare(pc) {
    this.transceiver = pc.addTransceiver("audio", { direction: "sendrecv" });
    pc.addEventListener("track", (e) => {
      if (e.track.kind === "audio") this.attachRemote(e.track, e.receiver);
    });
  }

  /** After the answer: open the microphone if this console speaks and the gateway receives it. */
  async start(answer) {
    this.role = answer?.role ?? this.role;
    const direction = this.transceiver?.currentDirection ?? null;
    if (direction === null || direction === "inactive" || direction === "stopped") {
      this.setState(MicState.NO_AUDIO);
      return;
    }
    if (!SPEAKING_ROLES.has(this.role) || direction !== "sendrecv") {
      this.setState(MicState.LISTEN_ONLY);
      return;
    }
    if (!this.mediaDevices?.getUserMedia) {
      this.error = window.isSecureContext ? "this browser has no microphone API" : "the microphone needs HTTPS";
      this.setState(MicState.UNAVAILABLE);
      return;
    }
    this.setState(MicState.ASKING);
    try {
      const stream = await this.mediaDevices.getUserMedia(MIC_CONSTRAINTS);
      this.micTrack = stream.getAudioTracks()[0] ?? null;
    } catch (error) {
      this.error = `microphone: ${error.name === "NotAllowedError" ? "permission denied" : error.message}`;
      this.setState(MicState.UNAVAILABLE);
      return;
    }
    if (this.micTrack === null) {
      this.error = "no microphone";
      this.setState(MicState.UNAVAILABLE);
      return;
    }
    this.micTrack.addEventListener("ended", () => {
      this.error = "the microphone was disconnected";
      this.setState(MicState.UNAVAILABLE);
    });
    await this.transceiver.sender.replaceTrack(this.micTrack);
    this.applyMute();
  }

  attachRemote(track, receiver) {
    this.remoteTrack = track;
    try {
      if (receiver) receiver.jitterBufferTarget = 0; // voice: the smallest buffer WebRTC allows
    } catch {
      /* not supported: the default adaptive buffer */
    }
    this.audio.srcObject = new MediaStream([track]);
    this.play();
  }

  play() {
    const playing = this.audio.play();
    if (playing?.catch) {
      playing.then(
        () => { this.playBlocked = false; this.render(); },
        () => { this.playBlocked = true; this.render(); },
      );
    }
  }

  /** Mute (true) or unmute (false) the microphone. */
  setMuted(muted) {
    this.muted = muted;
    this.applyMute();
  }

  /** Push-to-talk: while held, a muted microphone is live. */
  setTalk(held) {
    this.talkHeld = held;
    this.applyMute();
  }

  applyMute() {
    if (this.micTrack === null) return this.render();
    const live = !this.muted || this.talkHeld;
    this.micTrack.enabled = live;
    this.setState(!this.muted ? MicState.LIVE : this.talkHeld ? MicState.TALKING : MicState.MUTED);
  }

  setState(state) {
    this.state = state;
    this.render();
  }

  /** A {"type": ...} event from the events channel. */
  onMessage(event) {
    if (event?.type !== "voice_activity" || !Array.isArray(event.speakers)) return;
    this.speakers = event.speakers.filter((s) => typeof s?.console_id === "string");
    this.activityAtMs = performance.now();
    this.render();
  }

  /** Keyboard: V toggles, P held talks. Returns true if the key was the voice's. */
  onKey(e, down) {
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return false;
    if (e.code === VOICE_KEYS.toggle) {
      if (down && !e.repeat && this.micTrack !== null) this.setMuted(!this.muted);
      if (down && this.playBlocked) this.play(); // a key press is the gesture autoplay waits for
      return true;
    }
    if (e.code === VOICE_KEYS.talk) {
      if (!e.repeat) this.setTalk(down);
      return true;
    }
    return false;
  }

  bindKeys(target = window) {
    const handle = (down) => (e) => {
      if (this.onKey(e, down)) e.preventDefault();
    };
    target.addEventListener("keydown", handle(true));
    target.addEventListener("keyup", handle(false));
    target.addEventListener("blur", () => this.setTalk(false)); // never stay talking unseen
  }

  buildPanel(root) {
    const panel = document.createElement("section");
    panel.id = "voice-panel";
    panel.className = "panel";
    panel.setAttribute("aria-label", "Voice");
    panel.innerHTML = `
      <h2>Voice</h2>
      <button id="voice-mic" type="button" aria-pressed="false" title="V: microphone on / off · hold P to talk">Mic</button>
      <span id="voice-state" role="status"></span>
      <ul id="voice-speakers" aria-label="Speaking now" aria-live="polite"></ul>`;
    panel.append(this.audio);
    if (root === document.body) Object.assign(panel.style, { top: "12px", right: "12px" });
    root.append(panel);
    this.el = {
      mic: panel.querySelector("#voice-mic"),
      state: panel.querySelector("#voice-state"),
      speakers: panel.querySelector("#voice-speakers"),
    };
    this.el.mic.addEventListener("click", () => {
      if (this.playBlocked) this.play();
      if (this.micTrack !== null) this.setMuted(!this.muted);
    });
    Object.assign(this.el.speakers.style, { listStyle: "none", margin: "4px 0 0", padding: "0", fontSize: "12px" });
    return panel;
  }

  render() {
    if (!this.el) return;
    const hasMic = this.micTrack !== null;
    this.el.mic.disabled = !hasMic;
    this.el.mic.hidden = this.state === MicState.LISTEN_ONLY || this.state === MicState.NO_AUDIO;
    this.el.mic.setAttribute("aria-pressed", String(hasMic && !this.muted));
    this.el.mic.textContent = !hasMic ? "Mic –" : this.muted ? "Mic muted (V)" : "Mic on (V)";
    const text = {
      [MicState.OFF]: "connecting…",
      [MicState.LISTEN_ONLY]: "listening only",
      [MicState.NO_AUDIO]: "no voice for this role",
      [MicState.ASKING]: "allow the microphone…",
      [MicState.LIVE]: "live",
      [MicState.MUTED]: "muted · hold P to talk",
      [MicState.TALKING]: "talking (P)",
      [MicState.UNAVAILABLE]: this.error ?? "microphone unavailable",
    }[this.state];
    this.el.state.textContent = this.playBlocked ? `${text} · press V to hear` : ` ${text}`;
    this.el.state.dataset.state = this.state;
    const items = this.speakers.map((s) => {
      const li = document.createElement("li");
      const dot = document.createElement("span");
      dot.textContent = "●";
      dot.setAttribute("aria-hidden", "true");
      Object.assign(dot.style, { color: "var(--green, #2ecc71)", marginRight: "4px" });
      const level = Number.isFinite(s.level_dbfs) ? ` ${Math.round(s.level_dbfs)} dBFS` : "";
      li.append(dot, `${s.console_id} speaking${level}`);
      li.dataset.consoleId = s.console_id;
      return li;
    });
    this.el.speakers.replaceChildren(...items);
  }

  /** For tests and diagnostics. */
  snapshot() {
    return {
      state: this.state,
      muted: this.muted,
      talking: this.talkHeld,
      hasMic: this.micTrack !== null,
      micEnabled: this.micTrack?.enabled ?? null,
      direction: this.transceiver?.currentDirection ?? null,
      receiving: this.remoteTrack !== null,
      playBlocked: this.playBlocked,
      speakers: this.speakers.map((s) => s.console_id),
      error: this.error,
    };
  }

  close() {
    this.micTrack?.stop();
    this.audio.srcObject = null;
  }
}
