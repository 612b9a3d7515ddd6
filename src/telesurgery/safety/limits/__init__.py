"""Composable limits the supervisor iterates over; each reports what it changed."""

from telesurgery.safety.limits.base import CartesianLimit, ClampResult, JointLimit, PoseLimit
from telesurgery.safety.limits.jaw import JawRangeLimit, JawRateLimit
from telesurgery.safety.limits.joint_position import JointPositionLimit
from telesurgery.safety.limits.min_insertion import MinInsertionLimit
from telesurgery.safety.limits.scope_axis import ScopeAxisLimit
from telesurgery.safety.limits.workspace import WorkspaceLimit

__all__ = [
    "CartesianLimit",
    "ClampResult",
    "JawRangeLimit",
    "JawRateLimit",
    "JointLimit",
    "JointPositionLimit",
    "MinInsertionLimit",
    "PoseLimit",
    "ScopeAxisLimit",
    "WorkspaceLimit",
]
