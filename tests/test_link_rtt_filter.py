import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.link.rtt_filter import WindowedMinRtt


def test_host_hiccups_do_not_raise_the_network_rtt() -> None:
    f = WindowedMinRtt(0.5)
    samples = [135.2, 135.9, 410.0, 136.1, 900.0, 135.4]
    out = [f.add(rtt, 0.1 * i) for i, rtt in enumerate(samples)]
    assert out == [135.2, 135.2, 135.2, 135.2, 135.2, 135.2]


def test_a_path_change_shows_once_it_fills_the_window() -> None:
    f = WindowedMinRtt(0.5)
    for i in range(10):
        f.add(135.0, 0.1 * i)
    values = [f.add(300.0, 1.0 + 0.1 * i) for i in range(7)]
    assert values[:4] == [135.0] * 4  # 135 ms samples still inside the 0.5 s window
    assert values[-1] == 300.0  # the window holds only 300 ms samples now
    assert f.value() == 300.0


def test_a_faster_path_shows_at_once() -> None:
    f = WindowedMinRtt(0.5)
    f.add(200.0, 0.0)
    assert f.add(26.0, 0.1) == 26.0


def test_window_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="window_s"):
        WindowedMinRtt(0.0)
