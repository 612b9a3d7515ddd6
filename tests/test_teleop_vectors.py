"""The JSON test vectors: they regenerate identically and replay through a fresh pipeline.

The replay below is the reference harness: the browser implementation runs the same files through
its own pipeline and must meet the same per-file tolerances.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from telesurgery.teleop.config_json import config_from_json
from telesurgery.teleop.pipeline import TeleopPipeline
from telesurgery.teleop.scaling import DelayAdaptiveConfig, delay_gain
from telesurgery.teleop.tremor import TremorFilter
from telesurgery.teleop.types import MasterSample, ToolState

VECTORS = Path(__file__).resolve().parent / "vectors" / "teleop"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "teleop_vectors_generate", VECTORS / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_vectors_regenerate_identically() -> None:
    generated: dict[str, str] = _generator().build_all()
    on_disk = {path.name: path.read_text() for path in VECTORS.glob("*.json")}
    assert sorted(generated) == sorted(on_disk)
    for name, text in generated.items():
        assert text == on_disk[name], f"{name} differs: run tests/vectors/teleop/generate.py"


def _files() -> list[Path]:
    return sorted(VECTORS.glob("*.json"))


def _close(actual: float, expected: float, tolerance: float) -> bool:
    return math.isfinite(actual) and abs(actual - expected) <= tolerance


def _replay_tremor(vector: dict[str, Any]) -> None:
    config = config_from_json({"tremor": vector["tremor"]}).tremor
    tremor = TremorFilter(config)
    tol = vector["tolerance"]["position_m"]
    for index, step in enumerate(vector["steps"]):
        y = tremor.update(step["timestamp_s"], np.array(step["x"]))
        assert tremor.restarted == step["restarted"], index
        assert all(_close(float(a), e, tol) for a, e in zip(y, step["y"], strict=True)), index


def _replay_delay_gain(vector: dict[str, Any]) -> None:
    config = DelayAdaptiveConfig(**vector["delay_adaptive"])
    for step in vector["steps"]:
        assert _close(
            delay_gain(config, step["rtt_ms"]), step["gain"], vector["tolerance"]["scale"]
        )


def _replay_pipeline(vector: dict[str, Any]) -> None:
    pipeline = TeleopPipeline(config_from_json(vector["config"]))
    tol = vector["tolerance"]
    tool: dict[str, Any] = {}
    for index, step in enumerate(vector["steps"]):
        given = step["input"]
        for key in ("T_rcm_tip", "tool_jaw_rad", "T_world_camera", "T_world_rcm", "rtt_ms"):
            if key in given:
                tool[key] = given[key]
        out = pipeline.step(
            MasterSample(
                timestamp_s=given["timestamp_s"],
                T_console_master=np.array(given["T_console_master"]),
                jaw_rad=given["jaw_rad"],
                clutch_pressed=given["clutch_pressed"],
            ),
            ToolState(
                T_rcm_tip=np.array(tool["T_rcm_tip"]),
                jaw_rad=tool["tool_jaw_rad"],
                T_world_camera=np.array(tool["T_world_camera"]),
                T_world_rcm=np.array(tool["T_world_rcm"]),
                rtt_ms=tool["rtt_ms"],
            ),
        )
        expected = step["expected"]
        status = out.status
        where = f"{vector['name']} step {index}"
        assert status.state.value == expected["state"], where
        assert status.jaw_caught_up == expected["jaw_caught_up"], where
        assert status.filter_restarted == expected["filter_restarted"], where
        assert _close(status.scale, expected["scale"], tol["scale"]), where
        assert _close(status.tolerance_rad, expected["tolerance_rad"], tol["angle_rad"]), where
        if expected["alignment_error_rad"] is None:
            assert status.alignment_error_rad is None, where
        else:
            assert status.alignment_error_rad is not None, where
            assert _close(
                status.alignment_error_rad, expected["alignment_error_rad"], tol["angle_rad"]
            ), where
        if expected["target"] is None:
            assert out.target is None, where
            continue
        assert out.target is not None, where
        target = expected["target"]
        for a, e in zip(out.target.position_m, target["position_m"], strict=True):
            assert _close(float(a), e, tol["position_m"]), where
        for a, e in zip(out.target.quat_xyzw, target["quat_xyzw"], strict=True):
            assert _close(float(a), e, tol["quat_xyzw"]), where
        assert _close(out.target.jaw_rad, target["jaw_rad"], tol["jaw_rad"]), where


REPLAYERS = {
    "tremor": _replay_tremor,
    "delay_gain": _replay_delay_gain,
    "pipeline": _replay_pipeline,
}


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_vector_replays_within_tolerance(path: Path) -> None:
    vector = json.loads(path.read_text())
    assert vector["format"] == "telesurgery-teleop-vectors/1"
    assert vector["name"] == path.stem
    REPLAYERS[vector["kind"]](vector)


def test_vectors_cover_every_state_and_event() -> None:
    states: set[str] = set()
    restarts = engaged_after_clutch = 0
    for path in _files():
        vector = json.loads(path.read_text())
        if vector["kind"] != "pipeline":
            continue
        previous = None
        for step in vector["steps"]:
            expected = step["expected"]
            states.add(expected["state"])
            restarts += expected["filter_restarted"]
            if previous in ("CLUTCHED", "ALIGNING") and expected["state"] == "FOLLOWING":
                engaged_after_clutch += 1
            previous = expected["state"]
    assert states == {"CLUTCHED", "ALIGNING", "FOLLOWING"}
    assert restarts >= 5  # four first samples and at least one gap
    assert engaged_after_clutch >= 3
