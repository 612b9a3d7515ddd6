// Team chat: the log of chat messages and the panel that shows it and sends new ones
// ({"type": "chat", "text"} out, {"type": "chat", "from", "role", "display_name", "text", "at_ms"}
// in; docs/protocol.md, "Events channel").

/** Longest chat message [characters] (the protocol's limit). */
export const MAX_CHAT_CHARS = 500;
/** Messages kept in the panel. */
export const MAX_CHAT_LINES = 200;

/** Why `text` cannot be sent (what is valid), or null. */
export function chatProblem(text) {
  const n = [...text].length;
  if (text.trim().length === 0) return "empty message: write 1..500 characters";
  if (n > MAX_CHAT_CHARS) return `${n} characters: at most ${MAX_CHAT_CHARS}`;
  return null;
}

/** "HH:MM:SS" of a gateway wall time [ms since the epoch] in the viewer's time zone. */
export function clockText(atMs) {
  const d = new Date(atMs);
  const two = (x) => String(x).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export class ChatPanel {
  /**
   * @param {{log: HTMLElement, form: HTMLFormElement, input: HTMLInputElement}} el
   * @param {(text: string) => boolean} send sends one chat message; false if it could not
   * @param {(text: string) => void} tell shows a note to the user
   */
  constructor(el, send, tell) {
    this.el = el;
    this.send = send;
    this.tell = tell;
    this.lines = [];
    this.enabled = true;
    el.input.maxLength = MAX_CHAT_CHARS;
    el.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  /** Observers read the chat; the input is for roles that may write. */
  setEnabled(on) {
    this.enabled = on;
    this.el.form.hidden = !on;
  }

  submit() {
    const text = this.el.input.value;
    const problem = chatProblem(text);
    if (problem !== null) {
      this.tell(`Chat not sent: ${problem}`);
      return false;
    }
    if (!this.send(text.trim())) {
      this.tell("Chat not sent: the events channel is not open");
      return false;
    }
    this.el.input.value = "";
    this.el.input.blur(); // the keys go back to the robot
    return true;
  }

  /** A chat message from the gateway (every message, the console's own included). */
  add(msg) {
    const line = {
      from: String(msg.from ?? "?"),
      role: String(msg.role ?? ""),
      display_name: String(msg.display_name || msg.from || "?"),
      text: String(msg.text ?? ""),
      at_ms: typeof msg.at_ms === "number" && msg.at_ms > 1e12 ? msg.at_ms : Date.now(),
    };
    this.lines.push(line);
    if (this.lines.length > MAX_CHAT_LINES) this.lines.shift();
    const li = document.createElement("li");
    const who = document.createElement("b");
    who.textContent = `${line.display_name}`;
    who.title = `${line.from} (${line.role})`;
    const time = document.createElement("time");
    time.textContent = clockText(line.at_ms);
    li.append(time, " ", who, `: ${line.text}`);
    this.el.log.append(li);
    while (this.el.log.children.length > MAX_CHAT_LINES) this.el.log.firstElementChild.remove();
    this.el.log.scrollTop = this.el.log.scrollHeight;
    return line;
  }
}
