import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.rate_limit import TokenBucket


def test_burst_then_rate() -> None:
    bucket = TokenBucket(rate_hz=1000.0, burst=10.0, now=0.0)
    assert all(bucket.admit(0.0) for _ in range(10))
    assert not bucket.admit(0.0)
    assert bucket.rejected == 1
    # 1 ms later exactly one more token
    assert bucket.admit(0.001)
    assert not bucket.admit(0.001)


def test_sustained_rate_is_bounded() -> None:
    bucket = TokenBucket(rate_hz=1000.0, burst=10.0, now=0.0)
    admitted = sum(bucket.admit(i * 0.0001) for i in range(10_000))  # 10 kHz for 1 s
    assert 1000 <= admitted <= 1011
    assert bucket.rejected == 10_000 - admitted


def test_invalid_parameters_say_what_is_valid() -> None:
    with pytest.raises(ConfigError, match=r"rate_hz=0.*> 0"):
        TokenBucket(rate_hz=0.0, burst=1.0, now=0.0)
    with pytest.raises(ConfigError, match=r"burst=0.5.*>= 1"):
        TokenBucket(rate_hz=1.0, burst=0.5, now=0.0)
