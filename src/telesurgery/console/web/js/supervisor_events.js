// What the console does about each supervisor event (JSON from the events channel, see
// telesurgery.safety.events): a pure mapping to alarm / note / state actions, so that it can be
// tested without a page. Alarm keys: "latency" (this console's link), "latency:<CONSOLE>" (another
// controlling console's link), "arm:<ARM>", "estop", "robot" (the gateway lost the robot).
import { Severity } from "./alarms.js";

/**
 * @param {object} ev the event, e.g. {event: "WatchdogHold", arm: "PSM1", now_s: ...}
 * @param {{holdAfterMs: number, clutchedArm: string | null, consoleId: string}} ctx
 * @returns {Array<object>} actions: {raise: [key, severity, text]} | {clear: key} | {note: text}
 *   | {estop: boolean} | {controller: [arm, holder]}
 */
export function reactionTo(ev, ctx) {
  const arm = ev.arm;
  switch (ev.event) {
    case "LatencyAlarm": {
      // each operating console's link is judged on its own: another's stops only its arms
      const [key, whose] = latencyAlarmKey(ev, ctx);
      const stop = ev.level === "stop";
      const text =
        `${whose}${stop ? "LATENCY STOP" : "Latency warning"}: RTT ${Math.round(ev.rtt_ms)} ms > ` +
        `${Math.round(ev.threshold_ms)} ms${stop ? (whose ? "; the arms it drives are held" : "; arms held") : ""}`;
      return [{ raise: [key, stop ? Severity.CRITICAL : Severity.WARNING, text] }];
    }
    case "LatencyRecovered": {
      const [key, whose] = latencyAlarmKey(ev, ctx);
      return ev.level === "ok"
        ? [{ clear: key }]
        : [{ raise: [key, Severity.WARNING, `${whose}Latency warning: RTT ${Math.round(ev.rtt_ms)} ms`] }];
    }
    case "RobotNotServed":
      // from the gateway, not the supervisor: the patient process or its servo loop ended
      return [{ raise: ["robot", Severity.CRITICAL, `ROBOT NOT SERVED: ${ev.detail}`] }];
    case "WatchdogHold":
      if (ctx.clutchedArm === arm) return [{ note: `${arm} holds while the clutch is pressed` }];
      return [{ raise: [`arm:${arm}`, Severity.CRITICAL, `${arm} HOLDING: no command for ${ctx.holdAfterMs} ms (watchdog)`] }];
    case "Disengaged":
      if (ev.cause === "operator_release") {
        // its surgeon released it (Enter): expected, not a fault
        return [{
          note: ev.by_console_id === ctx.consoleId
            ? `${arm} released: it holds until you engage again`
            : `${arm} released by ${ev.by_console_id}`,
        }];
      }
      if (ev.cause === "controller_changed") {
        // a handover, not a fault: the control panel says who has the arm and what to do
        return [{ note: `${arm} changed hands: it holds until its controller engages` }];
      }
      if (ev.cause === "watchdog_disengage" && ctx.clutchedArm === arm) {
        return [{ note: `${arm} disengaged during the clutch: it re-engages when you release it` }];
      }
      return [{ raise: [`arm:${arm}`, Severity.CRITICAL, `${arm} DISENGAGED (${ev.cause}): press Enter to engage again`] }];
    case "Engaged":
      return [{ clear: `arm:${arm}` }];
    case "ArmStateChanged":
      return ev.new === "following" ? [{ clear: `arm:${arm}` }] : [];
    case "EngageRefused":
      // retries crossing a state update need no action from the surgeon
      if (ev.reason === "already_engaged" || ev.reason === "no_recent_command") return [];
      return [{ note: `${arm} engage refused (${ev.reason}): ${ev.detail}` }];
    case "EStopLatched":
      return [
        { estop: true },
        { clear: "estop-local" },
        { raise: ["estop", Severity.CRITICAL, `E-STOP LATCHED by ${ev.by_console_id} (${ev.role}): only the bedside can clear it`] },
      ];
    case "EStopCleared":
      return [{ estop: false }, { clear: "estop" }, { clear: "estop-local" }];
    case "EStopRefused":
    case "EStopClearRefused":
      return [{ note: `${ev.event}: ${ev.detail}` }];
    case "ControllerChanged":
      return [{ controller: [arm, ev.new] }];
    default:
      return [];
  }
}

/** The alarm key and text prefix of a latency event: this console's own link (or one not named)
 * is "latency"; another console's is "latency:<id>", prefixed with whose link it is. */
function latencyAlarmKey(ev, ctx) {
  const other = typeof ev.console_id === "string" && ev.console_id !== ctx.consoleId;
  return other ? [`latency:${ev.console_id}`, `${ev.console_id}'s link: `] : ["latency", ""];
}
