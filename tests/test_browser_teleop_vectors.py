"""The browser console's conditioning (``console/web/js/teleop/``) against the shared vectors.

The same JSON files that ``tests/test_teleop_vectors.py`` replays through the Python pipeline are
replayed here through the JavaScript modules the browser loads, unchanged, in Node (the V8 engine
Chromium uses; JavaScript never fuses multiply-adds). Booleans, states and null-ness must match
exactly, numbers within each file's tolerances (``docs/teleop-spec.md`` section 12).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TELEOP_JS = ROOT / "src" / "telesurgery" / "console" / "web" / "js" / "teleop"
VECTORS = ROOT / "tests" / "vectors" / "teleop"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

# Replays one vector file (path in argv) and prints {"checked": n} or exits 1 with the mismatch.
REPLAY_JS = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [teleopDir, vectorPath] = process.argv.slice(1);
const load = (name) => import(pathToFileURL(`${teleopDir}/${name}`).href);
const { TremorFilter } = await load("tremor.js");
const { delayGain } = await load("scaling.js");
const { configFromJson } = await load("config.js");
const { TeleopPipeline } = await load("pipeline.js");
const vector = JSON.parse(readFileSync(vectorPath, "utf8"));
const tol = vector.tolerance;
let checked = 0;
function fail(where, what, actual, expected) {
  console.log(JSON.stringify({ where, what, actual, expected }));
  process.exit(1);
}
function close(where, what, actual, expected, tolerance) {
  checked++;
  const ok = Number.isFinite(actual) && Math.abs(actual - expected) <= tolerance;
  if (!ok) fail(where, what, actual, expected);
}
function same(where, what, actual, expected) {
  checked++;
  if (actual !== expected) fail(where, what, actual, expected);
}
if (vector.kind === "tremor") {
  const filter = new TremorFilter(configFromJson({ tremor: vector.tremor }).tremor);
  vector.steps.forEach((step, i) => {
    const y = filter.update(step.timestamp_s, step.x);
    same(i, "restarted", filter.restarted, step.restarted);
    for (let k = 0; k < 3; k++) close(i, `y[${k}]`, y[k], step.y[k], tol.position_m);
  });
} else if (vector.kind === "delay_gain") {
  const json = { scaling: { delay_adaptive: vector.delay_adaptive } };
  const config = configFromJson(json).scaling.delay_adaptive;
  vector.steps.forEach((step, i) => {
    close(i, "gain", delayGain(config, step.rtt_ms), step.gain, tol.scale);
  });
} else if (vector.kind === "pipeline") {
  const pipeline = new TeleopPipeline(vector.config);
  const tool = {};
  vector.steps.forEach((step, i) => {
    const given = step.input;
    for (const key of ["T_rcm_tip", "tool_jaw_rad", "T_world_camera", "T_world_rcm", "rtt_ms"]) {
      if (key in given) tool[key] = given[key];
    }
    const out = pipeline.step(
      {
        timestamp_s: given.timestamp_s,
        T_console_master: given.T_console_master,
        jaw_rad: given.jaw_rad,
        clutch_pressed: given.clutch_pressed,
      },
      {
        T_rcm_tip: tool.T_rcm_tip,
        jaw_rad: tool.tool_jaw_rad,
        T_world_camera: tool.T_world_camera,
        T_world_rcm: tool.T_world_rcm,
        rtt_ms: tool.rtt_ms,
      },
    );
    const e = step.expected;
    const s = out.status;
    same(i, "state", s.state, e.state);
    same(i, "jaw_caught_up", s.jaw_caught_up, e.jaw_caught_up);
    same(i, "filter_restarted", s.filter_restarted, e.filter_restarted);
    close(i, "scale", s.scale, e.scale, tol.scale);
    close(i, "tolerance_rad", s.tolerance_rad, e.tolerance_rad, tol.angle_rad);
    const error = e.alignment_error_rad;
    if (error === null) same(i, "alignment_error_rad", s.alignment_error_rad, null);
    else close(i, "alignment_error_rad", s.alignment_error_rad, error, tol.angle_rad);
    if (e.target === null) { same(i, "target", out.target, null); return; }
    if (out.target === null) fail(i, "target", null, e.target);
    const [a, x] = [out.target, e.target];
    for (let k = 0; k < 3; k++) close(i, `p${k}`, a.position_m[k], x.position_m[k], tol.position_m);
    for (let k = 0; k < 4; k++) close(i, `q[${k}]`, a.quat_xyzw[k], x.quat_xyzw[k], tol.quat_xyzw);
    close(i, "jaw_rad", out.target.jaw_rad, e.target.jaw_rad, tol.jaw_rad);
  });
} else {
  fail(-1, "kind", vector.kind, "tremor | delay_gain | pipeline");
}
console.log(JSON.stringify({ checked, steps: vector.steps.length }));
"""


def _replay(path: Path) -> dict[str, int]:
    result = subprocess.run(
        ["node", "--input-type=module", "-e", REPLAY_JS, "--", str(TELEOP_JS), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{path.stem}: {result.stdout} {result.stderr}"
    summary: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.json")), ids=lambda p: p.stem)
def test_browser_conditioning_matches_vectors(path: Path) -> None:
    summary = _replay(path)
    vector = json.loads(path.read_text())
    assert summary["steps"] == len(vector["steps"]) > 0
    assert summary["checked"] >= summary["steps"]


def test_browser_config_errors_list_valid_values() -> None:
    script = r"""
    import { pathToFileURL } from "node:url";
    const { configFromJson } = await import(pathToFileURL(process.argv[1] + "/config.js").href);
    const messages = [];
    for (const bad of [{ scaling: { ratio: 0 } }, { jaw: { min_rad: 2 } }, { tremr: {} }]) {
      try {
        configFromJson(bad);
        messages.push("accepted");
      } catch (e) {
        messages.push(e.message);
      }
    }
    console.log(JSON.stringify(messages));
    """
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script, "--", str(TELEOP_JS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    ratio, jaw, unknown = json.loads(result.stdout)
    assert ratio.startswith("invalid scaling.ratio=0: valid is a finite ratio > 0")
    assert "min_rad < max_rad" in jaw
    assert "valid is one of the fields scaling, tremor, alignment, jaw" in unknown
