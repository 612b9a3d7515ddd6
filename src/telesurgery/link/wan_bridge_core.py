"""The WAN bridge's decisions, pure: two emulated directions, their cut state and counters.

:class:`WanBridgeCore` never reads a clock or touches a socket (aioquic's shape): the adapter in
:mod:`telesurgery.link.wan_bridge` feeds it frames with ``on_frame(direction, frame, now)``,
writes what ``frames_due(now)`` returns, reports each write with ``on_send_result`` and sleeps
until ``deadline()``. Each direction runs through its own
:class:`~telesurgery.link.emulator.LinkEmulator` (delay, jitter, loss, reordering, duplication,
rate cap) and can be cut and restored on its own.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from telesurgery.exceptions import TelesurgeryError
from telesurgery.link.emulator import LinkEmulator

logger = logging.getLogger(__name__)


class Direction(enum.Enum):
    """Which way a frame travels: device A to device B, or back."""

    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"

    @property
    def reverse(self) -> Direction:
        """The opposite direction."""
        return Direction.B_TO_A if self is Direction.A_TO_B else Direction.A_TO_B


class LinkState(enum.Enum):
    """Whether frames may cross the bridge."""

    UP = "up"
    CUT = "cut"


_TRANSITIONS: Mapping[LinkState, frozenset[LinkState]] = MappingProxyType(
    {
        LinkState.UP: frozenset({LinkState.CUT}),
        LinkState.CUT: frozenset({LinkState.UP}),
    }
)


class BridgeStateError(TelesurgeryError):
    """A state transition that is not allowed from the current state."""

    def __init__(self, current: LinkState, requested: LinkState) -> None:
        self.current = current
        self.requested = requested
        valid = ", ".join(s.value for s in _TRANSITIONS[current]) or "none"
        super().__init__(
            f"cannot go from {current.value} to {requested.value}: valid next states are {valid}"
        )


@dataclass(frozen=True)
class DirectionStats:
    """State of one direction and its counters since the bridge started [frames]."""

    state: LinkState = LinkState.UP
    """Whether this direction is up or cut."""

    received: int = 0
    """Frames read from the ingress device (outgoing ones excluded)."""

    ignored_outgoing: int = 0
    """Frames seen leaving the ingress device (``PACKET_OUTGOING``); never forwarded."""

    offered: int = 0
    """Frames handed to the link emulator (received while the link was up)."""

    lost: int = 0
    """Frames dropped by the emulator's loss model."""

    tail_dropped: int = 0
    """Frames dropped because the emulator's bottleneck queue (rate cap) was full."""

    duplicated: int = 0
    """Extra copies the emulator made."""

    reordered: int = 0
    """Frames the emulator held back so that later ones overtook them."""

    in_flight: int = 0
    """Frames inside the emulator, not yet due."""

    forwarded: int = 0
    """Frames written to the egress device."""

    dropped_cut: int = 0
    """Frames dropped because this direction was cut (at ingress, or due while cut)."""

    dropped_oversize: int = 0
    """Frames dropped because they did not fit the receive buffer."""

    dropped_send_error: int = 0
    """Frames the egress socket refused (queue full, device down)."""

    late_max_us: float = 0.0
    """Largest time between a frame's due time and the :meth:`WanBridgeCore.frames_due` call
    that released it [us] (for frames released together: the earliest one's). How late the I/O
    loop woke up; run the bridge under ``SCHED_FIFO`` on a loaded machine to keep it small."""


@dataclass(frozen=True)
class BridgeStats:
    """A snapshot of both directions' state and counters."""

    a_to_b: DirectionStats
    """Frames from device A to device B."""

    b_to_a: DirectionStats
    """Frames from device B to device A."""

    def direction(self, direction: Direction) -> DirectionStats:
        """The state and counters of ``direction``."""
        return self.a_to_b if direction is Direction.A_TO_B else self.b_to_a

    @property
    def states(self) -> tuple[LinkState, LinkState]:
        """``(a_to_b.state, b_to_a.state)``."""
        return self.a_to_b.state, self.b_to_a.state

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the control protocol's ``stats`` reply)."""
        return {d.value: _direction_json(self.direction(d)) for d in Direction}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BridgeStats:
        """Inverse of :meth:`to_json`."""
        a_to_b, b_to_a = (
            DirectionStats(**{**data[d.value], "state": LinkState(data[d.value]["state"])})
            for d in Direction
        )
        return cls(a_to_b=a_to_b, b_to_a=b_to_a)


def _direction_json(stats: DirectionStats) -> dict[str, Any]:
    return {**dataclasses.asdict(stats), "state": stats.state.value}


_EMULATOR_TOTALS = ("lost", "tail_dropped", "duplicated", "reordered")
"""Counters the emulators keep; summed over the current, draining and retired emulators."""

_NOT_COUNTED_HERE = ("state", "in_flight", "late_max_us", *_EMULATOR_TOTALS)


class _Lane:
    """One direction: its current emulator, emulators still draining after a replace, counters."""

    def __init__(self, link: LinkEmulator) -> None:
        self.link = link
        self.state = LinkState.UP
        self.draining: list[LinkEmulator] = []
        self.counts = dict.fromkeys(
            (f.name for f in dataclasses.fields(DirectionStats) if f.name not in _NOT_COUNTED_HERE),
            0,
        )
        self.retired = dict.fromkeys(_EMULATOR_TOTALS, 0)
        self.late_max_s = 0.0

    def links(self) -> list[LinkEmulator]:
        return [*self.draining, self.link]

    def deadline(self) -> float | None:
        due = [d for d in (link.deadline() for link in self.links()) if d is not None]
        return min(due) if due else None

    def retire_drained(self) -> None:
        for link in self.draining:
            if link.deadline() is None:
                self._fold(link)
        self.draining = [link for link in self.draining if link.deadline() is not None]

    def _fold(self, link: LinkEmulator) -> None:
        stats = link.stats()
        for name in _EMULATOR_TOTALS:
            self.retired[name] += getattr(stats, name)

    def snapshot(self) -> DirectionStats:
        totals = dict(self.retired)
        in_flight = 0
        for link in self.links():
            stats = link.stats()
            in_flight += stats.in_flight
            for name in _EMULATOR_TOTALS:
                totals[name] += getattr(stats, name)
        return DirectionStats(
            state=self.state,
            in_flight=in_flight,
            late_max_us=self.late_max_s * 1e6,
            **self.counts,
            **totals,
        )


class WanBridgeCore:
    """The bridge's decisions, without sockets or clocks: time is always a parameter [s].

    Each direction has its own :class:`~telesurgery.link.emulator.LinkEmulator` and its own
    :class:`LinkState`, so a link can fail one way only. Frames received by a cut direction are
    dropped; frames that fall due while it is cut are dropped too (they were in the cable when it
    was cut). After :meth:`replace_link`, frames already inside the old emulator are still
    delivered on its schedule; new frames take the new one.
    """

    def __init__(self, a_to_b: LinkEmulator, b_to_a: LinkEmulator) -> None:
        self._lanes = {Direction.A_TO_B: _Lane(a_to_b), Direction.B_TO_A: _Lane(b_to_a)}

    def state(self, direction: Direction) -> LinkState:
        """Whether ``direction`` is up or cut."""
        return self._lanes[direction].state

    def link(self, direction: Direction) -> LinkEmulator:
        """The emulator that new frames of ``direction`` enter."""
        return self._lanes[direction].link

    def _set_state(self, direction: Direction, new: LinkState, now: float) -> None:
        lane = self._lanes[direction]
        if new not in _TRANSITIONS[lane.state]:
            raise BridgeStateError(lane.state, new)
        logger.info("%s %s -> %s at t=%.6f", direction.value, lane.state.value, new.value, now)
        lane.state = new

    def _change(self, new: LinkState, now: float, direction: Direction | None) -> bool:
        targets = list(Direction) if direction is None else [direction]
        changed = [d for d in targets if self._lanes[d].state is not new]
        for d in changed:
            self._set_state(d, new, now)
        return bool(changed)

    def cut(self, now: float, direction: Direction | None = None) -> bool:
        """Cut ``direction`` (both if None): 100 % loss. Returns False if nothing changed."""
        return self._change(LinkState.CUT, now, direction)

    def restore(self, now: float, direction: Direction | None = None) -> bool:
        """Restore ``direction`` (both if None). Returns False if nothing changed."""
        return self._change(LinkState.UP, now, direction)

    def replace_link(self, direction: Direction, link: LinkEmulator, now: float) -> None:
        """Send new frames of ``direction`` through ``link``; the old one drains what it holds."""
        lane = self._lanes[direction]
        lane.draining.append(lane.link)
        lane.link = link
        lane.retire_drained()
        logger.info("link %s -> profile %s at t=%.6f", direction.value, link.profile.name, now)

    def on_frame(self, direction: Direction, frame: bytes, now: float) -> None:
        """A frame arrived at the ingress device of ``direction`` at ``now``."""
        lane = self._lanes[direction]
        lane.counts["received"] += 1
        if lane.state is LinkState.CUT:
            lane.counts["dropped_cut"] += 1
            return
        lane.counts["offered"] += 1
        lane.link.send(frame, now)

    def on_outgoing(self, direction: Direction) -> None:
        """The ingress socket of ``direction`` saw a frame leave its device; it is not forwarded."""
        self._lanes[direction].counts["ignored_outgoing"] += 1

    def on_oversize(self, direction: Direction) -> None:
        """A frame on the ingress device of ``direction`` did not fit the receive buffer."""
        lane = self._lanes[direction]
        lane.counts["received"] += 1
        lane.counts["dropped_oversize"] += 1

    def on_send_result(self, direction: Direction, ok: bool) -> None:
        """The egress device of ``direction`` accepted (``ok``) or refused a due frame."""
        self._lanes[direction].counts["forwarded" if ok else "dropped_send_error"] += 1

    def frames_due(self, now: float) -> list[tuple[Direction, bytes]]:
        """Frames to write at ``now``, each with its direction, in due order per emulator.

        Right after :meth:`replace_link`, frames of the draining emulator come before those of
        the new one within one call (a route change may reorder, as on a real path). The caller
        reports each write with :meth:`on_send_result`.
        """
        out: list[tuple[Direction, bytes]] = []
        for direction, lane in self._lanes.items():
            for link in lane.links():
                due = link.deadline()
                if due is None or due > now:
                    continue
                lane.late_max_s = max(lane.late_max_s, now - due)
                for frame in link.receive(now):
                    if lane.state is LinkState.CUT:
                        lane.counts["dropped_cut"] += 1
                    else:
                        out.append((direction, frame))
            if lane.draining:
                lane.retire_drained()
        return out

    def deadline(self) -> float | None:
        """When :meth:`frames_due` next has something to release [s], or None."""
        due = [d for d in (lane.deadline() for lane in self._lanes.values()) if d is not None]
        return min(due) if due else None

    def stats(self) -> BridgeStats:
        """A snapshot of state and counters."""
        return BridgeStats(
            a_to_b=self._lanes[Direction.A_TO_B].snapshot(),
            b_to_a=self._lanes[Direction.B_TO_A].snapshot(),
        )
