"""The peg board and the scripted peg transfer: a real grasp lifts and carries a ring."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.peg_board import PegBoard
from telesurgery.robot.sim.peg_transfer import PegTransferRunner, peg_transfer_waypoints

pytestmark = pytest.mark.sim


def test_board_validates_its_geometry() -> None:
    with pytest.raises(ConfigError, match="ring_pegs"):
        PegBoard(ring_pegs=(0, 9))
    with pytest.raises(ConfigError, match="so a peg passes through"):
        PegBoard(ring_radius_m=0.004)
    with pytest.raises(ConfigError, match="to_peg"):
        peg_transfer_waypoints(PegBoard(), 2, 2)


def test_rings_rest_around_their_pegs() -> None:
    cart = SimCart(SimCartConfig(camera=None))
    board = cart.config.board
    for ring, peg in zip(board.ring_names, board.ring_pegs, strict=True):
        p = cart.T_world_body(ring)[:3, 3]
        np.testing.assert_allclose(p[:2], board.peg_position(peg)[:2], atol=5e-4)
        assert abs(p[2] - board.ring_tube_radius_m) < 5e-4


def test_grasp_lifts_a_ring_and_carries_it_to_another_peg() -> None:
    cart = SimCart(SimCartConfig(camera=None))
    for arm in cart.arms.values():
        arm.enable()
        arm.home()
    cart.step(1500)
    board = cart.config.board
    psm = cart.arm("PSM1")
    runner = PegTransferRunner(psm, peg_transfer_waypoints(board, from_peg=2, to_peg=5))
    start = cart.T_world_body("ring2")[:3, 3]
    peak_z = start[2]
    carried = 0
    while not runner.done:
        assert cart.time_s < 20.0, f"script stuck at {runner.current}"
        runner.update(cart.time_s)
        cart.step(10)
        label = runner.current.label if runner.current else ""
        ring = cart.T_world_body("ring2")[:3, 3]
        peak_z = max(peak_z, ring[2])
        if label == "carry":
            # While carried, the ring's wall stays between the fingers (near the jaw pivot).
            tip = cart.T_world_site("PSM1_tip")[:3, 3]
            wall = ring + np.array([board.ring_radius_m, 0.0, 0.0])
            assert np.linalg.norm(wall[:2] - tip[:2]) < 0.003
            assert 0.0 < tip[2] - ring[2] < 0.012
            carried += 1
    cart.step(300)
    end = cart.T_world_body("ring2")[:3, 3]
    assert peak_z > start[2] + 0.03  # lifted clear of the 25 mm peg
    assert carried > 10
    np.testing.assert_allclose(end[:2], board.peg_position(5)[:2], atol=0.002)
    assert end[2] < board.ring_tube_radius_m + 0.001  # resting on the board, around peg 5
    # The other rings did not move.
    for ring, peg in (("ring0", 0), ("ring1", 1)):
        np.testing.assert_allclose(
            cart.T_world_body(ring)[:3, 3][:2], board.peg_position(peg)[:2], atol=5e-4
        )
