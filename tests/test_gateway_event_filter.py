from telesurgery.gateway.event_filter import EventRateFilter


def test_important_events_always_pass() -> None:
    f = EventRateFilter(0.25)
    for i in range(10):
        assert f.admit({"event": "WatchdogHold", "arm": "PSM1"}, 0.001 * i) is not None


def test_noisy_events_are_rate_limited_and_count_what_was_held_back() -> None:
    f = EventRateFilter(0.25)
    e = {"event": "StaleCommandDropped", "arm": "PSM1", "console_id": "rome"}
    assert f.admit(e, 0.0) == e
    assert all(f.admit(e, 0.001 * i) is None for i in range(1, 100))
    out = f.admit(e, 0.25)
    assert out is not None and out["suppressed"] == 99
    assert f.suppressed_total == 99


def test_rate_limit_is_per_arm_and_console() -> None:
    f = EventRateFilter(0.25)
    assert f.admit({"event": "EngageRefused", "arm": "PSM1", "console_id": "a"}, 0.0)
    assert f.admit({"event": "EngageRefused", "arm": "PSM2", "console_id": "a"}, 0.0)
    assert f.admit({"event": "EngageRefused", "arm": "PSM1", "console_id": "b"}, 0.0)
    assert f.admit({"event": "EngageRefused", "arm": "PSM1", "console_id": "a"}, 0.1) is None
