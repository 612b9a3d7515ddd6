// Entry point: read the query, build the console, expose it for diagnostics as window.consoleApp.
import { ConsoleApp, optionsFromQuery } from "./app.js";

const $ = (id) => document.getElementById(id);
const elements = {
  stage: $("stage"),
  video: $("video"),
  banner: $("banner"),
  phase: $("phase"),
  note: $("note"),
  link: $("link"),
  role: $("role"),
  rtt: $("rtt"),
  g2g: $("g2g"),
  rate: $("rate"),
  videoInfo: $("video-info"),
  frame: $("frame"),
  mode: $("mode"),
  arms: $("arms"),
  armsPanel: $("arms-panel"),
  armButtons: [...document.querySelectorAll("[data-arm]")],
  scale: $("scale"),
  scaleLabel: $("scale-label"),
  engage: $("engage"),
  estop: $("estop"),
  clearEstop: $("clear-estop"),
  help: $("help"),
  // the team: control of the arms, presence, telestration, chat
  controlRows: $("control-rows"),
  handoverPrompt: $("handover-prompt"),
  handoverText: $("handover-text"),
  grant: $("grant"),
  deny: $("deny"),
  presence: $("presence"),
  telestration: $("telestration"),
  drawTools: $("draw-tools"),
  draw: $("draw"),
  drawColor: $("draw-color"),
  clearMine: $("clear-mine"),
  clearAll: $("clear-all"),
  chatLog: $("chat-log"),
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
};
$("help-button").addEventListener("click", () => elements.help.toggleAttribute("hidden"));

let options;
try {
  options = optionsFromQuery(window.location.search);
} catch (error) {
  elements.banner.hidden = false;
  elements.banner.className = "banner critical";
  elements.banner.textContent = error.message;
  throw error;
}
elements.scale.value = options.scale;
const app = new ConsoleApp(options, elements);
window.consoleApp = app;
// until the gateway confirms it; with a token the role is unknown (nothing to operate) until then
if (options.token === null) app.setIdentity(options.consoleId, options.role);
else app.setIdentity(options.consoleId, "observer", { pending: true });
app.start();
