// The heads-up display over the video: link, latency, command rate, video, arms, controllers.

const fmt = (v, digits = 1, unit = "") => (v === null || v === undefined || Number.isNaN(v) ? "–" : `${v.toFixed(digits)}${unit}`);

export class Hud {
  constructor(el) {
    this.el = el;
    this.notes = [];
    this.events = [];
  }

  setPhase(phase, text) {
    this.el.phase.textContent = text;
    this.el.phase.dataset.phase = phase;
  }

  note(text) {
    this.el.note.textContent = text;
    this.el.note.hidden = false;
    clearTimeout(this.noteTimer);
    this.noteTimer = setTimeout(() => { this.el.note.hidden = true; }, 4000);
  }

  log(event) {
    this.events.push(event);
    if (this.events.length > 50) this.events.shift();
  }

  render(s) {
    const el = this.el;
    el.link.dataset.level = s.link;
    el.link.textContent = { green: "LINK OK", amber: "LINK DEGRADED", red: "LINK DOWN" }[s.link];
    el.rtt.textContent = fmt(s.rtt_ms, 1, " ms");
    el.g2g.textContent = fmt(s.g2g_ms, 0, " ms");
    el.rate.textContent = `${s.command_rate_hz} /s`;
    const v = s.video;
    el.videoInfo.textContent =
      `${v.width ?? "–"}×${v.height ?? "–"} · ${fmt(v.fps, 0, " fps")} · ${fmt(v.bitrate_bps === null ? null : v.bitrate_bps / 1e6, 2, " Mbit/s")}`;
    el.frame.textContent = v.frame_number ?? "–";
    const t = s.teleop;
    el.mode.textContent =
      `${s.engaged ? (s.clutch ? "CLUTCH" : "ENGAGED") : "NOT ENGAGED"} · ${s.arm} · ${s.scale}` +
      (t ? ` · ${t.state}${t.alignment_error_rad !== null ? ` (${(t.alignment_error_rad * 180 / Math.PI).toFixed(1)}°)` : ""}` : "") +
      (s.control_note ? ` · ${s.control_note}` : "");
    el.mode.title = el.mode.textContent; // the whole line when it is cut short
    el.mode.dataset.engaged = s.engaged ? (s.clutch ? "clutch" : s.control_note ? "waiting" : "on") : "off";
    const rows = s.arms.map((a) => {
      const mine = a.controller === s.console_id;
      return `<tr data-state="${a.supervisor_state}"${a.arm === s.arm ? ' class="selected"' : ""}>` +
        `<td>${a.arm}</td><td class="sup">${a.supervisor_state}</td><td>${a.operating_state}</td>` +
        `<td>${a.controller === null ? "—" : mine ? "you" : escapeHtml(a.controller)}</td>` +
        `<td>${fmt(a.command_age_ms, 0, " ms")}</td></tr>`;
    });
    el.arms.innerHTML = rows.join("");
    el.armsPanel.classList.toggle("stale", s.link === "red" && s.state_age_ms > 250);
    for (const b of el.armButtons) b.classList.toggle("on", b.dataset.arm === s.arm);
  }
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
