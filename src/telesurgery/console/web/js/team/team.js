// The multi-site part of the console: routes the gateway's events-channel messages (presence,
// control changes, handover prompts and outcomes, refusals, telestration, chat) to the control
// board and panels, and sends this console's own (docs/protocol.md, "Events channel").
import { ControlBoard } from "./control_board.js";
import { ControlPanel } from "./control_panel.js";
import { PresencePanel } from "./presence_panel.js";
import { ChatPanel } from "./chat.js";
import { TelestrationView } from "./telestration_view.js";
import { capabilitiesOf } from "./roles.js";

/** The message types this module handles (the rest of the events channel is the supervisor's). */
export const TEAM_TYPES = Object.freeze([
  "presence", "control_changed", "handover_pending", "handover_ended", "refused",
  "telestration", "telestration_cleared", "chat",
]);

export class Team {
  /**
   * @param {object} el the page's elements (see main.js)
   * @param {{consoleId: string, role: string, send: (m: object) => boolean,
   *   frameNumber: () => number | null, notify: (notice: object) => void}} hooks
   *   notify receives every ControlBoard notice ({level, text, gained?, lost?, prompt?})
   */
  constructor(el, hooks) {
    this.el = el;
    this.hooks = hooks;
    this.board = new ControlBoard({ consoleId: hooks.consoleId, role: hooks.role });
    this.caps = capabilitiesOf(hooks.role);
    this.sent = [];
    this.received = { presence: 0, telestration: 0, chat: 0, refused: 0, other: 0 };
    const send = (m) => this.send(m);
    this.control = new ControlPanel(
      { rows: el.controlRows, prompt: el.handoverPrompt, promptText: el.handoverText, grant: el.grant, deny: el.deny },
      this.board, send,
    );
    this.presence = new PresencePanel(el.presence);
    this.chat = new ChatPanel(
      { log: el.chatLog, form: el.chatForm, input: el.chatInput },
      (text) => this.send({ type: "chat", text }),
      (text) => hooks.notify({ level: "info", text }),
    );
    this.telestration = new TelestrationView(el.telestration, el.video, {
      send,
      frameNumber: hooks.frameNumber,
      selfId: () => this.board.consoleId,
      label: (id) => this.board.label(id),
    });
    el.draw.addEventListener("click", () => this.toggleDraw());
    el.drawColor.addEventListener("change", () => { this.telestration.builder.color = el.drawColor.value; });
    el.clearMine.addEventListener("click", () => this.clearMine());
    el.clearAll.addEventListener("click", () => this.clearAll());
    this.applyRole(hooks.consoleId, hooks.role);
  }

  /** The identity the gateway confirmed (a token decides it); shows only what the role may do. */
  applyRole(consoleId, role) {
    this.board.setIdentity(consoleId, role);
    this.caps = capabilitiesOf(role);
    this.telestration.setMayDraw(this.caps.draw);
    this.el.drawTools.hidden = !this.caps.draw;
    this.el.clearAll.hidden = !this.caps.clearAll;
    this.chat.setEnabled(this.caps.chat);
    this.render(performance.now());
  }

  send(message) {
    const ok = this.hooks.send(message);
    if (ok) {
      this.sent.push(message.type);
      if (this.sent.length > 100) this.sent.shift();
    }
    return ok;
  }

  /** One events-channel message with a `type` (false if it is not one of TEAM_TYPES). */
  onMessage(msg) {
    const now = performance.now();
    switch (msg.type) {
      case "telestration":
      case "telestration_cleared":
        this.received.telestration++;
        this.telestration.apply(msg);
        return true;
      case "chat":
        this.received.chat++;
        this.chat.add(msg);
        return true;
      case "presence":
      case "control_changed":
      case "handover_pending":
      case "handover_ended":
      case "refused": {
        if (msg.type === "presence") this.received.presence++;
        else if (msg.type === "refused") this.received.refused++;
        else this.received.other++;
        for (const n of this.board.apply(msg, now)) this.hooks.notify(n);
        if (msg.type === "presence") this.presence.render(this.board.participants, this.board.consoleId);
        this.render(now);
        return true;
      }
      default:
        return false;
    }
  }

  render(nowMs) {
    this.control.render(nowMs);
  }

  toggleDraw() {
    const on = this.telestration.setDrawMode(!this.telestration.enabled);
    this.el.draw.classList.toggle("on", on);
    this.el.draw.setAttribute("aria-pressed", String(on));
    return on;
  }

  clearMine() {
    const message = this.telestration.clearMine();
    return message === null ? false : this.send(message);
  }

  clearAll() {
    return this.caps.clearAll ? this.send({ type: "telestration_clear", stroke_ids: null, author: "*" }) : false;
  }

  /** Answer the soonest prompt (G / N keys). */
  answer(grant) {
    return this.control.answer(grant);
  }

  snapshot() {
    const b = this.board;
    return {
      controllers: { ...b.controllers },
      participants: b.participants,
      pending: [...b.pending.values()],
      prompts: b.prompts().map((p) => p.arm),
      refusals: b.refusals,
      strokes: this.telestration.board.list().map((s) => ({ author: s.author, stroke_id: s.stroke_id, frame_id: s.frame_id, points: s.points.length })),
      strokes_sent: this.telestration.sentStrokes,
      drawing: this.telestration.enabled,
      chat: this.chat.lines,
      received: { ...this.received },
      sent: [...this.sent],
    };
  }
}
