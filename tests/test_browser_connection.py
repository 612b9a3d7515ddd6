"""The browser console's connection (``js/connection.js``): the ping rate the gateway asks for.

Run in Node: the module's pure parts need no page.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS = Path(__file__).resolve().parent.parent / "src" / "telesurgery" / "console" / "web" / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

SCRIPT = r"""
import { pathToFileURL } from "node:url";
const { answeredPingHz } = await import(pathToFileURL(`${process.argv[1]}/connection.js`).href);
const answers = JSON.parse(process.argv[2]);
console.log(JSON.stringify(answers.map((a) => {
  try { return answeredPingHz(a); } catch (e) { return `${e.name}: ${e.message}`; }
})));
"""


def answered(*answers: dict[str, Any]) -> list[Any]:
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, "--", str(JS), json.dumps(answers)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out: list[Any] = json.loads(result.stdout)
    return out


def test_the_page_pings_at_the_rate_the_gateway_answered() -> None:
    surgeon, observer, silent = answered({"ping_interval_ms": 100}, {"ping_interval_ms": 1000}, {})
    assert (surgeon, observer) == (10, 1)
    assert silent == 10  # a gateway that names no interval: 10 Hz


def test_a_bad_interval_in_the_answer_is_a_connect_error_naming_the_valid_range() -> None:
    for bad in ("fast", 5, 20000, True):
        (error,) = answered({"ping_interval_ms": bad})
        assert error.startswith("ConnectError: the gateway's answer has ping_interval_ms="), error
        assert "expected a number of milliseconds in 10..10000" in error
