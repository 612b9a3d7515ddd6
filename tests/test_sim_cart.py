"""The simulated cart: its arms, frames, tick callbacks and physics checks."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.exceptions import (
    InvalidArm,
    InvalidFrame,
)
from telesurgery.robot.sim.cart import PhysicsDiverged, SimCart
from telesurgery.robot.sim.config import SimCartConfig

pytestmark = pytest.mark.sim


def test_arms_and_rcms_are_exposed() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    assert set(cart.arms) == {"PSM1", "PSM2", "ECM"}
    assert cart.arm("PSM1").jaw is not None
    assert cart.arm("ECM").jaw is None
    # PSM1 stands on the right, PSM2 on the left, the ECM behind; all above the board.
    assert cart.arm("PSM1").T_world_rcm[0, 3] > 0 > cart.arm("PSM2").T_world_rcm[0, 3]
    assert cart.arm("ECM").T_world_rcm[1, 3] < 0
    assert all(a.T_world_rcm[2, 3] > 0.1 for a in cart.arms.values())


def test_unknown_arm_lists_valid_names() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    with pytest.raises(InvalidArm, match="unknown arm 'PSM3': valid arms are PSM1, PSM2, ECM"):
        cart.arm("PSM3")
    with pytest.raises(InvalidFrame, match="ring0"):
        cart.T_world_body("ring9")


def test_tick_callback_runs_once_per_step_with_sim_time() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    seen: list[float] = []
    remove = cart.add_tick_callback(seen.append)
    cart.step(5)
    remove()
    cart.step(5)
    assert seen == pytest.approx([0.0, 0.001, 0.002, 0.003, 0.004])


def test_physics_divergence_is_reported() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    cart.data.qvel[0] = np.inf  # a ring flung to infinity
    with pytest.raises(PhysicsDiverged, match="NaN, Inf or huge values"):
        cart.step(1)
