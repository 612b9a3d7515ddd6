"""The browser console's wire codec (``console/web/js/protocol.js``) against the golden bytes.

The annotated ``tests/golden/*.hex`` files that pin the Python codec byte for byte are read here by
the JavaScript module the browser loads (in Node): the console must write the documented CONTROL
and PING/PONG bytes and read the documented ROBOT_STATE exactly, and reject malformed input
with a message that says what is valid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "src" / "telesurgery" / "console" / "web" / "js"
GOLDEN = ROOT / "tests" / "golden"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

SCRIPT = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [jsDir, goldenDir] = process.argv.slice(1);
const p = await import(pathToFileURL(`${jsDir}/protocol.js`).href);
const s = await import(pathToFileURL(`${jsDir}/stamp.js`).href);
const golden = (name) => {
  const hex = readFileSync(`${goldenDir}/${name}.hex`, "utf8")
    .split("\n").map((line) => line.split("#")[0].replace(/\s+/g, "")).join("");
  return Buffer.from(hex, "hex");
};
const hex = (buffer) => Buffer.from(buffer).toString("hex");
const control = p.encodeControl({
  session_id: 7, seq: 42, sent_time_ns: 1700000000123456789n,
  flags: p.ControlFlag.OPERATOR_PRESENT | p.ControlFlag.ENGAGE_REQUEST,
  targets: [
    { arm: "PSM1", position_m: [0.015625, -0.03125, -0.125], quat_xyzw: [0, 0, 0, 1],
      jaw_rad: 0.5 },
    { arm: "ECM", position_m: [0, 0, -0.0625],
      quat_xyzw: [0, 0, Math.SQRT1_2, Math.SQRT1_2], jaw_rad: null },
  ],
});
const state = p.decode(golden("robot_state_psm2"));
state.gateway_time_ns = String(state.gateway_time_ns);
const pong = p.decode(golden("pong"));
const errors = [];
for (const bad of ["", "5453", "545302020006", "545301090006"]) {
  try { p.decode(Buffer.from(bad, "hex")); errors.push("accepted"); }
  catch (e) { errors.push(`${e.name}: ${e.message}`); }
}
const crc = s.crc16Ccitt(Buffer.from("123456789"));
console.log(JSON.stringify({
  control: [hex(control), hex(golden("control_psm1_ecm"))],
  ping: [hex(p.encodePing(3, 1000n)), hex(golden("ping"))],
  pong: [hex(p.encodePong(3, 1000n, -5000000n, -4990000n)), hex(golden("pong"))],
  pong_decoded: [pong.ping_id, String(pong.t0_ns), String(pong.t1_ns), String(pong.t2_ns)],
  state, errors, crc,
}));
"""


def test_browser_codec_matches_golden_bytes() -> None:
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, "--", str(JS), str(GOLDEN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(result.stdout)
    for name in ("control", "ping", "pong"):
        written, expected = out[name]
        assert written == expected, name
    assert out["pong_decoded"] == [3, "1000", "-5000000", "-4990000"]
    (arm,) = out["state"]["arms"]
    assert out["state"]["seq"] == 9 and out["state"]["gateway_time_ns"] == "1700000000200000000"
    assert arm["arm"] == "PSM2" and arm["operating_state"] == "ENABLED"
    assert arm["supervisor_state"] == "FOLLOWING" and arm["is_homed"] and not arm["is_busy"]
    assert arm["measured_position_m"] == [0.25, 0.0, -0.125]
    assert arm["measured_quat_xyzw"] == [1.0, 0.0, 0.0, 0.0]
    assert (arm["measured_jaw_rad"], arm["setpoint_jaw_rad"]) == (0.25, 0.375)
    assert (arm["last_command_seq"], arm["last_command_age_us"]) == (41, 71500)
    empty, short, version, _ = out["errors"]
    assert empty.startswith("ProtocolError: message of 0 bytes is shorter than the 6-byte header")
    assert "shorter than the 6-byte header" in short
    assert version == ("ProtocolError: unsupported protocol version 2: this peer speaks version 1")
    assert "accepted" not in out["errors"]
    assert out["crc"] == 0x29B1  # CRC-16/CCITT-FALSE check value
