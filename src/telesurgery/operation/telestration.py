"""Telestration: strokes drawn over the shared endoscope video, as values and a board (no I/O).

A console sends (events channel, see ``docs/protocol.md``, "Events channel")::

    {"type": "telestration_stroke", "stroke_id": 12, "frame_id": 4711,
     "points": [[0.25, 0.5], [0.26, 0.51]], "color": "#00ff88", "width_px": 3}
    {"type": "telestration_clear", "stroke_ids": [12, 13]}            # own strokes
    {"type": "telestration_clear", "stroke_ids": null, "author": "*"} # everyone's (lead, bedside)

Points are normalised video coordinates ``(u, v)`` in [0, 1] (origin top-left, ``u`` right,
``v`` down), anchored to the stamped frame ``frame_id`` they were drawn on. :func:`parse_stroke`
and :func:`parse_clear` accept exactly these fields and types and raise
:class:`InvalidTelestration` naming what is valid. :class:`TelestrationBoard` keeps the live
strokes of every author: a stroke with an id its author already drew replaces it (a stroke is
re-sent while it grows), a clear removes strokes the sender may remove.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from telesurgery.exceptions import ProtocolError, TelesurgeryError

MAX_POINTS = 256
"""Most points in one stroke."""
MAX_STROKES_PER_AUTHOR = 200
"""Most live strokes one author may have."""
MAX_STROKE_ID = 2**53 - 1
"""Largest stroke id (the largest integer a JavaScript console represents exactly)."""
MAX_FRAME_ID = 2**32 - 1
"""Largest frame number (the video stamp is a u32)."""
MIN_WIDTH_PX = 0.5
"""Thinnest line [video pixels]."""
MAX_WIDTH_PX = 32.0
"""Widest line [video pixels]."""
EVERYONE = "*"
"""``author`` of a clear that removes every author's strokes (lead and bedside only)."""
POINT_DECIMALS = 5
"""Coordinates are rounded to this many decimals (1e-5 of the frame: far below a pixel)."""

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_STROKE_FIELDS = ("stroke_id", "frame_id", "points", "color", "width_px")
_CLEAR_REQUIRED = ("stroke_ids",)
_CLEAR_OPTIONAL = ("author",)


class InvalidTelestration(ProtocolError):
    """A telestration message that does not have the documented shape."""


class TelestrationRefused(TelesurgeryError):
    """A well-formed telestration message that this sender may not do now."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        """Machine-readable cause: ``too_many_strokes`` or ``not_author``."""


@dataclass(frozen=True, slots=True)
class Stroke:
    """One polyline drawn by one console over one video frame."""

    author: str
    """Console id of the author."""
    stroke_id: int
    """The author's id of the stroke (unique per author)."""
    frame_id: int
    """Stamped number of the video frame it was drawn on."""
    points: tuple[tuple[float, float], ...]
    """(u, v) normalised video coordinates in [0, 1], origin top-left; 1..256 of them."""
    color: str
    """``#rrggbb``, lower case."""
    width_px: float
    """Line width [pixels of the video frame]."""


@dataclass(frozen=True, slots=True)
class StrokeClear:
    """A request to remove strokes."""

    stroke_ids: tuple[int, ...] | None
    """Ids to remove; None: every stroke of the author(s)."""
    author: str | None
    """Whose strokes: None for the sender's own, :data:`EVERYONE`, or a console id."""


def _check_fields(
    kind: str, obj: Mapping[str, Any], required: Sequence[str], optional: Sequence[str] = ()
) -> None:
    allowed = {"type", *required, *optional}
    unknown = sorted(set(obj) - allowed)
    missing = [name for name in required if name not in obj]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown fields {', '.join(unknown)}")
        if missing:
            problems.append(f"missing fields {', '.join(missing)}")
        valid = ", ".join(["type", *required, *(f"{name} (optional)" for name in optional)])
        raise InvalidTelestration(f"{kind}: {'; '.join(problems)}: valid fields are {valid}")


def _integer(name: str, value: object, largest: int) -> int:
    if type(value) is not int or not 0 <= value <= largest:
        raise InvalidTelestration(f"field {name!r} is {value!r}: valid is an integer 0..{largest}")
    return value


def _number(value: object) -> float | None:
    if type(value) not in (int, float):
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _points(value: object) -> tuple[tuple[float, float], ...]:
    valid = f"a list of 1..{MAX_POINTS} [u, v] pairs of numbers in [0, 1]"
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_POINTS:
        size = f"{len(value)} items" if isinstance(value, list) else repr(value)[:40]
        raise InvalidTelestration(f"field 'points' is {size}: valid is {valid}")
    points = []
    for index, pair in enumerate(value):
        u = v = None
        if isinstance(pair, list) and len(pair) == 2:
            u, v = _number(pair[0]), _number(pair[1])
        if u is None or v is None or not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
            raise InvalidTelestration(f"points[{index}] is {repr(pair)[:40]}: valid is {valid}")
        points.append((round(u, POINT_DECIMALS), round(v, POINT_DECIMALS)))
    return tuple(points)


def parse_stroke(author: str, obj: Mapping[str, Any]) -> Stroke:
    """The ``telestration_stroke`` object ``obj`` drawn by console ``author``, strictly checked."""
    _check_fields("telestration_stroke", obj, _STROKE_FIELDS)
    color = obj["color"]
    if not isinstance(color, str) or _COLOR.fullmatch(color) is None:
        raise InvalidTelestration(f"field 'color' is {color!r}: valid is '#rrggbb' (hex)")
    width = _number(obj["width_px"])
    if width is None or not MIN_WIDTH_PX <= width <= MAX_WIDTH_PX:
        raise InvalidTelestration(
            f"field 'width_px' is {obj['width_px']!r}: valid is a number "
            f"{MIN_WIDTH_PX}..{MAX_WIDTH_PX}"
        )
    return Stroke(
        author=author,
        stroke_id=_integer("stroke_id", obj["stroke_id"], MAX_STROKE_ID),
        frame_id=_integer("frame_id", obj["frame_id"], MAX_FRAME_ID),
        points=_points(obj["points"]),
        color=color.lower(),
        width_px=width,
    )


def parse_clear(obj: Mapping[str, Any]) -> StrokeClear:
    """The ``telestration_clear`` object ``obj``, strictly checked."""
    _check_fields("telestration_clear", obj, _CLEAR_REQUIRED, _CLEAR_OPTIONAL)
    ids = obj["stroke_ids"]
    stroke_ids: tuple[int, ...] | None = None
    if ids is not None:
        if not isinstance(ids, list) or len(ids) > MAX_POINTS:
            raise InvalidTelestration(
                f"field 'stroke_ids' is {repr(ids)[:40]}: valid is null or a list of at most "
                f"{MAX_POINTS} integers 0..{MAX_STROKE_ID}"
            )
        stroke_ids = tuple(_integer("stroke_ids[]", i, MAX_STROKE_ID) for i in ids)
    author = obj.get("author")
    if author is not None and (not isinstance(author, str) or not 1 <= len(author) <= 64):
        raise InvalidTelestration(
            f"field 'author' is {author!r}: valid is a console id (1..64 characters), "
            f"'{EVERYONE}' (everyone) or null (own strokes)"
        )
    return StrokeClear(stroke_ids, author)


def stroke_to_dict(stroke: Stroke) -> dict[str, Any]:
    """``stroke`` as the gateway's ``telestration`` message."""
    return {
        "type": "telestration",
        "author": stroke.author,
        "stroke_id": stroke.stroke_id,
        "frame_id": stroke.frame_id,
        "points": [list(p) for p in stroke.points],
        "color": stroke.color,
        "width_px": stroke.width_px,
    }


class TelestrationBoard:
    """The live strokes of one operation, per author, in drawing order."""

    def __init__(self, max_strokes_per_author: int = MAX_STROKES_PER_AUTHOR) -> None:
        self._strokes: dict[str, dict[int, Stroke]] = {}
        self._max = max_strokes_per_author

    def draw(self, stroke: Stroke) -> Stroke:
        """Add ``stroke`` (replacing its author's stroke of the same id); returns it.

        Raises :class:`TelestrationRefused` (``too_many_strokes``) when the author already has
        the most live strokes allowed and this is a new one.
        """
        own = self._strokes.setdefault(stroke.author, {})
        if stroke.stroke_id not in own and len(own) >= self._max:
            raise TelestrationRefused(
                "too_many_strokes",
                f"{stroke.author} already has {len(own)} strokes: at most {self._max}; "
                "clear some first",
            )
        own.pop(stroke.stroke_id, None)  # a redrawn stroke moves to the top
        own[stroke.stroke_id] = stroke
        return stroke

    def clear(
        self, by: str, request: StrokeClear, *, may_clear_others: bool
    ) -> list[tuple[str, tuple[int, ...]]]:
        """Remove what ``request`` names; ``(author, removed ids)`` per author with removals.

        ``by`` is the sender; ``may_clear_others`` whether it may remove other authors' strokes
        (the lead and the bedside), else :class:`TelestrationRefused` (``not_author``). Ids that
        do not exist are ignored.
        """
        author = by if request.author is None else request.author
        if author != by and not may_clear_others:
            raise TelestrationRefused(
                "not_author",
                f"{by} may clear only its own strokes (author null or {by!r}); the lead and the "
                "bedside clear everyone's",
            )
        authors = list(self._strokes) if author == EVERYONE else [author]
        removed: list[tuple[str, tuple[int, ...]]] = []
        for name in authors:
            own = self._strokes.get(name)
            if not own:
                continue
            ids = list(own) if request.stroke_ids is None else request.stroke_ids
            gone = tuple(i for i in ids if own.pop(i, None) is not None)
            if gone:
                removed.append((name, gone))
            if not own:
                del self._strokes[name]
        return removed

    def strokes(self) -> list[Stroke]:
        """Every live stroke, author by author, each author's in drawing order."""
        return [s for own in self._strokes.values() for s in own.values()]

    def __len__(self) -> int:
        return sum(len(own) for own in self._strokes.values())
