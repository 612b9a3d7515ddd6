"""Named link profiles, the spec parser and the derivation of the internet profile."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.link.profiles import (
    PROFILES,
    JitterDistribution,
    LinkProfile,
    get_profile,
    parse_link,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "network"


def test_named_profiles_have_the_specified_round_trip_times() -> None:
    assert {name: profile.rtt_ms for name, profile in PROFILES.items()} == {
        "lan": 0.5,
        "5g-regional": 26.0,
        "rome-beijing-dedicated": 135.0,
        "rome-beijing-internet": 216.3,
        "geo-satellite": 600.0,
    }
    dedicated = PROFILES["rome-beijing-dedicated"]
    assert (dedicated.loss, dedicated.reorder, dedicated.rate_bps) == (0.0001, 0.0, None)
    assert 3.3 * dedicated.jitter_ms <= 5.0


def test_unknown_profile_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        get_profile("rome-tokyo")
    assert str(info.value) == (
        "invalid link profile='rome-tokyo': valid is one of lan, 5g-regional, "
        "rome-beijing-dedicated, rome-beijing-internet, geo-satellite"
    )


@pytest.mark.skipif(not DATA.is_dir(), reason="shared network data not present")
def test_internet_profile_is_derived_from_the_ripe_atlas_cn_it_pair() -> None:
    with (DATA / "europe_asia_country_rtt_subset.csv").open() as file:
        row = next(r for r in csv.DictReader(file) if {r["cty1"], r["cty2"]} == {"CN", "IT"})
    profile = PROFILES["rome-beijing-internet"]
    assert profile.rtt_ms == pytest.approx(float(row["rtt_avg"]), abs=0.05)
    assert profile.jitter_ms == pytest.approx(float(row["rtt_std"]) / math.sqrt(2), abs=0.05)
    failed = total = 0
    for trace in sorted((DATA / "ripe_atlas_rtt_traces").glob("*.csv")):
        with trace.open() as file:
            rtts = [float(r["rtt"]) for r in csv.DictReader(file, delimiter=";")]
        failed += sum(1 for rtt in rtts if rtt < 0)
        total += len(rtts)
    assert failed / total == pytest.approx(0.0062, abs=0.0005)  # pooled; the profile takes 0.5 %
    assert profile.loss == 0.005


def test_profile_name_with_a_rate() -> None:
    profile = parse_link("rome-beijing-dedicated@1mbps")
    assert profile.rate_bps == 1e6
    assert profile.delay_ms == 67.5
    assert profile.name == "rome-beijing-dedicated@1mbps"
    assert profile.queue_limit_bytes == 12_500  # 100 ms at 1 Mbit/s


def test_custom_spec_with_every_unit() -> None:
    profile = parse_link(
        "delay=67.5ms, jitter=2000us, min_delay=0.06s, correlation=20ms, distribution=lognormal,"
        "loss=0.01%,burst=3,reorder=1%,reorder_gap=2ms,duplicate=0.5%,rate=2.5Mbit,queue=16KiB"
    )
    assert profile == LinkProfile(
        name="custom",
        delay_ms=67.5,
        jitter_ms=2.0,
        min_delay_ms=60.0,
        jitter_correlation_ms=20.0,
        distribution=JitterDistribution.LOGNORMAL,
        loss=0.0001,
        loss_burst=3.0,
        reorder=0.01,
        reorder_gap_ms=2.0,
        duplicate=0.005,
        rate_bps=2.5e6,
        queue_bytes=16384,
    )


def test_named_profile_with_overrides() -> None:
    profile = parse_link("rome-beijing-internet,loss=2%,rate=10mbps")
    assert (profile.loss, profile.rate_bps, profile.delay_ms) == (0.02, 1e7, 108.15)
    assert parse_link("lan") is PROFILES["lan"]
    assert parse_link("delay=1e1ms").delay_ms == 10.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid link spec='': valid is a profile name (lan, 5g-regional"),
        ("delay=10ms,", "invalid link spec='delay=10ms,'"),
        ("lag=10ms", "invalid link spec key='lag': valid is one of delay, jitter, min_delay"),
        ("delay", "invalid link profile='delay': valid is one of lan"),
        ("delay=10", "invalid delay='10': valid is a number with a unit in us, ms, s"),
        ("delay=10ms,loss=0.5", "invalid loss='0.5': valid is a number with a unit in %"),
        ("delay=10ms,rate=1mb", "invalid rate='1mb': valid is a number with a unit in bps, kbps"),
        ("delay=10ms,distribution=pareto", "valid is one of normal, lognormal"),
        ("delay=10ms,loss=100%", "invalid link spec='delay=10ms,loss=100%': valid is consistent"),
        (
            "rome-beijing-dedicated,delay=5ms",
            "invalid min_delay_ms=60.0: valid is 0 ms .. delay_ms",
        ),
        ("delay=10ms,jitter", "invalid link spec item='jitter': valid is key=value with keys"),
    ],
)
def test_spec_errors_list_valid_keys_and_units(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_link(spec)
    assert message in str(info.value)


def test_profile_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"invalid loss=1.5: valid is a probability in \[0, 1\)"):
        LinkProfile(name="x", delay_ms=1.0, loss=1.5)
    with pytest.raises(ConfigError, match=r"invalid delay_ms=nan"):
        LinkProfile(name="x", delay_ms=math.nan)
    with pytest.raises(ConfigError, match="log-normal delay with jitter"):
        LinkProfile(
            name="x",
            delay_ms=5.0,
            min_delay_ms=5.0,
            jitter_ms=1.0,
            distribution=JitterDistribution.LOGNORMAL,
        )
    assert PROFILES["lan"].with_rate(1e6).queue_limit_bytes == 12_500
    assert PROFILES["lan"].with_rate(1e4).queue_limit_bytes == 3000
    assert PROFILES["lan"].queue_limit_bytes is None


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="each key at most once"):
        parse_link("delay=5ms,delay=10ms")
    with pytest.raises(ConfigError, match=r"name@rate already set the rate"):
        parse_link("lan@10mbps,rate=5mbps")


def test_a_number_beyond_a_float_is_refused() -> None:
    with pytest.raises(ConfigError, match="a finite number"):
        parse_link("delay=1e999ms")
