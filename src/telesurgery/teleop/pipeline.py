"""Per-arm teleoperation pipeline: tremor filter, scaling, camera-frame mapping, clutch, alignment.

Pure and sans-I/O: :meth:`TeleopPipeline.step` takes a master sample and the tool state and returns
an absolute tool target (or None) with a status; time comes only from the sample's timestamp.
The normative description, step by step, is ``docs/teleop-spec.md`` section 9.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from telesurgery.exceptions import InvalidCommand, TelesurgeryError
from telesurgery.teleop.alignment import (
    AlignmentConfig,
    JawCatchUp,
    JawConfig,
    alignment_error_rad,
    is_aligned,
)
from telesurgery.teleop.camera_frame import R_rcm_console
from telesurgery.teleop.clutch import Anchor, anchor_at, map_position, map_rotation, reanchor
from telesurgery.teleop.scaling import ScalingConfig, position_scale
from telesurgery.teleop.so3 import check_pose, quat_xyzw_from_matrix
from telesurgery.teleop.tremor import TremorFilter, TremorFilterConfig
from telesurgery.teleop.types import (
    FollowState,
    MasterSample,
    TeleopOutput,
    TeleopStatus,
    ToolState,
    ToolTarget,
)

logger = logging.getLogger(__name__)

FOLLOW_TRANSITIONS: MappingProxyType[FollowState, frozenset[FollowState]] = MappingProxyType(
    {
        FollowState.WAITING: frozenset(
            {FollowState.CLUTCHED, FollowState.ALIGNING, FollowState.FOLLOWING}
        ),
        FollowState.CLUTCHED: frozenset(
            {FollowState.WAITING, FollowState.ALIGNING, FollowState.FOLLOWING}
        ),
        FollowState.ALIGNING: frozenset(
            {FollowState.WAITING, FollowState.CLUTCHED, FollowState.FOLLOWING}
        ),
        FollowState.FOLLOWING: frozenset({FollowState.WAITING, FollowState.CLUTCHED}),
    }
)
"""Allowed ``old -> new`` follow-state changes (staying in a state is always allowed)."""


@dataclass(frozen=True, slots=True)
class TeleopConfig:
    """Conditioning applied to one arm's master input."""

    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    """Master:tool ratio and delay-adaptive scaling."""
    tremor: TremorFilterConfig = field(default_factory=TremorFilterConfig)
    """Tremor filter on master positions."""
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    """Orientation tolerances for engaging."""
    jaw: JawConfig = field(default_factory=JawConfig)
    """Jaw range and rate limits."""


class TeleopPipeline:
    """Turns master samples into absolute tool targets for one arm."""

    def __init__(self, config: TeleopConfig | None = None) -> None:
        self.config = config if config is not None else TeleopConfig()
        self._filter = TremorFilter(self.config.tremor)
        self._state = FollowState.WAITING
        self._tolerance_rad = self.config.alignment.start_tolerance_rad
        self._t_prev_s: float | None = None
        self._anchor: Anchor | None = None
        self._jaw: JawCatchUp | None = None
        self._last_T_rcm_tip: np.ndarray | None = None

    @property
    def state(self) -> FollowState:
        """Current follow state."""
        return self._state

    def reset(self) -> None:
        """Forget everything (e.g. at a change of operator): back to WAITING, 5-degree tolerance."""
        self._set_state(FollowState.WAITING)
        self._filter.reset()
        self._tolerance_rad = self.config.alignment.start_tolerance_rad
        self._t_prev_s = None
        self._anchor = None
        self._jaw = None
        self._last_T_rcm_tip = None

    def step(self, sample: MasterSample, tool: ToolState) -> TeleopOutput:
        """Process one master sample; raise ``InvalidCommand`` for malformed input."""
        T_cm = check_pose(sample.T_console_master, "T_console_master")
        T_rcm_tip = check_pose(tool.T_rcm_tip, "T_rcm_tip")
        t_s = float(sample.timestamp_s)
        for name, value in (
            ("timestamp_s", t_s),
            ("master jaw_rad", sample.jaw_rad),
            ("tool jaw_rad", tool.jaw_rad),
        ):
            if not math.isfinite(value):
                raise InvalidCommand(f"{name} must be finite, got {value!r}")
        if self._t_prev_s is not None and t_s < self._t_prev_s:
            raise InvalidCommand(
                f"timestamps must not decrease: got {t_s!r} s after {self._t_prev_s!r} s"
            )
        dt_s = 0.0 if self._t_prev_s is None else t_s - self._t_prev_s
        self._t_prev_s = t_s

        R_m = T_cm[:3, :3]
        p_f = self._filter.update(t_s, T_cm[:3, 3])
        restarted = self._filter.restarted
        R_rc = R_rcm_console(tool.T_world_camera, tool.T_world_rcm)
        scale = position_scale(self.config.scaling, tool.rtt_ms)

        if sample.clutch_pressed:
            self._set_state(FollowState.CLUTCHED)
            self._tolerance_rad = self.config.alignment.after_clutch_tolerance_rad
            self._anchor = None
            self._jaw = None
            return self._output(None, None, scale, restarted)

        error_rad: float | None = None
        if self._anchor is None or self._jaw is None:
            error_rad = alignment_error_rad(R_rc, R_m, T_rcm_tip[:3, :3])
            if not is_aligned(error_rad, self._tolerance_rad):
                self._set_state(FollowState.ALIGNING)
                return self._output(None, error_rad, scale, restarted)
            self._anchor = anchor_at(p_f, R_m, T_rcm_tip, R_rc, scale)
            self._jaw = JawCatchUp(self.config.jaw, tool.jaw_rad)
            self._set_state(FollowState.FOLLOWING)
            jaw_dt_s = 0.0
        else:
            jaw_dt_s = dt_s
            anchor = self._anchor
            if restarted and self._last_T_rcm_tip is not None:
                self._anchor = anchor_at(p_f, R_m, self._last_T_rcm_tip, R_rc, scale)
            elif scale != anchor.scale or not np.array_equal(R_rc, anchor.R_rcm_console):
                self._anchor = reanchor(anchor, p_f, R_m, R_rc, scale)

        position_m = map_position(self._anchor, p_f)
        R_tip = map_rotation(self._anchor, R_m)
        jaw_rad = self._jaw.step(sample.jaw_rad, jaw_dt_s)
        T_last = np.eye(4)
        T_last[:3, :3] = R_tip
        T_last[:3, 3] = position_m
        self._last_T_rcm_tip = T_last
        target = ToolTarget(
            position_m=position_m, quat_xyzw=quat_xyzw_from_matrix(R_tip), jaw_rad=jaw_rad
        )
        return self._output(target, error_rad, scale, restarted)

    def _output(
        self, target: ToolTarget | None, error_rad: float | None, scale: float, restarted: bool
    ) -> TeleopOutput:
        status = TeleopStatus(
            state=self._state,
            alignment_error_rad=error_rad,
            tolerance_rad=self._tolerance_rad,
            scale=scale,
            jaw_caught_up=self._jaw is not None and self._jaw.caught_up,
            filter_restarted=restarted,
        )
        return TeleopOutput(target=target, status=status)

    def _set_state(self, new: FollowState) -> None:
        old = self._state
        if new is old:
            return
        if new not in FOLLOW_TRANSITIONS[old]:
            raise TelesurgeryError(
                f"teleop state {old.value} -> {new.value} is not allowed; valid from {old.value}: "
                + ", ".join(sorted(s.value for s in FOLLOW_TRANSITIONS[old]))
            )
        logger.debug("teleop %s -> %s", old.value, new.value)
        self._state = new
