"""Physiological-tremor filter: an 8th-order elliptic band-stop over 8-12 Hz, run at a fixed rate.

Design (justified in ``docs/teleop-spec.md``, section "Tremor filter"): a plain low-pass with
20 dB at 10 Hz lags about 70 ms at 1 Hz; a minimum-phase filter must pay for each decibel of
stop-band with low-frequency delay (Bode's gain-phase relation gives at least ~10 ms for 20 dB
over exactly 8-12 Hz), so the cheapest way to the targets is a sharp stop-band and nothing else.
An elliptic band-stop (order 4 per edge, 0.2 dB ripple, 21.3 dB stop-band, pass-band edges
7.65 and 12.55 Hz) at 1 kHz gives >= 21 dB over 8-12 Hz and 13.6 ms phase delay at 1 Hz.

Input events arrive at irregular times (browser pointer events, 30 Hz recordings), so the filter
does not run on them directly: each input is linearly interpolated onto a fixed 1 kHz grid that
starts at the first sample, the cascade runs once per grid tick, and the output is the value at the
last tick not later than the input's timestamp. The coefficients are therefore constants.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError, InvalidCommand

FloatArray = NDArray[np.float64]

Section = tuple[float, float, float, float, float, float]
"""One biquad ``(b0, b1, b2, a0, a1, a2)`` with ``a0 == 1``."""

ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ: tuple[Section, ...] = (
    (0.9748320106023614, -1.945181859105833, 0.9748320106023612,
     1.0, -1.9677909624199308, 0.9733967854810325),
    (1.0, -1.9968771522041862, 1.0, 1.0, -1.979667445361887, 0.9821718926616808),
    (1.0, -1.9944158268830476, 0.9999999999999998, 1.0, -1.9903610873130178, 0.9963704441203587),
    (1.0, -1.997428997741286, 0.9999999999999998, 1.0, -1.9953312374555514, 0.9977131205058085),
)  # fmt: skip
"""Second-order sections at 1 kHz of ``scipy.signal.ellip(4, 0.2, 21.3, [7.65, 12.55], "bandstop",
fs=1000, output="sos")``, first numerator divided by the DC gain so that DC passes with gain 1."""


@dataclass(frozen=True, slots=True)
class TremorFilterConfig:
    """How master positions are filtered before they are mapped to the tool."""

    enabled: bool = True
    """False passes positions through unchanged (no delay, no tremor removal)."""
    rate_hz: float = 1000.0
    """Fixed rate of the internal grid the sections run at [Hz]; must match ``sections``."""
    sections: tuple[Section, ...] = field(default=ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ)
    """Cascade of biquads ``(b0, b1, b2, 1.0, a1, a2)`` designed for ``rate_hz``, run in order."""
    max_input_gap_s: float = 0.1
    """A gap between inputs longer than this restarts the filter on the new input [s]."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_hz) and 10.0 <= self.rate_hz <= 100_000.0):
            raise ConfigError("rate_hz", self.rate_hz, "a finite rate in [10, 100000] Hz")
        if not (math.isfinite(self.max_input_gap_s) and 0.0 < self.max_input_gap_s <= 1.0):
            raise ConfigError("max_input_gap_s", self.max_input_gap_s, "a duration in (0, 1] s")
        if len(self.sections) == 0:
            raise ConfigError("sections", self.sections, "at least one biquad section")
        for index, section in enumerate(self.sections):
            _check_section(index, section)


def _check_section(index: int, section: Sequence[float]) -> None:
    valid = "(b0, b1, b2, 1.0, a1, a2), finite, stable (|a2| < 1 and |a1| < 1 + a2)"
    name = f"sections[{index}]"
    if len(section) != 6 or not all(math.isfinite(v) for v in section):
        raise ConfigError(name, section, valid)
    _, _, _, a0, a1, a2 = section
    if a0 != 1.0 or not (abs(a2) < 1.0 and abs(a1) < 1.0 + a2):
        raise ConfigError(name, section, valid)


def frequency_response(config: TremorFilterConfig, frequency_hz: float) -> complex:
    """Complex gain of the cascade at ``frequency_hz`` (grid interpolation not included)."""
    z_inv = cmath.exp(-2j * math.pi * frequency_hz / config.rate_hz)
    h = complex(1.0)
    for b0, b1, b2, a0, a1, a2 in config.sections:
        h *= (b0 + b1 * z_inv + b2 * z_inv * z_inv) / (a0 + a1 * z_inv + a2 * z_inv * z_inv)
    return h


def attenuation_db(config: TremorFilterConfig, frequency_hz: float) -> float:
    """Attenuation [dB] (positive when the signal is reduced) at ``frequency_hz``."""
    return -20.0 * math.log10(abs(frequency_response(config, frequency_hz)))


def phase_delay_s(config: TremorFilterConfig, frequency_hz: float) -> float:
    """Phase delay ``-phase / (2 pi f)`` [s] of the cascade at ``frequency_hz`` (below 7 Hz)."""
    return -cmath.phase(frequency_response(config, frequency_hz)) / (2.0 * math.pi * frequency_hz)


class _Biquad:
    """Direct-form-I biquad over three independent channels (x, y, z)."""

    __slots__ = ("_a1", "_a2", "_b0", "_b1", "_b2", "_x1", "_x2", "_y1", "_y2")

    def __init__(self, section: Section) -> None:
        self._b0, self._b1, self._b2, _, self._a1, self._a2 = section
        self._x1 = [0.0, 0.0, 0.0]
        self._x2 = [0.0, 0.0, 0.0]
        self._y1 = [0.0, 0.0, 0.0]
        self._y2 = [0.0, 0.0, 0.0]

    def step(self, x: list[float]) -> list[float]:
        out = []
        for k in range(3):
            y = (
                self._b0 * x[k]
                + self._b1 * self._x1[k]
                + self._b2 * self._x2[k]
                - self._a1 * self._y1[k]
                - self._a2 * self._y2[k]
            )
            self._x2[k] = self._x1[k]
            self._x1[k] = x[k]
            self._y2[k] = self._y1[k]
            self._y1[k] = y
            out.append(y)
        return out


class TremorFilter:
    """Filters a stream of (3,) positions with irregular timestamps; pure, time is a parameter.

    ``update(t_s, position)`` returns the filtered position. :attr:`restarted` is True after the
    update that (re)started the filter: the first input, or one that came more than
    ``max_input_gap_s`` after the previous one. The sections run on the deviation from the input
    at the (re)start, ``origin``, from zero state (the steady state of a constant input), and the
    output is ``origin`` plus the cascade's output; so the output equals the input at a restart and
    a constant input passes exactly. Callers that map positions relatively re-anchor at a restart.
    """

    def __init__(self, config: TremorFilterConfig | None = None) -> None:
        self.config = config if config is not None else TremorFilterConfig()
        self._sections: list[_Biquad] = []
        self._t_origin_s = 0.0
        self._next_tick = 0
        self._t_prev_s: float | None = None
        self._x_prev: list[float] = [0.0, 0.0, 0.0]
        self._y: list[float] = [0.0, 0.0, 0.0]
        self._origin: list[float] = [0.0, 0.0, 0.0]
        self.restarted = False

    def reset(self) -> None:
        """Forget all inputs; the next update starts the filter again."""
        self._t_prev_s = None

    def update(self, t_s: float, position: FloatArray) -> FloatArray:
        """Feed the input ``position`` (3,) taken at ``t_s`` [s]; return the filtered (3,)."""
        x = [float(position[0]), float(position[1]), float(position[2])]
        if not (math.isfinite(t_s) and all(math.isfinite(v) for v in x)):
            raise InvalidCommand(f"tremor filter input must be finite, got t={t_s!r}, x={x}")
        t_prev = self._t_prev_s
        if t_prev is not None and t_s < t_prev:
            raise InvalidCommand(f"timestamps must not decrease: got {t_s!r} s after {t_prev!r} s")
        if not self.config.enabled:
            self.restarted = t_prev is None
            self._t_prev_s = t_s
            return np.array(x)
        if t_prev is None or t_s - t_prev > self.config.max_input_gap_s:
            self._start(t_s, x)
            return np.array(self._y)
        self.restarted = False
        if t_s > t_prev:
            rate_hz = self.config.rate_hz
            span_s = t_s - t_prev
            while True:
                t_tick = self._t_origin_s + self._next_tick / rate_hz
                if t_tick > t_s:
                    break
                u = (t_tick - t_prev) / span_s
                xi = [self._x_prev[k] + (x[k] - self._x_prev[k]) * u for k in range(3)]
                v = [xi[k] - self._origin[k] for k in range(3)]
                for section in self._sections:
                    v = section.step(v)
                self._y = [self._origin[k] + v[k] for k in range(3)]
                self._next_tick += 1
        self._t_prev_s = t_s
        self._x_prev = x
        return np.array(self._y)

    def _start(self, t_s: float, x: list[float]) -> None:
        self._sections = [_Biquad(section) for section in self.config.sections]
        self._origin = x
        self._t_origin_s = t_s
        self._next_tick = 1
        self._t_prev_s = t_s
        self._x_prev = x
        self._y = list(x)
        self.restarted = True
