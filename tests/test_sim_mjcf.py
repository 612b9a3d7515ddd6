"""The generated MuJoCo model reproduces the published DH kinematics."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig

pytestmark = pytest.mark.sim


def test_tip_site_matches_analytic_fk_for_random_configurations() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    rng = np.random.default_rng(7)
    for name, arm in cart.arms.items():
        kin = arm.kinematics
        for _ in range(20):
            q = rng.uniform(kin.q_min, kin.q_max)
            adr = [int(cart.model.joint(f"{name}_{j}").qposadr[0]) for j in arm.joint_names]
            cart.data.qpos[adr] = q
            mujoco.mj_kinematics(cart.model, cart.data)
            T_world_tip = arm.T_world_rcm @ kin.forward(q)
            T_sim = cart.T_world_site(f"{name}_tip")
            assert np.max(np.abs(T_sim[:3, 3] - T_world_tip[:3, 3])) < 1e-6
            assert np.max(np.abs(T_sim[:3, :3] - T_world_tip[:3, :3])) < 1e-6


def test_joint_limits_timestep_and_offscreen_size_come_from_the_tables_and_config() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    model = cart.model
    assert model.opt.timestep == pytest.approx(0.001)
    assert (model.vis.global_.offwidth, model.vis.global_.offheight) == (1280, 720)
    assert model.vis.quality.shadowsize == 0
    for name, arm in cart.arms.items():
        for j, joint in enumerate(arm.joint_names):
            lo, hi = model.joint(f"{name}_{joint}").range
            assert (lo, hi) == (arm.kinematics.q_min[j], arm.kinematics.q_max[j])
        body_id = model.body(f"{name}_{arm.joint_names[0]}").id
        assert model.body_gravcomp[body_id] == 1.0  # gravity-compensated arm links
