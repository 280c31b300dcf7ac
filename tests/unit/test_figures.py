"""The statistics' definitions (`domain.figures`): nearest-rank percentiles of exact durations,
seconds rounded half up to the millisecond (never each duration to whole seconds first)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from layso.server.domain import figures

US = 1_000_000


def test_nearest_rank_and_half_up():
    assert figures.summary([s * US for s in range(1, 11)]) == (5.5, 5, 9)  # ranks 5 and 9
    assert figures.summary([1 * US]) == (1, 1, 1)
    assert figures.summary([499_999, 500_000, 2_500_000]) == (1.167, 0.5, 2.5)
    assert figures.summary([]) == (None, None, None)
    assert figures.seconds(1_000_499) == 1.0 and figures.seconds(1_000_500) == 1.001


def test_a_median_of_nine_and_a_half_seconds_is_not_nine():
    """9.49 s is 0.158 min, shown "0,2" — rounding each duration to 9 s first showed "0,1"."""
    median = figures.summary([9_490_000, 9_490_000, 9_600_000])[1]
    assert median == 9.49 and round(median / 60, 1) == 0.2


@given(st.lists(st.integers(0, 10**10), min_size=1, max_size=50))
def test_percentiles_are_values_of_the_list(values):
    mean, median, p90 = figures.summary(values)
    ordered = sorted(values)
    assert figures.seconds(ordered[figures.nearest_rank(len(values), 50) - 1]) == median
    assert median <= p90 and figures.seconds(min(values)) <= mean <= figures.seconds(max(values))


def test_wait_and_service_definitions():
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    assert figures.wait_us(t0, t0 + timedelta(seconds=9, microseconds=490_000)) == 9_490_000
    assert figures.wait_us(t0, None) is None
    assert figures.service_us(t0, t0 + timedelta(minutes=7)) == 420 * US
    assert figures.service_us(None, t0) is None
