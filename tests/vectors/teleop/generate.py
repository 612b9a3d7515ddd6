"""Generate the teleoperation test vectors from the Python implementation.

Run from the repository root::

    .venv/bin/python tests/vectors/teleop/generate.py

Each scenario is written to ``<name>.json`` beside this script; the format is specified in
``docs/teleop-spec.md`` section "Test vectors". ``tests/test_teleop_vectors.py`` regenerates
every file in memory and checks that it is identical, then replays each file through a fresh
pipeline within the stated tolerances (the check the browser implementation must also pass).
Inputs are built from closed-form expressions only (no random generator), so they are stable.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telesurgery.robot.kinematics.rotations import rot_x, rot_y, rot_z
from telesurgery.teleop.alignment import JawConfig
from telesurgery.teleop.camera_frame import R_rcm_console
from telesurgery.teleop.config_json import config_to_json
from telesurgery.teleop.pipeline import TeleopConfig, TeleopPipeline
from telesurgery.teleop.scaling import DelayAdaptiveConfig, ScalingConfig, delay_gain
from telesurgery.teleop.so3 import matmul3
from telesurgery.teleop.tremor import TremorFilter, TremorFilterConfig
from telesurgery.teleop.types import MasterSample, TeleopOutput, ToolState, ToolTarget

FORMAT = "telesurgery-teleop-vectors/1"
HERE = Path(__file__).resolve().parent
TOLERANCE = {
    "position_m": 1e-9,
    "quat_xyzw": 1e-9,
    "jaw_rad": 1e-12,
    "angle_rad": 1e-9,
    "scale": 1e-15,
}


def pose(R: np.ndarray, p: tuple[float, float, float]) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


def rows(T: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in T]


@dataclass
class Step:
    """One pipeline input; tool fields left None carry over from the previous step."""

    t: float
    T_console_master: np.ndarray
    jaw_rad: float
    clutch: bool
    T_rcm_tip: np.ndarray | None = None
    tool_jaw_rad: float | None = None
    T_world_camera: np.ndarray | None = None
    T_world_rcm: np.ndarray | None = None
    rtt_ms: float | str | None = "same"


def run_pipeline(config: TeleopConfig, steps: list[Step]) -> list[dict[str, Any]]:
    """Run the steps; an ideal arm reaches each target, so it becomes the next tool state."""
    pipeline = TeleopPipeline(config)
    tool: dict[str, Any] = {}
    out_steps = []
    previous: TeleopOutput | None = None
    for step in steps:
        if previous is not None and previous.target is not None:
            if step.T_rcm_tip is None:
                step.T_rcm_tip = pose_of_target(previous.target)
            if step.tool_jaw_rad is None:
                step.tool_jaw_rad = previous.target.jaw_rad
        given: dict[str, Any] = {
            "timestamp_s": step.t,
            "T_console_master": rows(step.T_console_master),
            "jaw_rad": step.jaw_rad,
            "clutch_pressed": step.clutch,
        }
        for key, value in (
            ("T_rcm_tip", step.T_rcm_tip),
            ("tool_jaw_rad", step.tool_jaw_rad),
            ("T_world_camera", step.T_world_camera),
            ("T_world_rcm", step.T_world_rcm),
        ):
            if value is not None:
                tool[key] = value
                given[key] = rows(value) if isinstance(value, np.ndarray) else value
        if step.rtt_ms != "same":
            tool["rtt_ms"] = step.rtt_ms
            given["rtt_ms"] = step.rtt_ms
        output = pipeline.step(
            MasterSample(step.t, step.T_console_master, step.jaw_rad, step.clutch),
            ToolState(
                T_rcm_tip=tool["T_rcm_tip"],
                jaw_rad=tool["tool_jaw_rad"],
                T_world_camera=tool["T_world_camera"],
                T_world_rcm=tool["T_world_rcm"],
                rtt_ms=tool["rtt_ms"],
            ),
        )
        out_steps.append({"input": given, "expected": expected_json(output)})
        previous = output
    return out_steps


def pose_of_target(target: ToolTarget) -> np.ndarray:
    """(4, 4) pose of a target, in plain float arithmetic (no BLAS: files must regenerate
    bit-identically on any machine)."""
    x, y, z, w = (float(v) for v in target.quat_xyzw)
    R = np.array(
        [
            [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
            [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
            [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
        ]
    )
    p = target.position_m
    return pose(R, (float(p[0]), float(p[1]), float(p[2])))


def expected_json(output: TeleopOutput) -> dict[str, Any]:
    status = output.status
    target = output.target
    return {
        "state": status.state.value,
        "target": None
        if target is None
        else {
            "position_m": [float(v) for v in target.position_m],
            "quat_xyzw": [float(v) for v in target.quat_xyzw],
            "jaw_rad": target.jaw_rad,
        },
        "alignment_error_rad": status.alignment_error_rad,
        "tolerance_rad": status.tolerance_rad,
        "scale": status.scale,
        "jaw_caught_up": status.jaw_caught_up,
        "filter_restarted": status.filter_restarted,
    }


# --- scene -----------------------------------------------------------------------------------

T_WORLD_CAMERA = pose(matmul3(matmul3(rot_x(math.pi), rot_z(0.3)), rot_x(0.4)), (0.0, -0.05, 0.35))
T_WORLD_RCM = pose(matmul3(rot_y(0.5), rot_z(0.2)), (-0.12, 0.0, 0.28))
R_HAND = matmul3(rot_y(0.3), rot_x(-0.2))
T_TOOL = pose(matmul3(R_rcm_console(T_WORLD_CAMERA, T_WORLD_RCM), R_HAND), (0.01, 0.02, -0.12))


def hand_p(t: float) -> tuple[float, float, float]:
    """A smooth hand path with a small 10 Hz tremor on it [m]."""
    tremor = 0.0005 * math.sin(2.0 * math.pi * 10.0 * t)
    return (
        0.10 + 0.03 * math.sin(1.7 * t) + tremor,
        0.02 * math.cos(1.1 * t) - 0.02 + 0.5 * tremor,
        0.35 + 0.01 * math.sin(0.9 * t),
    )


def hand_R(t: float, extra: np.ndarray | None = None) -> np.ndarray:
    R = matmul3(R_HAND, matmul3(rot_z(0.2 * math.sin(0.8 * t)), rot_x(0.1 * math.sin(0.5 * t))))
    return R if extra is None else matmul3(R, extra)


def irregular_times(n: int, start: float = 0.0) -> Iterator[float]:
    """Browser-like event times: 8 to 25 ms apart, deterministic."""
    t = start
    for k in range(n):
        yield t
        t += 0.0165 + 0.0085 * math.sin(2.3 * k + 0.7)


def first_step(t: float, **extra: Any) -> Step:
    return Step(
        t=t,
        T_console_master=pose(hand_R(t), hand_p(t)),
        jaw_rad=0.3,
        clutch=False,
        T_rcm_tip=T_TOOL,
        tool_jaw_rad=0.1,
        T_world_camera=T_WORLD_CAMERA,
        T_world_rcm=T_WORLD_RCM,
        rtt_ms=135.0,
        **extra,
    )


# --- scenarios -------------------------------------------------------------------------------


def tremor_uniform_1khz() -> dict[str, Any]:
    config = TremorFilterConfig()
    tremor = TremorFilter(config)
    steps = []
    for k in range(800):
        t = k / 1000.0
        x = [
            0.1 + 0.01 * math.sin(2 * math.pi * t) + 0.001 * math.sin(2 * math.pi * 10 * t),
            -0.02,
            0.3,
        ]
        y = tremor.update(t, np.array(x))
        steps.append(
            {"timestamp_s": t, "x": x, "y": [float(v) for v in y], "restarted": tremor.restarted}
        )
    return {
        "kind": "tremor",
        "description": "1 Hz motion plus 10 Hz tremor sampled at exactly 1 kHz",
        "tremor": config_to_json(TeleopConfig(tremor=config))["tremor"],
        "steps": steps,
    }


def tremor_irregular_with_gap() -> dict[str, Any]:
    config = TremorFilterConfig()
    tremor = TremorFilter(config)
    times = list(irregular_times(120))
    times[40] = times[39]  # an equal timestamp replaces the pending input
    times = [*times[:80], *(t + 0.3 for t in times[80:])]  # a 300 ms gap restarts the filter
    steps = []
    for t in times:
        x = list(hand_p(t))
        y = tremor.update(t, np.array(x))
        steps.append(
            {"timestamp_s": t, "x": x, "y": [float(v) for v in y], "restarted": tremor.restarted}
        )
    return {
        "kind": "tremor",
        "description": "browser-like irregular input, an equal timestamp and a 300 ms gap",
        "tremor": config_to_json(TeleopConfig(tremor=config))["tremor"],
        "steps": steps,
    }


def scaling_delay_gain() -> dict[str, Any]:
    config = DelayAdaptiveConfig()
    rtts: list[float | None] = [
        None,
        -1.0,
        0.0,
        135.0,
        250.0,
        250.5,
        400.0,
        500.0,
        600.0,
        749.9,
        750.0,
        2000.0,
    ]
    return {
        "kind": "delay_gain",
        "description": "delay-adaptive gain for the default thresholds (None = unknown RTT)",
        "delay_adaptive": config_to_json(TeleopConfig())["scaling"]["delay_adaptive"],
        "steps": [{"rtt_ms": r, "gain": delay_gain(config, r)} for r in rtts],
    }


def pipeline_engage_follow() -> dict[str, Any]:
    config = TeleopConfig()
    times = list(irregular_times(150))
    times = [*times[:100], *(t + 0.3 for t in times[100:])]  # 300 ms input gap: re-anchor
    steps = [first_step(times[0])]
    steps += [
        Step(t, pose(hand_R(t), hand_p(t)), 0.3 + 0.2 * math.sin(3 * t), False) for t in times[1:]
    ]
    return pipeline_vector(
        "aligned engage at 3:1, 135 ms RTT, following irregular input with tremor, a 300 ms gap",
        config,
        steps,
    )


def pipeline_clutch_reengage() -> dict[str, Any]:
    config = TeleopConfig()
    times = list(irregular_times(240))
    steps = [first_step(times[0])]
    offset = np.zeros(3)
    tau = times[0]  # the hand's orientation path advances only while the surgeon is operating
    for k, t in enumerate(times[1:], start=1):
        clutch = 60 <= k < 120 or 150 <= k < 170
        operating = k < 60 or 130 <= k < 150 or k >= 170
        if operating:
            tau += t - times[k - 1]
        if 60 <= k < 120:
            offset = offset + np.array([0.0008, -0.0003, 0.0001])
        extra = None
        if 120 <= k < 130:
            extra = rot_y(math.radians(2.5))  # released 2.5 deg off: ALIGNING (2 deg after clutch)
        elif k >= 130:
            extra = rot_y(math.radians(1.0))
        p = np.array(hand_p(t)) + offset
        steps.append(Step(t, pose(hand_R(tau, extra), (p[0], p[1], p[2])), 0.5, clutch))
    return pipeline_vector(
        "follow, clutch while moving the hand, release 2.5 deg off, realign to 1 deg, clutch again",
        config,
        steps,
    )


def pipeline_adaptive_scaling_camera_move() -> dict[str, Any]:
    config = TeleopConfig(scaling=ScalingConfig(ratio=2.0))
    times = list(irregular_times(200))
    steps = [first_step(times[0])]
    for k, t in enumerate(times[1:], start=1):
        step = Step(t, pose(hand_R(t), hand_p(t)), 0.3, False, rtt_ms=100.0 + 5.0 * k)
        if k == 120:
            step.T_world_camera = pose(
                matmul3(rot_z(0.4), T_WORLD_CAMERA[:3, :3]), (0.02, -0.04, 0.36)
            )
        if k == 150:
            step.rtt_ms = None
        steps.append(step)
    return pipeline_vector(
        "2:1 with RTT ramping 100 ms -> 1 s, the endoscope moving at step 120, RTT lost at 150",
        config,
        steps,
    )


def pipeline_alignment_and_jaw() -> dict[str, Any]:
    config = TeleopConfig(jaw=JawConfig(catch_up_rate_rad_per_s=2.0, max_rate_rad_per_s=8.0))
    times = list(irregular_times(160))
    steps = []
    for k, t in enumerate(times):
        angle_deg = 6.0 if k < 20 else 4.9
        T = pose(matmul3(R_HAND, rot_x(math.radians(angle_deg))), hand_p(t))
        jaw = 1.2 if k < 100 else -0.9
        if k == 0:
            step = first_step(t)
            step.T_console_master = T
            step.jaw_rad = jaw
        else:
            step = Step(t, T, jaw, False)
        steps.append(step)
    return pipeline_vector(
        "6 deg off at start (ALIGNING), 4.9 deg (engages), jaw catching up then following",
        config,
        steps,
    )


def pipeline_vector(description: str, config: TeleopConfig, steps: list[Step]) -> dict[str, Any]:
    return {
        "kind": "pipeline",
        "description": description,
        "config": config_to_json(config),
        "steps": run_pipeline(config, steps),
    }


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "tremor_uniform_1khz": tremor_uniform_1khz,
    "tremor_irregular_with_gap": tremor_irregular_with_gap,
    "scaling_delay_gain": scaling_delay_gain,
    "pipeline_engage_follow": pipeline_engage_follow,
    "pipeline_clutch_reengage": pipeline_clutch_reengage,
    "pipeline_adaptive_scaling_camera_move": pipeline_adaptive_scaling_camera_move,
    "pipeline_alignment_and_jaw": pipeline_alignment_and_jaw,
}


def build_all() -> dict[str, str]:
    """File name -> JSON text of every vector file."""
    files = {}
    for name, build in SCENARIOS.items():
        body = {"format": FORMAT, "name": name, **build(), "tolerance": TOLERANCE}
        files[f"{name}.json"] = to_json(body)
    return files


def to_json(body: dict[str, Any]) -> str:
    """One top-level key per line and one step per line (readable diffs, compact files)."""
    lines = []
    for key, value in body.items():
        if key == "steps":
            steps = ",\n  ".join(json.dumps(step, allow_nan=False) for step in value)
            lines.append(f'"steps": [\n  {steps}\n ]')
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def main() -> int:
    for file_name, text in build_all().items():
        (HERE / file_name).write_text(text)
        print(f"wrote {file_name} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
