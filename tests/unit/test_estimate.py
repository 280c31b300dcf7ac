"""The estimated wait (`domain.estimate`): honest when nobody serves, never "under a minute" then."""
from __future__ import annotations

from layso.server.domain.estimate import (
    CLOSED,
    NO_COUNTER,
    NO_COUNTER_OPEN,
    OPENS_LATER,
    Estimate,
    estimate_wait,
    mean_service_s,
)


def test_open_counters_share_the_people_ahead():
    assert estimate_wait(3, 240, 1, 2, True, None) == Estimate(round(3.5 * 240))
    assert estimate_wait(3, 240, 2, 2, True, None) == Estimate(round(3.5 * 240 / 2))
    assert estimate_wait(0, 240, 1, 2, True, None) == Estimate(0)


def test_before_opening_and_at_lunch_the_estimate_counts_from_the_opening():
    assert estimate_wait(0, 600, 0, 2, False, 1800) == Estimate(1800, OPENS_LATER)
    assert estimate_wait(4, 600, 0, 2, False, 1800) == Estimate(round(1800 + 4.5 * 600 / 2), OPENS_LATER)
    # counters left open over lunch still count from the opening
    assert estimate_wait(0, 600, 2, 2, False, 3600) == Estimate(3600, OPENS_LATER)


def test_no_estimate_without_anyone_to_serve():
    assert estimate_wait(0, 600, 0, 2, True, None) == Estimate(None, NO_COUNTER_OPEN)
    assert estimate_wait(5, 600, 0, 0, True, None) == Estimate(None, NO_COUNTER)
    assert estimate_wait(5, 600, 0, 2, False, None) == Estimate(None, CLOSED)


def test_mean_service_time():
    assert mean_service_s([]) is None
    assert mean_service_s([60, 120]) == 90
