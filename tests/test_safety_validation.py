"""Command value validation: exact reasons and messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.safety import ArmCommand, RejectReason
from telesurgery.safety.validation import Problem, check_command

GOOD_P = np.array([0.0, 0.0, -0.09])
GOOD_Q = np.array([0.0, 0.0, 0.0, 1.0])


def check(**changes: object) -> Problem | None:
    fields: dict[str, object] = {
        "console_id": "lead",
        "arm": "PSM1",
        "seq": 1,
        "sent_time_s": 0.0,
        "position_m": GOOD_P,
        "quat_xyzw": GOOD_Q,
        "jaw_rad": 0.2,
    }
    fields.update(changes)
    jaw_range = None if fields["arm"] == "ECM" else (-0.7, 1.4)
    return check_command(
        ArmCommand(**fields),  # type: ignore[arg-type]
        jaw_range_rad=jaw_range,
        max_target_distance_m=0.5,
        quaternion_tolerance=1e-3,
    )


def test_a_good_command_has_no_problem() -> None:
    assert check() is None
    assert check(jaw_rad=1.9) is None  # beyond the range but plausible: the limit clamps it
    assert check(arm="ECM", jaw_rad=None) is None


@pytest.mark.parametrize(
    ("changes", "reason", "detail"),
    [
        ({"seq": -1}, RejectReason.BAD_SHAPE, "seq must be an integer >= 0, got -1"),
        ({"seq": True}, RejectReason.BAD_SHAPE, "seq must be an integer >= 0, got True"),
        (
            {"sent_time_s": math.inf},
            RejectReason.NON_FINITE,
            "sent_time_s must be a finite number, got inf",
        ),
        (
            {"position_m": [0.0, 0.0, -0.09]},
            RejectReason.BAD_SHAPE,
            "position_m must be a (3,) float array [m]",
        ),
        (
            {"quat_xyzw": np.array([0, 0, 0, 1])},
            RejectReason.BAD_SHAPE,
            "quat_xyzw must be a (4,) float array (x, y, z, w)",
        ),
        (
            {"position_m": np.array([0.0, math.nan, 0.0])},
            RejectReason.NON_FINITE,
            "position_m and quat_xyzw must be finite",
        ),
        (
            {"position_m": np.array([0.0, 0.0, -2.0])},
            RejectReason.OUT_OF_RANGE,
            "target 2.000 m from the RCM; at most 0.5 m",
        ),
        (
            {"quat_xyzw": np.array([0.0, math.inf, 0.0, 1.0])},
            RejectReason.NON_FINITE,
            "position_m and quat_xyzw must be finite",
        ),
        (  # finite, but its square overflows: out of range, not "non-finite"
            {"position_m": np.array([0.0, 1e200, 0.0])},
            RejectReason.OUT_OF_RANGE,
            "target inf m from the RCM; at most 0.5 m",
        ),
        (
            {"quat_xyzw": np.array([0.0, 0.0, 0.0, 0.9])},
            RejectReason.NOT_UNIT_QUATERNION,
            "quaternion norm 0.9; must be 1 within 0.001",
        ),
        ({"arm": "ECM"}, RejectReason.NO_JAW, "arm ECM has no jaw; send jaw_rad=None"),
        (
            {"jaw_rad": math.nan},
            RejectReason.NON_FINITE,
            "jaw_rad must be a finite number, got nan",
        ),
        (
            {"jaw_rad": -7.0},
            RejectReason.OUT_OF_RANGE,
            "jaw_rad=-7.0; must lie within [-0.7, 1.4] (values beyond ±2π are rejected, "
            "others clamped)",
        ),
    ],
)
def test_each_problem_names_what_was_wrong_and_what_is_valid(
    changes: dict[str, object], reason: RejectReason, detail: str
) -> None:
    assert check(**changes) == Problem(reason, detail)
