// The surgeon console page: wires the connection, the video view, the virtual master and its
// input devices, the teleoperation session, the HUD and the alarms, and the team (control of the
// arms, presence, telestration, chat). Query parameters (all optional): token, console_id, role,
// gateway, ping_hz, control_hz, input_gap_ms, arm, scale, tremor, adaptive, mute.
import { ConnectError, GatewayConnection } from "./connection.js";
import { Voice } from "./voice.js";
import { VideoView } from "./video.js";
import { VirtualMaster } from "./master.js";
import { KeyboardInput } from "./input/keyboard.js";
import { MouseInput } from "./input/mouse.js";
import { GamepadInput, isSpaceMouse } from "./input/gamepad.js";
import { TeleopSession, armOf } from "./session.js";
import { SCALE_PRESETS } from "./teleop/scaling.js";
import { Alarms, Severity } from "./alarms.js";
import { Hud } from "./hud.js";
import { Ticker } from "./ticker.js";
import { reactionTo } from "./supervisor_events.js";
import { Team } from "./team/team.js";
import { capabilitiesOf } from "./team/roles.js";

/** Page options from the query string, validated; errors list the valid values. */
export function optionsFromQuery(search) {
  const q = new URLSearchParams(search);
  const token = q.get("token");
  if (token !== null && !/^[\x21-\x7e]{8,512}$/.test(token)) {
    throw new Error("invalid token: valid is the printable token of an invitation (8..512 characters)");
  }
  const role = q.get("role") ?? "lead";
  const roles = ["lead", "bedside", "consultant", "observer"];
  if (!roles.includes(role)) throw new Error(`invalid role=${role}: valid are ${roles.join(", ")}`);
  const arm = q.get("arm") ?? "PSM1";
  if (!["PSM1", "PSM2", "ECM"].includes(arm)) throw new Error(`invalid arm=${arm}: valid are PSM1, PSM2, ECM`);
  const scale = q.get("scale") ?? "3:1";
  if (!(scale in SCALE_PRESETS)) throw new Error(`invalid scale=${scale}: valid are ${Object.keys(SCALE_PRESETS).join(", ")}`);
  const number = (name, def, lo, hi) => {
    const v = q.has(name) ? Number(q.get(name)) : def;
    if (!(v >= lo && v <= hi)) throw new Error(`invalid ${name}=${q.get(name)}: valid is ${lo}..${hi}`);
    return v;
  };
  const onOff = (name) => {
    const v = q.get(name) ?? "on";
    if (!["on", "off"].includes(v)) throw new Error(`invalid ${name}=${v}: valid are on, off`);
    return v === "on";
  };
  const controlHz = number("control_hz", 200, 120, 1000);
  // a gap shorter than 3 sample periods would restart the tremor filter on ordinary timer jitter
  const inputGapMs = number("input_gap_ms", 100, 10, 1000);
  const minGapMs = Math.ceil(3000 / controlHz);
  if (inputGapMs < minGapMs) {
    throw new Error(`invalid input_gap_ms=${q.get("input_gap_ms")}: valid is ${minGapMs}..1000 (at least 3 sample periods at control_hz=${controlHz})`);
  }
  return {
    token,
    consoleId: q.get("console_id") ?? "browser-console",
    role,
    gateway: q.get("gateway") ?? window.location.origin,
    pingHz: q.has("ping_hz") ? number("ping_hz", 10, 1, 1000) : null, // null: the gateway's
    controlHz,
    inputGapMs,
    arm,
    scale,
    tremor: onOff("tremor"),
    adaptive: onOff("adaptive"),
    mute: q.get("mute") === "1",
  };
}

const SUSPEND_TEXT = {
  blur: "Window lost focus",
  hidden: "Console tab in the background",
  gamepad: "Gamepad disconnected",
};

/**
 * A sample-loop period longer than this [ms] means the page itself did not run (a stall: garbage
 * collection, a busy main thread, a loaded host): the robot states that arrived meanwhile are
 * still queued. That tick sends nothing, and for this long after it the stall's length is not
 * counted as the link's silence (a real loss is still seen, at most this much later).
 */
const PAGE_STALL_MS = 100;

/** Keys of the team features (one press each; none while typing in the chat). */
const TEAM_KEYS = Object.freeze({ KeyG: "grant", KeyN: "deny", KeyT: "draw", KeyX: "clear", KeyC: "chat" });

export class ConsoleApp {
  constructor(options, elements) {
    this.options = options;
    this.el = elements;
    this.config = null;
    this.connection = null;
    this.session = null;
    this.video = null;
    this.master = new VirtualMaster();
    this.keyboard = new KeyboardInput();
    this.mouse = new MouseInput(elements.stage);
    this.gamepad = new GamepadInput();
    this.alarms = new Alarms(elements.banner);
    this.alarms.muted = options.mute;
    this.hud = new Hud(elements);
    this.arm = options.arm;
    this.scale = options.scale;
    this.engaged = false; // operator present: the surgeon asked to drive
    this.suspended = null; // why motion was stopped by the console itself
    this.identity = { consoleId: options.consoleId, role: options.role };
    this.caps = capabilitiesOf(options.role);
    this.needsClutch = new Set(); // arms handed to this console that wait for a clutch press
    this.engageOnGrant = new Set(); // arms requested by Enter: engage them when granted
    this.team = new Team(elements, {
      consoleId: options.consoleId,
      role: options.role,
      send: (m) => this.connection?.request(m) ?? false,
      frameNumber: () => this.video?.lastFrameNumber ?? null,
      notify: (n) => this.onTeamNotice(n),
    });
    this.voice = new Voice({ role: options.role, mic: new URLSearchParams(window.location.search).get("mic") });
    this.lastTickMs = null;
    this.stall = null; // the last page stall: its length [ms], discounted from the link's silence until untilMs
    this.maxTickIntervalMs = 0; // the sample loop's longest period so far [ms] (a stalled page)
    this.sentTimes = [];
    this.lastStatus = null;
    this.estopped = false;
    this.phase = "connecting";
    this.linkLost = false;
    this.silentMs = 0;
    this.clutch = false;
    this.ticker = null;
    this.stats = { bitrateBps: null, width: null, height: null, decodeFps: null, lastBytes: null, lastAtMs: null };
  }

  async start() {
    this.bindInputs();
    const who = this.options.token === null ? `as ${this.options.consoleId} (${this.options.role})` : "with an invitation token";
    this.hud.setPhase("connecting", `connecting to ${this.options.gateway} ${who}`);
    try {
      const response = await fetch(`${this.options.gateway}/api/config`);
      this.config = await response.json();
      this.connection = new GatewayConnection({
        baseUrl: this.options.gateway,
        consoleId: this.options.consoleId,
        role: this.options.role,
        pingHz: this.options.pingHz,
        token: this.options.token,
        beforeOffer: (pc) => this.voice.prepare(pc),
      });
      this.video = new VideoView(this.el.video, this.connection);
      this.connection.addEventListener("track", (e) => this.video.attach(e.detail));
      this.connection.addEventListener("supervisor", (e) => this.onSupervisorEvent(e.detail));
      this.connection.addEventListener("team", (e) => this.team.onMessage(e.detail));
      this.connection.addEventListener("team", (e) => this.voice.onMessage(e.detail));
      this.connection.addEventListener("connectionstate", (e) => {
        if (e.detail === "failed" || e.detail === "closed") {
          this.alarms.raise("connection", Severity.CRITICAL, `Connection ${e.detail}: reload the page to reconnect; the robot holds`);
          this.setEngaged(false);
        }
      });
      const answer = await this.connection.connect();
      this.voice.start(answer).catch((error) => this.hud.note(`Voice: ${error.message}`));
      // with a token the gateway decides who this console is
      this.setIdentity(answer.console_id ?? this.options.consoleId, answer.role ?? this.options.role);
      this.team.board.seed(answer.arms_controlled);
      this.session = new TeleopSession(this.connection, answer.geometry, {
        scaling: { ratio: SCALE_PRESETS[this.scale], delay_adaptive: { enabled: this.options.adaptive } },
        tremor: { enabled: this.options.tremor, max_input_gap_s: this.options.inputGapMs / 1000 },
      });
      this.phase = "connected";
      this.hud.setPhase("connected", `session ${answer.session_id} · ${this.identity.consoleId} (${this.identity.role})`);
    } catch (error) {
      this.phase = "failed";
      const text = error instanceof ConnectError ? error.message : `cannot connect: ${error.message}`;
      this.hud.setPhase("failed", text);
      this.alarms.raise("connection", Severity.CRITICAL, text);
      return;
    }
    this.ticker = new Ticker(1000 / this.options.controlHz, (now) => this.tick(now));
    this.ticker.start();
    this.hudTimer = setInterval(() => this.refreshHud(), 200);
    this.teamTimer = setInterval(() => this.team.render(performance.now()), 250); // prompt countdown
    this.statsTimer = setInterval(() => this.pollStats(), 1000);
  }

  // -- inputs ------------------------------------------------------------------------------------

  bindInputs() {
    window.addEventListener("keydown", (e) => this.onKey(e, true), true);
    this.voice.bindKeys(window);
    window.addEventListener("keyup", (e) => this.onKey(e, false), true);
    window.addEventListener("blur", () => this.suspend("blur"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.suspend("hidden");
    });
    // a closed tab says goodbye (the gateway then drops the peer at once, not after ICE
    // consent fails ~30 s later)
    window.addEventListener("pagehide", () => this.connection?.close());
    window.addEventListener("gamepadconnected", (e) => {
      this.gamepad.connect(e.gamepad);
      this.hud.note(`${isSpaceMouse(e.gamepad) ? "3D mouse" : "Gamepad"} connected: ${e.gamepad.id}`);
    });
    window.addEventListener("gamepaddisconnected", (e) => {
      if (e.gamepad.index !== this.gamepad.index) return;
      this.gamepad.disconnect();
      this.suspend("gamepad");
    });
    this.el.estop.addEventListener("click", () => this.estop());
    this.el.clearEstop.addEventListener("click", () => this.connection?.request({ type: "clear_estop" }));
    this.el.engage.addEventListener("click", () => this.setEngaged(!this.engaged));
    this.el.scale.addEventListener("change", () => this.setScale(this.el.scale.value));
    for (const button of this.el.armButtons) button.addEventListener("click", () => this.selectArm(button.dataset.arm));
    this.el.stage.addEventListener("pointerdown", () => this.el.stage.focus());
  }

  onKey(e, down) {
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
    if (typing) {
      // the chat has the keys, but Escape is the E-STOP everywhere
      if (down && e.code === "Escape") {
        e.target.blur();
        if (this.caps.estop) this.consume(e, () => this.estop());
      }
      return;
    }
    const onControl = e.target instanceof HTMLButtonElement || e.target instanceof HTMLSelectElement;
    if (down && !e.repeat) {
      const team = TEAM_KEYS[e.code];
      if (team !== undefined && !e.ctrlKey && !e.metaKey && !e.altKey) return this.consume(e, () => this.teamKey(team, e.shiftKey));
      if (e.code === "KeyM") return this.consume(e, () => { this.alarms.muted = !this.alarms.muted; });
      if (e.code === "KeyH" || e.code === "Slash") return this.consume(e, () => this.el.help.toggleAttribute("hidden"));
      if (!this.caps.drive && !this.caps.estop) return; // view only: no control keys at all
      if (e.code === "Escape") return this.consume(e, () => this.estop());
      if (!this.caps.drive) return;
      if (e.code === "Enter" && !onControl) return this.consume(e, () => this.setEngaged(!this.engaged));
      if (e.code === "Digit1") return this.consume(e, () => this.selectArm("PSM1"));
      if (e.code === "Digit2") return this.consume(e, () => this.selectArm("PSM2"));
      if (e.code === "Digit3") return this.consume(e, () => this.selectArm("ECM"));
      if (e.code === "BracketLeft" || e.code === "BracketRight") {
        const names = Object.keys(SCALE_PRESETS);
        const i = names.indexOf(this.scale) + (e.code === "BracketRight" ? 1 : -1);
        return this.consume(e, () => this.setScale(names[Math.min(Math.max(i, 0), names.length - 1)]));
      }
    }
    if (!this.caps.drive) return;
    if (e.code === "Space" && onControl) return;
    if (down) this.keyboard.keydown(e.code);
    else this.keyboard.keyup(e.code);
    if (e.code === "Space" || e.code.startsWith("Arrow")) e.preventDefault();
  }

  consume(e, action) {
    e.preventDefault();
    action();
  }

  teamKey(action, shift) {
    if (action === "grant" || action === "deny") {
      if (!this.team.answer(action === "grant")) this.hud.note("No request to answer");
    } else if (action === "draw") {
      if (!this.team.caps.draw) this.hud.note(`Role ${this.identity.role} cannot draw`);
      else this.hud.note(this.team.toggleDraw() ? "Draw mode: draw on the video with the mouse (T to stop)" : "Draw mode off");
    } else if (action === "clear") {
      if (shift && this.team.caps.clearAll) this.team.clearAll();
      else if (!this.team.clearMine()) this.hud.note("You have no strokes to clear");
    } else if (action === "chat" && this.team.caps.chat) {
      this.keyboard.release();
      this.el.chatInput.focus();
    }
  }

  // -- identity and control of the arms ----------------------------------------------------------

  /**
   * The console id and role the gateway confirmed; the page shows only what the role may do.
   * `pending`: signing in with a token, the role is not known yet (nothing to operate).
   */
  setIdentity(consoleId, role, { pending = false } = {}) {
    this.identity = { consoleId, role };
    this.caps = capabilitiesOf(role);
    this.team.applyRole(consoleId, role);
    const el = this.el;
    el.role.textContent = pending
      ? "signing in…"
      : this.caps.drive ? `${role.toUpperCase()} · ${consoleId}` : `${role.toUpperCase()} · view only`;
    el.role.dataset.role = role;
    for (const node of [el.engage, el.scaleLabel, ...el.armButtons]) node.hidden = !this.caps.drive;
    el.estop.hidden = !this.caps.estop;
    el.clearEstop.hidden = !this.caps.clearEstop;
    document.body.dataset.role = role;
    if (!this.caps.drive && this.engaged) this.setEngaged(false, { release: false });
  }

  holds(arm) {
    return this.team.board.holds(arm);
  }

  /** A ControlBoard notice: control gained or lost, a request to answer, an outcome, a refusal. */
  onTeamNotice(n) {
    if (n.gained !== undefined) {
      this.session?.resetArm(n.gained);
      if (this.engageOnGrant.delete(n.gained) && this.engaged) {
        this.hud.note(`${n.gained} is yours: engaging with alignment`);
        return;
      }
      this.needsClutch.add(n.gained);
      // a free arm given on request or at join needs no banner (the mode line says what to do);
      // an arm handed over from another console does
      if (this.phase === "connected" && n.reason !== "uncontested") {
        this.alarms.raise(`control:${n.gained}`, Severity.INFO, n.text);
      } else {
        this.hud.note(n.text);
      }
      return;
    }
    if (n.lost !== undefined) {
      this.session?.resetArm(n.lost);
      this.needsClutch.delete(n.lost);
      this.alarms.clear(`control:${n.lost}`);
    }
    if (n.prompt !== undefined) this.alarms.beep(Severity.WARNING);
    this.hud.note(n.text);
  }

  // -- state changes -----------------------------------------------------------------------------

  /** Engage (operator present) or release; `release` sends a disengage request first. */
  setEngaged(on, { release = true } = {}) {
    if (on && !this.caps.drive) {
      this.hud.note(`Role ${this.identity.role} cannot drive the robot`);
      return;
    }
    if (on && this.phase !== "connected") return;
    if (on) this.claim(this.arm);
    if (!on && this.engaged && release && this.session !== null) {
      this.session.release((arm) => this.holds(arm));
    }
    this.engaged = on;
    this.session?.reset();
    this.lastStatus = null;
    if (on) {
      this.needsClutch.clear(); // Enter is the explicit engage: every arm held aligns now
      for (const arm of Object.keys(this.team.board.controllers)) this.alarms.clear(`control:${arm}`);
      this.suspended = null;
      this.alarms.clear("suspended");
      this.keyboard.release();
      this.mouse.release();
    }
    this.el.engage.textContent = on ? "Release (Enter)" : "Engage (Enter)";
    this.el.engage.classList.toggle("on", on);
  }

  /** The console stops motion by itself (the robot holds by watchdog) and says why. */
  suspend(reason) {
    this.keyboard.release();
    this.mouse.release();
    if (!this.engaged) return;
    this.setEngaged(false, { release: false }); // nothing more is sent: the watchdog holds
    this.suspended = reason;
    this.alarms.raise("suspended", Severity.WARNING,
      `${SUSPEND_TEXT[reason]}: motion stopped, the robot holds. Press Enter (or Engage) to resume.`);
  }

  selectArm(arm) {
    if (arm === this.arm) return;
    this.arm = arm;
    this.hud.note(`Driving ${arm}${arm === "ECM" ? " (camera)" : ""}`);
    this.session?.resetArm(arm);
    if (this.engaged) this.claim(arm);
  }

  /** Engaging an arm this console does not hold: ask for it if it is free, else say who has it. */
  claim(arm) {
    const board = this.team.board;
    if (board.holds(arm)) return;
    const holder = board.controllers[arm] ?? null;
    if (holder === null && (board.caps.request || board.caps.take)) {
      this.engageOnGrant.add(arm);
      this.team.send(board.caps.request ? board.request(arm) : board.take(arm));
      this.hud.note(`${arm} is free: asking for it`);
    } else if (holder !== null) {
      const how = board.caps.take ? "Take it" : board.caps.request ? "Request it" : "Ask the lead for it";
      this.hud.note(`${arm} is held by ${board.label(holder)}: ${how} in the Control panel`);
    }
  }

  setScale(name) {
    if (!(name in SCALE_PRESETS)) return;
    this.scale = name;
    this.el.scale.value = name;
    this.session?.setRatio(SCALE_PRESETS[name]);
    this.hud.note(`Motion scaling ${name}`);
  }

  estop() {
    if (!this.caps.estop) return;
    this.connection?.request({ type: "estop" });
    this.setEngaged(false, { release: false });
    this.alarms.raise("estop-local", Severity.CRITICAL, "E-STOP requested: the robot stops");
  }

  // -- the sample loop ---------------------------------------------------------------------------

  tick(nowMs) {
    const periodMs = this.lastTickMs === null ? 0 : nowMs - this.lastTickMs;
    const dt = Math.min(periodMs / 1000, 0.1);
    this.maxTickIntervalMs = Math.max(this.maxTickIntervalMs, periodMs);
    const stalled = periodMs > PAGE_STALL_MS;
    // the silence the stall caused is the page's, not the link's: discount it for a short while
    if (stalled) this.stall = { ms: periodMs, untilMs: nowMs + PAGE_STALL_MS };
    this.lastTickMs = nowMs;
    this.watchLink(nowMs);
    const pads = navigator.getGamepads ? navigator.getGamepads() : [];
    if (this.gamepad.connected && this.gamepad.pollEngage(pads)) this.setEngaged(!this.engaged);
    if (!this.caps.drive) return; // view only: nothing is ever sent on the control channel
    if (!this.engaged || this.session === null || this.connection.latestState === null) return;
    if (this.linkLost) return; // nothing sent into a dead link; the watchdog holds the robot
    if (stalled) return; // the states queued during the stall are not read yet: act on them next tick
    if (!this.holds(this.arm)) {
      this.lastStatus = null; // another console (or nobody) controls it: nothing is sent
      return;
    }
    this.keyboard.apply(this.master, dt);
    this.mouse.apply(this.master);
    this.gamepad.apply(this.master, dt, pads);
    const clutch = this.keyboard.clutch || this.gamepad.clutch;
    if (this.needsClutch.has(this.arm)) {
      // handed over: the arm holds until the new controller presses the clutch, then aligns
      if (!clutch) {
        this.lastStatus = null;
        return;
      }
      this.needsClutch.delete(this.arm);
      this.alarms.clear(`control:${this.arm}`);
    }
    const pipeline = this.session.pipeline(this.arm);
    if (!clutch && pipeline.state !== "FOLLOWING") {
      // the virtual master aligns itself with the tool, as a motorised master does before engaging
      const R = this.session.alignedMasterRotation(this.arm, this.connection.latestState);
      if (R !== null) this.master.alignRotation(R);
    }
    const sample = {
      timestamp_s: nowMs / 1000,
      T_console_master: this.master.pose(),
      jaw_rad: this.master.jawRad,
      clutch_pressed: clutch,
    };
    const { sent, status } = this.session.step(this.arm, sample, this.rttP50(), nowMs);
    this.lastStatus = status;
    this.clutch = clutch;
    if (sent) {
      this.sentTimes.push(nowMs);
      while (this.sentTimes.length && this.sentTimes[0] < nowMs - 1000) this.sentTimes.shift();
    }
  }

  /** What the mode line says about control of the driven arm (null when it is plainly yours). */
  controlNote() {
    if (!this.caps.drive) return "view only";
    const board = this.team.board;
    if (!board.holds(this.arm)) {
      const holder = board.controllers[this.arm] ?? null;
      return holder === null ? `${this.arm} is free` : `${this.arm} held by ${board.label(holder)}`;
    }
    if (this.engaged && this.needsClutch.has(this.arm)) return "yours: press the clutch (Space) to engage";
    return null;
  }

  rttP50() {
    const v = this.connection.rttMs.values.slice(-50);
    if (v.length === 0) return null;
    const sorted = [...v].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** Robot state stopped arriving: the link is down, whatever the gateway's events say. */
  watchLink(nowMs) {
    const at = this.connection.latestStateAtMs;
    const silentMs = at === null ? 0 : nowMs - at;
    const stallMs = this.stall !== null && nowMs <= this.stall.untilMs ? this.stall.ms : 0;
    const lost = silentMs - stallMs > Math.max(250, this.config.hold_after_ms * 2.5);
    if (lost && !this.linkLost) {
      this.alarms.raise("link", Severity.CRITICAL,
        `LINK LOST: no robot state for ${Math.round(silentMs)} ms; motion stopped, the robot holds (watchdog)`);
      this.session?.reset();
    } else if (!lost && this.linkLost) {
      this.alarms.clear("link");
      this.hud.note("Link restored: re-engaging re-anchors on the tool");
    }
    this.linkLost = lost;
    this.silentMs = silentMs;
    // an arm the robot state shows following again has no hold / disengage alarm any more
    const state = this.connection.latestState;
    if (!lost && state !== null) {
      for (const a of state.arms) {
        if (a.supervisor_state !== "FOLLOWING") continue;
        this.alarms.clear(`arm:${a.arm}`);
        if (this.holds(a.arm)) this.alarms.clear(`control:${a.arm}`);
      }
    }
  }

  // -- supervisor events -------------------------------------------------------------------------

  onSupervisorEvent(ev) {
    this.hud.log(ev);
    const actions = reactionTo(ev, {
      holdAfterMs: this.config.hold_after_ms,
      clutchedArm: this.clutch ? this.arm : null,
      consoleId: this.identity.consoleId,
    });
    for (const a of actions) {
      if (a.raise) this.alarms.raise(...a.raise);
      else if (a.clear) this.alarms.clear(a.clear);
      else if (a.note) this.hud.note(a.note);
      else if (a.controller) {
        const [arm, holder] = a.controller;
        const before = this.team.board.controllers[arm] ?? null;
        for (const n of this.team.board.onControlChanged(arm, before, holder ?? null, null)) this.onTeamNotice(n);
        this.team.render(performance.now());
      }
      else if ("estop" in a) {
        this.estopped = a.estop;
        if (a.estop) this.setEngaged(false, { release: false });
      }
    }
  }

  // -- HUD ---------------------------------------------------------------------------------------

  async pollStats() {
    if (!this.connection?.pc) return;
    const report = await this.connection.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "video") return;
      const now = s.timestamp;
      if (this.stats.lastBytes !== null) {
        this.stats.bitrateBps = ((s.bytesReceived - this.stats.lastBytes) * 8 * 1000) / (now - this.stats.lastAtMs);
      }
      this.stats.lastBytes = s.bytesReceived;
      this.stats.lastAtMs = now;
      this.stats.width = s.frameWidth ?? null;
      this.stats.height = s.frameHeight ?? null;
      this.stats.decodeFps = s.framesPerSecond ?? null;
      this.stats.codec = s.codecId ? report.get(s.codecId)?.mimeType : null;
    });
  }

  linkLevel() {
    if (this.linkLost || this.phase !== "connected") return "red";
    const rtt = this.rttP50();
    if (rtt === null) return "amber";
    if (rtt > this.config.latency_stop_ms) return "red";
    if (rtt > this.config.latency_warn_ms || this.silentMs > this.config.hold_after_ms) return "amber";
    return "green";
  }

  refreshHud() {
    if (this.connection === null) return;
    this.hud.render(this.snapshot());
  }

  /** Everything the HUD shows (and the tests read), as plain JSON. */
  snapshot() {
    const c = this.connection;
    const state = c?.latestState ?? null;
    const g2g = this.video?.g2gMs;
    return {
      phase: this.phase,
      session_id: c?.sessionId ?? null,
      console_id: this.identity.consoleId,
      role: this.identity.role,
      view_only: !this.caps.drive,
      needs_clutch: [...this.needsClutch],
      control_note: this.controlNote(),
      engaged: this.engaged,
      suspended: this.suspended,
      clutch: !!this.clutch,
      arm: this.arm,
      scale: this.scale,
      link: this.linkLevel(),
      rtt_ms: this.rttP50(),
      rtt_last_ms: c?.lastRttMs ?? null,
      g2g_ms: g2g ? g2g.percentile(50) : null,
      g2g_p99_ms: g2g ? g2g.percentile(99) : null,
      command_rate_hz: this.sentTimes.filter((t) => t >= performance.now() - 1000).length,
      video: {
        frame_number: this.video?.lastFrameNumber ?? null,
        frames_presented: this.video?.framesPresented ?? 0,
        stamps_read: this.video?.stampsRead ?? 0,
        stamps_missed: this.video?.stampsMissed ?? 0,
        stamp_source: this.video?.stampSource ?? null,
        fps: this.video?.fps() ?? null,
        receive_to_display_ms: this.video?.receiveToDisplayMs.percentile(50) ?? null,
        width: this.video?.width || this.stats.width,
        height: this.video?.height || this.stats.height,
        bitrate_bps: this.stats.bitrateBps,
        codec: this.stats.codec ?? null,
      },
      states_received: c?.statesReceived ?? 0,
      state_age_ms: c?.latestStateAtMs == null ? null : performance.now() - c.latestStateAtMs,
      pings_answered: c?.pingsAnswered ?? 0,
      control_sent: c?.controlSent ?? 0,
      control_skipped: c?.controlSkipped ?? 0,
      protocol_errors: c?.protocolErrors ?? 0,
      teleop: this.lastStatus,
      input_gaps: this.session?.inputGaps ?? 0,
      last_input_gap_ms: this.session?.lastInputGapMs ?? null,
      max_tick_interval_ms: this.maxTickIntervalMs,
      arms: state
        ? state.arms.map((a) => ({
            arm: a.arm,
            supervisor_state: a.supervisor_state,
            operating_state: a.operating_state,
            controller: this.team.board.controllers[a.arm] ?? null,
            setpoint_position_m: a.setpoint_position_m,
            jaw_rad: a.measured_jaw_rad,
            command_age_ms: a.last_command_age_us === null ? null : a.last_command_age_us / 1000,
          }))
        : [],
      alarms: [...this.alarms.active.entries()].map(([key, a]) => ({ key, severity: a.severity, text: a.text })),
      thresholds: this.config,
      team: this.team.snapshot(),
    };
  }
}

export { armOf };
