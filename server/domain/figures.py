"""The statistics' definitions (CONTRACT.md, "Definitions used in statistics").

wait = first called − issued; service = completed − last called (served tickets only);
percentiles by the nearest-rank method (the value at rank ⌈p/100 · n⌉). Durations are exact whole
microseconds; a figure is reported in seconds rounded half up to the millisecond, so a median of
9.49 s is 9.49, never 9.
"""
from __future__ import annotations

from datetime import datetime, timedelta

US = 1_000_000
MS = 1_000
PERCENTILES = (50, 90)


def wait_us(issued_at: datetime, first_called_at: datetime | None) -> int | None:
    return micros(first_called_at - issued_at) if first_called_at is not None else None


def service_us(called_at: datetime | None, completed_at: datetime | None) -> int | None:
    return micros(completed_at - called_at) if called_at is not None and completed_at is not None else None


def micros(td: timedelta) -> int:
    return (td.days * 86400 + td.seconds) * US + td.microseconds


def nearest_rank(n: int, p: int) -> int:
    """The 1-based rank of the p-th percentile of n values."""
    return max(1, -(-p * n // 100))


def seconds(us: int) -> float:
    """Microseconds → seconds, rounded half up to the millisecond."""
    return ((us + MS // 2) // MS) / MS


def mean_seconds(total_us: int, n: int) -> float:
    """The mean of n durations (total in µs) in seconds, rounded half up to the millisecond, exactly."""
    return ((2 * total_us + n * MS) // (2 * n * MS)) / MS


def summary(values: list[int]) -> tuple[float | None, float | None, float | None]:
    """Mean, median and p90 in seconds of durations in µs."""
    if not values:
        return None, None, None
    ordered = sorted(values)
    n = len(ordered)
    median, p90 = (ordered[nearest_rank(n, p) - 1] for p in PERCENTILES)
    return mean_seconds(sum(values), n), seconds(median), seconds(p90)
