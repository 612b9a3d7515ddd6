// The control panel: per arm, who holds it and the buttons this console's role may use
// (Request / Release / Take / Reassign), and the Grant / Deny prompt with its countdown when
// another console asks for an arm this console holds. Renders a ControlBoard; sends through
// `send` (the events channel). Rows and buttons are built once and updated in place, so
// keyboard focus survives every refresh.

export class ControlPanel {
  /**
   * @param {{rows: HTMLElement, prompt: HTMLElement, promptText: HTMLElement,
   *   grant: HTMLButtonElement, deny: HTMLButtonElement}} el
   * @param {import("./control_board.js").ControlBoard} board
   * @param {(message: object) => boolean} send
   */
  constructor(el, board, send) {
    this.el = el;
    this.board = board;
    this.send = send;
    this.rows = new Map();
    this.promptArm = null;
    el.grant.addEventListener("click", () => this.answer(true));
    el.deny.addEventListener("click", () => this.answer(false));
  }

  row(arm) {
    let row = this.rows.get(arm);
    if (row !== undefined) return row;
    const tr = document.createElement("tr");
    tr.dataset.arm = arm;
    const cell = () => tr.appendChild(document.createElement("td"));
    const name = cell();
    name.textContent = arm;
    name.className = "arm";
    const holder = cell();
    holder.className = "holder";
    const status = cell();
    status.className = "status";
    const actions = cell();
    actions.className = "actions";
    const button = (act, text, title, onClick) => {
      const b = document.createElement("button");
      b.dataset.act = act;
      b.textContent = text;
      b.title = title;
      b.addEventListener("click", onClick);
      actions.append(b);
      return b;
    };
    const request = button("request", "Request", `Ask the holder for ${arm}`, () => this.send(this.board.request(arm)));
    const release = button("release", "Release", `Let go of ${arm} (it holds with no controller)`, () => this.send(this.board.release(arm)));
    const take = button("take", "Take", `Take ${arm} now (bedside)`, () => this.send(this.board.take(arm)));
    const to = document.createElement("select");
    to.dataset.act = "reassign-to";
    to.setAttribute("aria-label", `Reassign ${arm} to`);
    actions.append(to);
    const reassign = button("reassign", "Reassign", `Give ${arm} to the console chosen on the left (lead)`, () => {
      if (to.value) this.send(this.board.reassign(arm, to.value));
    });
    row = { tr, holder, status, request, release, take, to, reassign };
    this.rows.set(arm, row);
    this.el.rows.append(tr);
    return row;
  }

  answer(grant) {
    const arm = this.promptArm;
    if (arm === null) return false;
    const message = this.board.answer(arm, grant);
    if (message === null) return false;
    this.board.pending.delete(arm);
    this.send(message);
    this.render(performance.now());
    return true;
  }

  render(nowMs) {
    const board = this.board;
    board.expire(nowMs);
    for (const arm of board.arms) {
      const r = this.row(arm);
      const holder = board.controllers[arm] ?? null;
      const a = board.actions(arm);
      r.tr.classList.toggle("mine", holder === board.consoleId);
      r.tr.dataset.holder = holder ?? "";
      r.holder.textContent = holder === null ? "free" : board.label(holder);
      const p = board.pending.get(arm);
      r.status.textContent = p === undefined ? "" : p.requester === board.consoleId
        ? "asked…"
        : `${board.label(p.requester)} asks`;
      r.request.hidden = !a.request;
      r.release.hidden = !a.release;
      r.take.hidden = !a.take;
      const options = a.reassignTo.map((id) => `${id}`);
      const current = [...r.to.options].map((o) => o.value);
      if (current.join("\n") !== options.join("\n")) {
        const chosen = r.to.value;
        r.to.replaceChildren(...options.map((id) => {
          const o = document.createElement("option");
          o.value = id;
          o.textContent = board.participant(id)?.display_name || id;
          o.title = board.label(id);
          return o;
        }));
        if (options.includes(chosen)) r.to.value = chosen;
      }
      r.to.hidden = r.reassign.hidden = options.length === 0;
    }
    this.renderPrompt(nowMs);
  }

  renderPrompt(nowMs) {
    const prompt = this.board.prompts()[0] ?? null;
    const el = this.el;
    if (prompt === null) {
      if (!el.prompt.hidden) el.prompt.hidden = true;
      this.promptArm = null;
      return;
    }
    const leftS = Math.max(0, Math.ceil((prompt.deadlineAtMs - nowMs) / 1000));
    el.promptText.textContent =
      `${this.board.label(prompt.requester)} asks for ${prompt.arm} — ${leftS} s left (no answer = denied)`;
    el.prompt.dataset.arm = prompt.arm;
    if (el.prompt.hidden) {
      el.prompt.hidden = false;
      this.promptArm = prompt.arm;
    }
    this.promptArm = prompt.arm;
  }
}
