// Who controls each arm, the pending handover requests and what this console may do about them:
// a pure model of the events-channel messages (docs/protocol.md, "Events channel"), fed with the
// gateway's messages and the page's clock as a parameter. The control panel only renders it.
import { capabilitiesOf, maySurgeon } from "./roles.js";

export const ARMS = Object.freeze(["PSM1", "PSM2", "ECM"]);

/** Refusals kept for the panel and the tests. */
export const MAX_REFUSALS = 20;
/** After losing an arm, refusals of control messages (those in flight) are not shown [ms]. */
export const LOST_QUIET_MS = 3000;

/**
 * A notice for the surgeon, returned by ControlBoard.apply:
 * {level: "info" | "warning", text, gained?: arm, reason?: string, lost?: arm, prompt?: arm}.
 */
function notice(level, text, extra = {}) {
  return { level, text, ...extra };
}

export class ControlBoard {
  /**
   * @param {{consoleId: string, role: string, arms?: string[], firstRequestId?: number}} options
   *   firstRequestId: request ids count up from it (unique per console: a reloaded page starts
   *   from the wall clock in ms, above the ids it used before)
   */
  constructor({ consoleId, role, arms = ARMS, firstRequestId = Date.now() }) {
    this.consoleId = consoleId;
    this.role = role;
    this.caps = capabilitiesOf(role);
    this.arms = [...arms];
    /** arm -> controlling console id (null: free). */
    this.controllers = Object.fromEntries(this.arms.map((a) => [a, null]));
    /** Everyone connected (the latest presence message). */
    this.participants = [];
    /** arm -> {arm, request_id, requester, holder, deadlineAtMs}. */
    this.pending = new Map();
    /** request_id -> {type, arm} of this console's messages not yet answered. */
    this.outgoing = new Map();
    this.refusals = [];
    this.estopLatched = false;
    this.lostAtMs = -Infinity; // when this console last lost an arm
    this.nowMs = 0;
    this.nextRequestId = Math.max(0, Math.floor(firstRequestId));
  }

  /** Take an identity given by the gateway (a token decides the console id and the role). */
  setIdentity(consoleId, role) {
    this.consoleId = consoleId;
    this.role = role;
    this.caps = capabilitiesOf(role);
  }

  holds(arm) {
    return this.controllers[arm] === this.consoleId;
  }

  /** The participant entry of `consoleId` (from presence), or null. */
  participant(consoleId) {
    return this.participants.find((p) => p.console_id === consoleId) ?? null;
  }

  /** "display name (role)" of a console, or its id when presence has not named it yet. */
  label(consoleId) {
    if (consoleId === null || consoleId === undefined) return "nobody";
    if (consoleId === this.consoleId) return "you";
    const p = this.participant(consoleId);
    return p ? `${p.display_name || p.console_id} (${p.role})` : consoleId;
  }

  /**
   * What this console may do about `arm` now (the gateway decides; this only hides buttons
   * whose message would certainly be refused).
   * @returns {{request: boolean, release: boolean, take: boolean, reassignTo: string[],
   *   answer: object | null, waiting: boolean}}
   */
  actions(arm) {
    const holder = this.controllers[arm] ?? null;
    const mine = holder === this.consoleId;
    const pending = this.pending.get(arm) ?? null;
    const holderRole = holder === null ? null : this.participant(holder)?.role ?? null;
    const reassignTo = this.caps.reassign && holderRole !== "bedside"
      ? this.participants.filter((p) => maySurgeon(p.role) && p.console_id !== holder).map((p) => p.console_id)
      : [];
    return {
      request: this.caps.request && !mine && !(pending !== null && pending.requester === this.consoleId),
      release: this.caps.drive && mine,
      take: this.caps.take && !mine,
      reassignTo,
      answer: mine && pending !== null ? pending : null,
      waiting: pending !== null && pending.requester === this.consoleId,
    };
  }

  /** A handover message from this console (request_id assigned here); see operation/messages.py. */
  message(type, arm, extra = {}) {
    const request_id = this.nextRequestId++;
    this.outgoing.set(request_id, { type, arm });
    if (this.outgoing.size > 64) this.outgoing.delete(this.outgoing.keys().next().value);
    return { type, request_id, arm, ...extra };
  }

  request(arm) {
    return this.message("handover_request", arm);
  }

  release(arm) {
    return this.message("handover_release", arm);
  }

  take(arm) {
    return this.message("handover_take", arm);
  }

  reassign(arm, to) {
    return this.message("handover_reassign", arm, { to });
  }

  /** The holder's answer to the pending request on `arm` (null if none is pending). */
  answer(arm, grant) {
    const p = this.pending.get(arm);
    if (p === undefined) return null;
    return { type: grant ? "handover_grant" : "handover_deny", request_id: p.request_id, arm, console_id: p.requester };
  }

  /** The pending requests this console must answer, soonest deadline first. */
  prompts() {
    return [...this.pending.values()]
      .filter((p) => p.holder === this.consoleId && this.holds(p.arm))
      .sort((a, b) => a.deadlineAtMs - b.deadlineAtMs);
  }

  /** Pending requests whose deadline passed (the gateway ends them; this only hides them). */
  expire(nowMs) {
    for (const [arm, p] of this.pending) if (nowMs > p.deadlineAtMs + 2000) this.pending.delete(arm);
  }

  /** Seed the controllers from the offer answer (arms_controlled) before presence arrives. */
  seed(armsControlled) {
    for (const arm of armsControlled ?? []) if (arm in this.controllers) this.controllers[arm] = this.consoleId;
  }

  /**
   * One events-channel message from the gateway. Returns the notices for the surgeon (control
   * gained or lost, a request to answer, an outcome, a refusal). Unknown types return [].
   */
  apply(msg, nowMs) {
    this.nowMs = nowMs;
    switch (msg.type) {
      case "presence":
        return this.onPresence(msg, nowMs);
      case "control_changed":
        return this.onControlChanged(msg.arm, msg.from ?? null, msg.to ?? null, msg.reason);
      case "handover_pending":
        return this.onPending(msg, nowMs);
      case "handover_ended":
        return this.onEnded(msg);
      case "refused":
        return this.onRefused(msg, nowMs);
      default:
        return [];
    }
  }

  onPresence(msg, nowMs) {
    this.participants = Array.isArray(msg.participants) ? msg.participants : [];
    this.estopLatched = msg.estop_latched === true;
    const out = [];
    if (Array.isArray(msg.pending)) {
      // the gateway's list is the truth: prompts appear after a reload, vanish when they end
      const known = new Set();
      for (const p of msg.pending) {
        known.add(p.arm);
        const before = this.pending.get(p.arm);
        if (before === undefined || before.request_id !== p.request_id || before.requester !== p.requester) {
          out.push(...this.onPending(p, nowMs));
        } else {
          before.deadlineAtMs = nowMs + Math.max(0, Number(p.deadline_ms) || 0);
        }
      }
      for (const arm of [...this.pending.keys()]) if (!known.has(arm)) this.pending.delete(arm);
    }
    for (const [arm, holder] of Object.entries(msg.controllers ?? {})) {
      if (!(arm in this.controllers)) this.controllers[arm] = null;
      if (this.controllers[arm] !== holder) out.push(...this.onControlChanged(arm, this.controllers[arm], holder, "presence"));
    }
    return out;
  }

  onControlChanged(arm, from, to, reason) {
    if (!(arm in this.controllers)) this.arms.push(arm);
    const before = this.controllers[arm] ?? null;
    this.controllers[arm] = to;
    const pending = this.pending.get(arm);
    if (pending !== undefined && (pending.holder !== to || pending.requester === to)) this.pending.delete(arm);
    if (before === to) return [];
    const why = reason && reason !== "presence" ? ` (${reason})` : "";
    if (to === this.consoleId) {
      const from = before === null ? "" : `, from ${this.label(before)}`;
      return [notice("info", `You control ${arm} now${why}${from}: ` +
        "it holds until you press the clutch (Space) or Enter to engage with alignment", { gained: arm, reason })];
    }
    if (before === this.consoleId) {
      this.lostAtMs = this.nowMs;
      return [notice(reason === "released" ? "info" : "warning", `${arm} is no longer yours${why}: ${this.label(to)} controls it`, { lost: arm })];
    }
    return [notice("info", `${arm}: ${this.label(before)} → ${this.label(to)}${why}`)];
  }

  onPending(msg, nowMs) {
    const p = {
      arm: msg.arm,
      request_id: msg.request_id,
      requester: msg.requester,
      holder: msg.holder,
      deadlineAtMs: nowMs + Math.max(0, Number(msg.deadline_ms) || 0),
    };
    this.pending.set(msg.arm, p);
    if (p.holder === this.consoleId) {
      return [notice("warning", `${this.label(p.requester)} asks for ${p.arm}: grant (G) or deny (N)`, { prompt: p.arm })];
    }
    if (p.requester === this.consoleId) {
      return [notice("info", `Asked ${this.label(p.holder)} for ${p.arm}: waiting for the answer`)];
    }
    return [];
  }

  onEnded(msg) {
    const p = this.pending.get(msg.arm);
    if (p !== undefined && p.request_id === msg.request_id && p.requester === msg.requester) this.pending.delete(msg.arm);
    if (msg.requester === this.consoleId) {
      this.outgoing.delete(msg.request_id);
      if (msg.outcome === "granted") return [];
      return [notice("warning", `Your request for ${msg.arm} ended: ${String(msg.outcome).replaceAll("_", " ")}`)];
    }
    return [];
  }

  onRefused(msg, nowMs) {
    const sent = msg.request_id === null || msg.request_id === undefined ? undefined : this.outgoing.get(msg.request_id);
    if (sent !== undefined) this.outgoing.delete(msg.request_id);
    const entry = { kind: msg.kind, request_id: msg.request_id ?? null, code: msg.code ?? null, reason: msg.reason, arm: sent?.arm ?? null };
    this.refusals.push(entry);
    if (this.refusals.length > MAX_REFUSALS) this.refusals.shift();
    // commands already in flight when an arm changed hands are refused: expected, recorded only
    if (msg.kind === "control" && nowMs - this.lostAtMs < LOST_QUIET_MS) return [];
    return [notice("warning", `Refused ${String(msg.kind).replaceAll("_", " ")}: ${msg.reason}`)];
  }
}
