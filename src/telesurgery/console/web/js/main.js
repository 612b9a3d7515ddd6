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
  engage: $("engage"),
  estop: $("estop"),
  clearEstop: $("clear-estop"),
  help: $("help"),
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
elements.clearEstop.hidden = options.role !== "bedside";
const app = new ConsoleApp(options, elements);
window.consoleApp = app;
app.start();
