"""Surgeon-side conditioning: clutch, scaling, tremor filter, camera-frame mapping.

Public API: :class:`TeleopPipeline` (one per arm) with :class:`TeleopConfig`; the value types in
:mod:`telesurgery.teleop.types`; the device contract :class:`Teleoperator` with
:func:`make_teleoperator` / :func:`config_from_dict`; the scripted file player. The normative
description, which the browser console follows, is ``docs/teleop-spec.md``.
"""

from telesurgery.teleop.alignment import AlignmentConfig, JawConfig
from telesurgery.teleop.contract import (
    TELEOPERATORS,
    DeviceNotConnected,
    Teleoperator,
    TeleoperatorConfig,
    config_from_dict,
    make_teleoperator,
    register_teleoperator,
)
from telesurgery.teleop.pipeline import TeleopConfig, TeleopPipeline
from telesurgery.teleop.scaling import SCALE_PRESETS, DelayAdaptiveConfig, ScalingConfig
from telesurgery.teleop.scripted import (
    RecordingExhausted,
    ScriptedTeleoperator,
    ScriptedTeleoperatorConfig,
)
from telesurgery.teleop.tremor import TremorFilterConfig
from telesurgery.teleop.types import (
    FollowState,
    MasterSample,
    TeleopFeedback,
    TeleopOutput,
    TeleopStatus,
    ToolState,
    ToolTarget,
)

__all__ = [
    "SCALE_PRESETS",
    "TELEOPERATORS",
    "AlignmentConfig",
    "DelayAdaptiveConfig",
    "DeviceNotConnected",
    "FollowState",
    "JawConfig",
    "MasterSample",
    "RecordingExhausted",
    "ScalingConfig",
    "ScriptedTeleoperator",
    "ScriptedTeleoperatorConfig",
    "TeleopConfig",
    "TeleopFeedback",
    "TeleopOutput",
    "TeleopPipeline",
    "TeleopStatus",
    "Teleoperator",
    "TeleoperatorConfig",
    "ToolState",
    "ToolTarget",
    "TremorFilterConfig",
    "config_from_dict",
    "make_teleoperator",
    "register_teleoperator",
]
