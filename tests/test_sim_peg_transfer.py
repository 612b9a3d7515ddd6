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


def test_ring_around_peg() -> None:
    board = PegBoard()
    z = board.ring_rest_height_m()
    assert board.ring_around_peg(np.array([0.0, -0.015, z]), 2)
    assert board.ring_around_peg(np.array([0.004, -0.015, z]), 2)  # within the hole's play
    assert not board.ring_around_peg(np.array([0.006, -0.015, z]), 2)  # the peg would be outside
    assert not board.ring_around_peg(np.array([0.0, -0.015, 0.04]), 2)  # lifted above the peg
    assert not board.ring_around_peg(np.array([0.0, -0.015, z]), 5)


def test_waypoints_grasp_the_wall_farthest_from_the_peg() -> None:
    board = PegBoard()
    peg = board.peg_position(2)
    centred = peg_transfer_waypoints(board, 2, 5)
    assert centred[1].label == "descend"
    assert centred[1].T_world_tip[0, 3] == pytest.approx(peg[0] + board.ring_radius_m)
    shifted = peg_transfer_waypoints(board, 2, 5, ring_xy_m=peg[:2] + np.array([-0.003, 0.001]))
    assert shifted[1].T_world_tip[0, 3] == pytest.approx(peg[0] - 0.003 - board.ring_radius_m)
    assert shifted[1].T_world_tip[1, 3] == pytest.approx(peg[1] + 0.001)
    # The ring is released centred on the target peg, on the same side.
    target = board.peg_position(5)
    assert shifted[5].label == "lower"
    assert shifted[5].T_world_tip[0, 3] == pytest.approx(target[0] - board.ring_radius_m)
    with pytest.raises(ConfigError, match="ring_xy_m"):
        peg_transfer_waypoints(board, 2, 5, ring_xy_m=peg[:2] + np.array([0.01, 0.0]))
