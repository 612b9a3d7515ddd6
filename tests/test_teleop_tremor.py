"""Tremor filter: attenuation and lag measured by simulation, restart, variable dt, JIGSAWS."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError, InvalidCommand
from telesurgery.teleop.recording import read_jigsaws
from telesurgery.teleop.tremor import (
    ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ,
    TremorFilter,
    TremorFilterConfig,
    attenuation_db,
    phase_delay_s,
)

KINEMATICS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kinematics"


def _sine_response(frequency_hz: float, times_s: np.ndarray) -> tuple[float, float]:
    """(attenuation dB, phase delay s) of the filter for a unit sine, fitted over the last 2 s."""
    tremor = TremorFilter()
    w = 2.0 * math.pi * frequency_hz
    out = np.array(
        [tremor.update(float(t), np.array([math.sin(w * t), 0.0, 0.0]))[0] for t in times_s]
    )
    tail = times_s > times_s[-1] - 2.0
    basis = np.column_stack(
        [np.sin(w * times_s[tail]), np.cos(w * times_s[tail]), np.ones(int(tail.sum()))]
    )
    a, b, _ = np.linalg.lstsq(basis, out[tail], rcond=None)[0]
    return -20.0 * math.log10(math.hypot(a, b)), -math.atan2(b, a) / w


UNIFORM_1KHZ_S = np.arange(0.0, 7.0, 0.001)


@pytest.mark.parametrize("frequency_hz", [8.0, 10.0, 12.0])
def test_attenuates_tremor_band_by_20_db_at_1khz(frequency_hz: float) -> None:
    attenuation, _ = _sine_response(frequency_hz, UNIFORM_1KHZ_S)
    assert attenuation >= 21.0
    assert attenuation == pytest.approx(attenuation_db(TremorFilterConfig(), frequency_hz), abs=0.1)


@pytest.mark.parametrize("frequency_hz", [0.5, 1.0, 2.0])
def test_lags_intended_motion_at_most_15_ms_at_1khz(frequency_hz: float) -> None:
    attenuation, delay_s = _sine_response(frequency_hz, UNIFORM_1KHZ_S)
    assert abs(attenuation) < 0.05
    assert 0.0 < delay_s <= 0.0145
    assert delay_s == pytest.approx(phase_delay_s(TremorFilterConfig(), frequency_hz), abs=2e-4)


def test_analytic_response_meets_targets_over_whole_band() -> None:
    config = TremorFilterConfig()
    assert min(attenuation_db(config, f) for f in np.linspace(8.0, 12.0, 401)) >= 21.0
    assert max(abs(attenuation_db(config, f)) for f in np.linspace(0.05, 5.0, 100)) < 0.2
    assert phase_delay_s(config, 1.0) == pytest.approx(0.013588, abs=1e-6)


def test_irregular_input_timestamps_are_resampled() -> None:
    # Browser-like events: 8-25 ms apart (about 60 Hz), jittered.
    times_s = np.cumsum(np.random.default_rng(7).uniform(0.008, 0.025, size=500))
    attenuation, delay_s = _sine_response(1.0, times_s)
    assert abs(attenuation) < 0.05
    assert delay_s <= 0.0150
    attenuation_10, _ = _sine_response(10.0, times_s)
    assert attenuation_10 >= 15.0  # bounded by linear interpolation of 60 Hz input, see spec


def test_constant_input_passes_exactly_from_the_first_sample() -> None:
    tremor = TremorFilter()
    p = np.array([0.11406, -0.00826, 0.35910])
    for k in range(200):
        out = tremor.update(k * 0.0033, p)
        assert out.tolist() == p.tolist()


def test_output_holds_between_ticks_and_equal_timestamps_replace_input() -> None:
    tremor = TremorFilter()
    tremor.update(0.0, np.zeros(3))
    held = tremor.update(0.0004, np.ones(3))  # before the first 1 ms tick: nothing computed
    assert held.tolist() == [0.0, 0.0, 0.0]
    assert tremor.update(0.0004, np.full(3, 2.0)).tolist() == [0.0, 0.0, 0.0]
    assert not tremor.restarted


def test_gap_restarts_on_new_input() -> None:
    tremor = TremorFilter(TremorFilterConfig(max_input_gap_s=0.05))
    assert tremor.update(0.0, np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    assert tremor.restarted
    tremor.update(0.01, np.full(3, 0.01))
    assert not tremor.restarted
    out = tremor.update(0.07, np.full(3, 0.5))
    assert tremor.restarted
    assert out.tolist() == [0.5, 0.5, 0.5]


def test_time_going_backwards_is_rejected() -> None:
    tremor = TremorFilter()
    tremor.update(1.0, np.zeros(3))
    with pytest.raises(InvalidCommand, match="must not decrease"):
        tremor.update(0.999, np.zeros(3))


def test_disabled_filter_passes_through() -> None:
    tremor = TremorFilter(TremorFilterConfig(enabled=False))
    tremor.update(0.0, np.zeros(3))
    assert tremor.update(0.001, np.array([1.0, 2.0, 3.0])).tolist() == [1.0, 2.0, 3.0]


def test_coefficients_are_the_documented_elliptic_design() -> None:
    signal = pytest.importorskip("scipy.signal")
    sos = signal.ellip(4, 0.2, 21.3, [7.65, 12.55], btype="bandstop", fs=1000.0, output="sos")
    _, h0 = signal.sosfreqz(sos, worN=[0.0])
    sos[0, :3] /= abs(h0[0])
    np.testing.assert_allclose(np.array(ELLIPTIC_BANDSTOP_8_12_HZ_AT_1KHZ), sos, rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"rate_hz": 0.0}, r"invalid rate_hz=0.0: valid is a finite rate in \[10, 100000\] Hz"),
        ({"max_input_gap_s": -1.0}, r"invalid max_input_gap_s=-1.0: valid is a duration in"),
        ({"sections": ()}, r"invalid sections=\(\): valid is at least one biquad section"),
        ({"sections": ((1.0, 0.0, 0.0, 1.0, 0.0, 1.5),)}, r"invalid sections\[0\]=.*stable"),
    ],
)
def test_config_validation_names_field_and_valid_range(
    changes: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        TremorFilterConfig(**changes)  # type: ignore[arg-type]


@pytest.mark.skipif(not KINEMATICS.is_dir(), reason="shared JIGSAWS data not present")
@pytest.mark.parametrize("name", ["Suturing_H002.txt", "Knot_Tying_F001.txt"])
def test_real_surgeon_motion_is_not_distorted(name: str) -> None:
    """JIGSAWS master motion at 30 Hz: filtered vs input delayed by the filter's 13.6 ms lag."""
    recording = read_jigsaws(KINEMATICS / name, "left")
    t = recording.timestamps_s
    p = recording.T_recording_master[:, :3, 3]
    tremor = TremorFilter()
    out = np.array([tremor.update(float(ti), pi) for ti, pi in zip(t, p, strict=True)])
    delayed = np.column_stack([np.interp(t - 0.0136, t, p[:, k]) for k in range(3)])
    deviation_m = np.linalg.norm(out - delayed, axis=1)
    motion_rms_m = math.sqrt(float(np.mean(np.sum((p - p.mean(axis=0)) ** 2, axis=1))))
    rms_m = math.sqrt(float(np.mean(deviation_m**2)))
    assert motion_rms_m > 0.01
    assert rms_m < 0.0005  # < 0.5 mm RMS for motions of several centimetres
    assert rms_m / motion_rms_m < 0.01
    assert float(deviation_m.max()) < 0.002
