// Presence: everyone connected to the operation, their role, link quality and arms.

const LINK_TEXT = Object.freeze({ green: "good link", amber: "degraded link", red: "link lost" });

export class PresencePanel {
  /** @param {HTMLElement} list an <ul> */
  constructor(list) {
    this.list = list;
  }

  /**
   * @param {Array<{console_id: string, role: string, display_name: string, rtt_ms: number | null,
   *   link: string, arms: string[]}>} participants
   * @param {string} selfId
   */
  render(participants, selfId) {
    const items = participants.map((p) => {
      const li = document.createElement("li");
      li.dataset.consoleId = p.console_id;
      li.dataset.link = p.link;
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.dataset.level = p.link;
      dot.title = LINK_TEXT[p.link] ?? p.link;
      dot.setAttribute("aria-label", dot.title);
      const name = document.createElement("span");
      name.className = "who";
      name.textContent = `${p.display_name || p.console_id}${p.console_id === selfId ? " (you)" : ""}`;
      name.title = p.console_id;
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = p.role;
      const rtt = document.createElement("span");
      rtt.className = "rtt";
      rtt.textContent = typeof p.rtt_ms === "number" ? `${Math.round(p.rtt_ms)} ms` : "–";
      const arms = document.createElement("span");
      arms.className = "arms";
      arms.textContent = (p.arms ?? []).join(" ");
      li.append(dot, name, role, rtt, arms);
      return li;
    });
    this.list.replaceChildren(...items);
  }
}
