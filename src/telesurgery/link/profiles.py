"""Link profiles: the parameters of an emulated network path, named or parsed from a spec string.

A :class:`LinkProfile` describes *one direction*; a profile is applied to both directions (each
with its own random stream, see :func:`telesurgery.link.emulator.duplex`) unless stated, so the
configured round-trip time is ``2 * delay_ms``.

Named profiles live in :data:`PROFILES` and are looked up with :func:`get_profile`;
:func:`parse_link` accepts ``"rome-beijing-dedicated"``, ``"rome-beijing-dedicated@1mbps"``,
``"delay=67.5ms,jitter=2ms,loss=0.01%,rate=1mbps"`` or a name followed by overrides
(``"rome-beijing-internet,loss=2%"``).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from telesurgery.exceptions import ConfigError

NO_EMULATION = "none"
"""The link name that means the real network only: no emulator is installed."""


class JitterDistribution(enum.Enum):
    """Marginal distribution of the one-way delay."""

    NORMAL = "normal"
    """``delay_ms + jitter_ms * z``, clipped at ``min_delay_ms``; for small, symmetric jitter."""
    LOGNORMAL = "lognormal"
    """``min_delay_ms`` plus a log-normal excess with mean ``delay_ms - min_delay_ms`` and
    standard deviation ``jitter_ms``: the right-skewed shape of queueing delay on the internet."""


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """One direction of an emulated path. Probabilities are fractions in [0, 1)."""

    name: str
    """Registry name, or ``"custom"`` for a parsed spec."""
    delay_ms: float
    """Mean one-way delay [ms] (propagation plus mean queueing); RTT is twice this."""
    jitter_ms: float = 0.0
    """Standard deviation of the one-way delay [ms]."""
    distribution: JitterDistribution = JitterDistribution.NORMAL
    """Shape of the delay distribution."""
    min_delay_ms: float = 0.0
    """Floor of the one-way delay [ms] (the propagation delay of the path)."""
    jitter_correlation_ms: float = 0.0
    """Time constant of the delay process [ms]: the latent Gaussian of the delay follows an
    Ornstein-Uhlenbeck process, so packets sent close together see similar delays, as queueing
    does. 0 draws every packet independently. The marginal distribution is unchanged."""
    loss: float = 0.0
    """Mean packet loss probability."""
    loss_burst: float = 1.0
    """Mean loss burst length [packets]: 1 is independent (Bernoulli) loss, > 1 a Gilbert-Elliott
    channel whose bad state loses every packet and lasts ``loss_burst`` packets on average."""
    reorder: float = 0.0
    """Probability that a packet is held back by ``reorder_gap_ms`` and overtaken; with 0 the
    link never reorders (real jitter on one path rarely does)."""
    reorder_gap_ms: float = 5.0
    """Extra delay of a reordered packet [ms]."""
    duplicate: float = 0.0
    """Probability that a packet is delivered twice."""
    rate_bps: float | None = None
    """Bottleneck rate [bit/s] (serialisation delay per packet); ``None`` is unlimited."""
    queue_bytes: int | None = None
    """Tail-drop limit of the bottleneck queue [bytes]; ``None`` is 100 ms at ``rate_bps``
    (at least 3000 bytes). Ignored without a rate."""

    def __post_init__(self) -> None:
        _check(self.delay_ms, "delay_ms", 0.0, math.inf, "a finite delay >= 0 ms")
        _check(self.jitter_ms, "jitter_ms", 0.0, math.inf, "a finite jitter >= 0 ms")
        _check(self.min_delay_ms, "min_delay_ms", 0.0, self.delay_ms, "0 ms .. delay_ms")
        if self.distribution is JitterDistribution.LOGNORMAL and self.jitter_ms > 0.0:
            _check(
                self.delay_ms - self.min_delay_ms,
                "delay_ms - min_delay_ms",
                1e-9,
                math.inf,
                "> 0 ms for a log-normal delay with jitter",
            )
        _check(self.jitter_correlation_ms, "jitter_correlation_ms", 0.0, math.inf, ">= 0 ms")
        _check(self.loss, "loss", 0.0, 0.999999, "a probability in [0, 1)")
        _check(self.loss_burst, "loss_burst", 1.0, math.inf, ">= 1 packet")
        _check(self.reorder, "reorder", 0.0, 0.999999, "a probability in [0, 1)")
        _check(self.reorder_gap_ms, "reorder_gap_ms", 0.0, math.inf, ">= 0 ms")
        _check(self.duplicate, "duplicate", 0.0, 0.999999, "a probability in [0, 1)")
        if self.rate_bps is not None:
            _check(self.rate_bps, "rate_bps", 1.0, math.inf, ">= 1 bit/s or None")
        if self.queue_bytes is not None and self.queue_bytes < 1:
            raise ConfigError("queue_bytes", self.queue_bytes, ">= 1 byte or None")

    @property
    def rtt_ms(self) -> float:
        """Configured mean round-trip time when applied to both directions [ms]."""
        return 2.0 * self.delay_ms

    @property
    def queue_limit_bytes(self) -> int | None:
        """Effective tail-drop limit [bytes], ``None`` without a rate."""
        if self.rate_bps is None:
            return None
        if self.queue_bytes is not None:
            return self.queue_bytes
        return max(3000, round(self.rate_bps * 0.100 / 8.0))

    def with_rate(self, rate_bps: float | None, queue_bytes: int | None = None) -> LinkProfile:
        """The same path behind a bottleneck of ``rate_bps``."""
        return dataclasses.replace(self, rate_bps=rate_bps, queue_bytes=queue_bytes)


def _check(value: float, field: str, low: float, high: float, valid: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(field, value, valid)


LAN: Final = LinkProfile(name="lan", delay_ms=0.25, jitter_ms=0.05, min_delay_ms=0.1)
"""Same building, switched Ethernet: RTT 0.5 ms."""

FIVE_G_REGIONAL: Final = LinkProfile(
    name="5g-regional",
    delay_ms=13.0,
    jitter_ms=2.0,
    min_delay_ms=8.0,
    jitter_correlation_ms=20.0,
    loss=0.001,
)
"""Regional 5G telesurgery: RTT 26 ms, the median of a 29-case 5G remote-surgery series.
Jitter (2 ms std per direction) and loss (0.1 %) are assumptions, not measurements."""

ROME_BEIJING_DEDICATED: Final = LinkProfile(
    name="rome-beijing-dedicated",
    delay_ms=67.5,
    jitter_ms=1.5,
    min_delay_ms=60.0,
    jitter_correlation_ms=20.0,
    loss=0.0001,
)
"""Dedicated (leased, prioritised) Rome-Beijing line: RTT 135 ms, loss 0.01 %. Jitter <= 5 ms is
met as 1.5 ms std per direction (99.9 % of one-way delays within +/- 4.9 ms of the mean),
correlated over 20 ms so that a 1 kHz stream is not reordered."""

ROME_BEIJING_INTERNET: Final = LinkProfile(
    name="rome-beijing-internet",
    delay_ms=108.15,
    jitter_ms=51.2,
    distribution=JitterDistribution.LOGNORMAL,
    min_delay_ms=60.0,
    jitter_correlation_ms=1000.0,
    loss=0.005,
    loss_burst=3.0,
)
"""Public internet between China and Italy.

Derivation (data: ``shared/data/network``, RIPE Atlas, not copied here):

* RTT: the CN-IT country pair of the ouroboros-leios aggregate (five days of RIPE Atlas IPv4 pings,
  March-April 2025) has 3,823 samples, mean 216.3 ms, std 72.4 ms, max 800 ms. The mean one-way
  delay is half the mean RTT, 108.15 ms. The two directions are drawn independently, so the RTT
  variance is twice the one-way variance: one-way std = 72.4 / sqrt(2) = 51.2 ms.
* Shape and floor: internet delay is right-skewed (queueing adds, nothing subtracts), so the
  excess over a floor is log-normal. The pair's minimum (20.4 ms) is a mis-located probe (the
  dataset README warns about such values); the floor is instead the great-circle Rome-Beijing
  distance (8,130 km) in fibre at 2/3 c, 41 ms one way, times a typical 1.5 route stretch:
  60 ms one way (120 ms RTT).
* Loss: in the six long-haul RIPE Atlas RTT traces (WenqinSHAO/rtt, one ping per ~4 min) 302 of
  49,006 measurements failed (0.62 % pooled; per trace 0.07 %-3.1 %, median 0.19 %, the pooled
  figure dominated by outages of one trace): we take 0.5 %. Failures cluster, so losses come in
  Gilbert-Elliott bursts of 3 packets on average (an assumption: a 4-minute sampling cannot
  resolve packet-level bursts).
* Correlation: the aggregate std mixes paths and hours; per packet the delay varies slowly, so the
  delay process has a 1 s time constant (an assumption). A 1 kHz stream then sees delay changes
  of ~1-2 ms between packets; the no-reordering rule raises its mean one-way delay by about 3 %
  (measured 111 ms over 300 s, seed 1; with 200 ms it would be 19 %).
"""

GEO_SATELLITE: Final = LinkProfile(
    name="geo-satellite",
    delay_ms=300.0,
    jitter_ms=5.0,
    min_delay_ms=270.0,
    jitter_correlation_ms=100.0,
    loss=0.001,
)
"""Geostationary satellite hop (ground-satellite-ground twice per round trip): RTT 600 ms, of
which ~480 ms is the physical 4 x 35,786 km; jitter and loss are assumptions."""

PROFILES: Final[Mapping[str, LinkProfile]] = MappingProxyType(
    {
        profile.name: profile
        for profile in (
            LAN,
            FIVE_G_REGIONAL,
            ROME_BEIJING_DEDICATED,
            ROME_BEIJING_INTERNET,
            GEO_SATELLITE,
        )
    }
)
"""Every named profile."""


def get_profile(name: str) -> LinkProfile:
    """The named profile; :class:`ConfigError` lists the valid names."""
    profile = PROFILES.get(name)
    if profile is None:
        raise ConfigError("link profile", name, "one of " + ", ".join(PROFILES))
    return profile


# --- spec parser --------------------------------------------------------------------------------

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e([+-]?[0-9]+))?"
_QUANTITY: Final = re.compile(_NUMBER + r"\s*([a-z%/]*)")

_TIME_UNITS: Final = MappingProxyType({"us": 1e-3, "ms": 1.0, "s": 1e3})
_RATE_UNITS: Final = MappingProxyType(
    {
        "bps": 1.0,
        "kbps": 1e3,
        "mbps": 1e6,
        "gbps": 1e9,
        "bit": 1.0,
        "kbit": 1e3,
        "mbit": 1e6,
        "gbit": 1e9,
    }
)
_SIZE_UNITS: Final = MappingProxyType(
    {"b": 1.0, "kb": 1e3, "kib": 1024.0, "mb": 1e6, "mib": 1048576.0}
)
_PERCENT: Final = MappingProxyType({"%": 0.01})
_PACKETS: Final = MappingProxyType({"": 1.0, "pkt": 1.0, "packets": 1.0})


def _quantity(key: str, text: str, units: Mapping[str, float]) -> float:
    match = _QUANTITY.fullmatch(text.strip().lower())
    valid_units = ", ".join(unit or "(none)" for unit in units)
    if match is None or match.group(3) not in units:
        raise ConfigError(key, text, f"a number with a unit in {valid_units}")
    mantissa, exponent, unit = match.groups()
    try:
        value = float(mantissa) * 10.0 ** int(exponent or 0) * units[unit]
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ConfigError(key, text, f"a finite number with a unit in {valid_units}")
    return value


def _distribution(key: str, text: str) -> JitterDistribution:
    try:
        return JitterDistribution(text.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in JitterDistribution)
        raise ConfigError(key, text, f"one of {valid}") from None


_Setter = Callable[[str, str], tuple[str, object]]


def _time(field: str) -> _Setter:
    return lambda key, text: (field, _quantity(key, text, _TIME_UNITS))


def _fraction(field: str) -> _Setter:
    return lambda key, text: (field, _quantity(key, text, _PERCENT))


_KEYS: Final[Mapping[str, _Setter]] = MappingProxyType(
    {
        "delay": _time("delay_ms"),
        "jitter": _time("jitter_ms"),
        "min_delay": _time("min_delay_ms"),
        "correlation": _time("jitter_correlation_ms"),
        "distribution": lambda key, text: ("distribution", _distribution(key, text)),
        "loss": _fraction("loss"),
        "burst": lambda key, text: ("loss_burst", _quantity(key, text, _PACKETS)),
        "reorder": _fraction("reorder"),
        "reorder_gap": _time("reorder_gap_ms"),
        "duplicate": _fraction("duplicate"),
        "rate": lambda key, text: ("rate_bps", _quantity(key, text, _RATE_UNITS)),
        "queue": lambda key, text: ("queue_bytes", round(_quantity(key, text, _SIZE_UNITS))),
    }
)
"""Spec keys and what they set; units: delay/jitter/min_delay/correlation/reorder_gap in
us|ms|s, loss/reorder/duplicate in %, burst in packets, rate in bps|kbps|mbps|gbps (or kbit...),
queue in b|kb|kib|mb|mib."""

SPEC_HELP: Final = (
    "a profile name ("
    + ", ".join(PROFILES)
    + "), optionally @<rate>, and/or comma-separated key=value items with keys "
    + ", ".join(_KEYS)
    + " (e.g. delay=67.5ms,jitter=2ms,loss=0.01%,rate=1mbps)"
)


def parse_link(spec: str) -> LinkProfile:
    """Parse ``name[@rate][,key=value...]`` or ``key=value[,...]`` into a profile.

    Without a name the profile starts from ``delay=0`` with every impairment off and is named
    ``"custom"``; with a name, the items override that profile's fields.
    """
    items = [item.strip() for item in spec.split(",")]
    if not spec.strip() or any(not item for item in items):
        raise ConfigError("link spec", spec, SPEC_HELP)
    base = LinkProfile(name="custom", delay_ms=0.0)
    overrides: dict[str, object] = {}
    if "=" not in items[0]:
        head = items.pop(0)
        name, _, rate = head.partition("@")
        base = get_profile(name.strip())
        if rate:
            overrides["rate_bps"] = _quantity("rate", rate, _RATE_UNITS)
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not value:
            raise ConfigError("link spec item", item, "key=value with keys " + ", ".join(_KEYS))
        setter = _KEYS.get(key.lower())
        if setter is None:
            raise ConfigError("link spec key", key, "one of " + ", ".join(_KEYS))
        field, parsed = setter(key, value)
        if field in overrides:
            also = " (name@rate already set the rate)" if field == "rate_bps" else ""
            raise ConfigError("link spec key", key, f"each key at most once{also}")
        overrides[field] = parsed
    if not overrides:
        return base
    name = "custom" if base.name == "custom" else spec.strip()
    try:
        return dataclasses.replace(base, name=name, **overrides)  # type: ignore[arg-type]
    except ConfigError as error:
        raise ConfigError("link spec", spec, f"consistent values ({error})") from None
