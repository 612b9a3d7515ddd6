"""The robot driver registry with the MuJoCo cart as the default driver."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.robot.contract import Robot
from telesurgery.robot.registry import (
    DEFAULT_DRIVER,
    RobotConfig,
    config_class,
    driver_names,
    make_robot,
    robot_config,
)
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig

pytestmark = pytest.mark.sim


def test_sim_is_the_registered_default_driver() -> None:
    assert DEFAULT_DRIVER == "sim"
    assert "sim" in driver_names()
    assert config_class("sim") is SimCartConfig
    assert SimCartConfig.driver == "sim"


def test_make_robot_builds_the_cart_from_a_config() -> None:
    robot = make_robot(robot_config("sim", camera=None, settle_s=0.0))
    assert isinstance(robot, SimCart)
    assert set(robot.arms) == {"PSM1", "PSM2", "ECM"}
    assert robot.camera is None


def test_unknown_driver_and_field_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"invalid driver='dvrk-ros': valid is one of .*sim"):
        robot_config("dvrk-ros")
    with pytest.raises(ConfigError, match=r"invalid sim config field='cameras'.*camera"):
        robot_config("sim", cameras=None)


def test_a_name_cannot_be_taken_twice_and_configs_must_be_dataclasses() -> None:
    @dataclass(frozen=True)
    class OtherConfig(RobotConfig):
        def make(self) -> Robot:
            raise AssertionError("not built")

    with pytest.raises(ConfigError, match="not yet taken"):
        RobotConfig.register("sim")(OtherConfig)
    assert config_class("sim") is SimCartConfig

    class NotADataclass(RobotConfig):
        def make(self) -> Robot:
            raise AssertionError("not built")

    with pytest.raises(ConfigError, match="dataclass"):
        RobotConfig.register("plain")(NotADataclass)
    assert "plain" not in driver_names()
