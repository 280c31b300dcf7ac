"""The estimated wait shown at the kiosk, on the ticket, the lobby and the tracking page.

est = (people ahead + ½) × mean service time of the field's last completed tickets (the configured
default when there are none) ÷ the counters serving the field now. The estimate is honest about
nobody serving: while the centre is closed (before opening, at lunch) it counts from the next
opening, and while the centre is open but no counter of the field is open it is null with a reason —
never "under a minute" with nobody there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

RECENT_SERVICES = 20  # completed tickets whose mean service time feeds the estimate
RECENT_DAYS = 7       # … completed within this many days

OPENS_LATER = "opens_later"          # counted from the next opening
NO_COUNTER_OPEN = "no_counter_open"  # open hours, but no counter of the field is open: no estimate
NO_COUNTER = "no_counter"            # no counter serves the field at all: no estimate
CLOSED = "closed"                    # closed with no opening in sight: no estimate
ESTIMATE_REASONS = (OPENS_LATER, NO_COUNTER_OPEN, NO_COUNTER, CLOSED)


@dataclass(frozen=True)
class Estimate:
    seconds: int | None
    reason: str | None = None


def mean_service_s(durations: Sequence[float]) -> float | None:
    return sum(durations) / len(durations) if durations else None


def estimate_wait(ahead: int, mean_service: float, open_counters: int, all_counters: int,
                  open_now: bool, until_open_s: float | None) -> Estimate:
    """`until_open_s`: seconds to the next opening when closed now (None: none in sight)."""
    if all_counters == 0:
        return Estimate(None, NO_COUNTER)
    if not open_now:
        if until_open_s is None:
            return Estimate(None, CLOSED)
        queue = (ahead + 0.5) * mean_service / all_counters if ahead else 0.0
        return Estimate(int(round(until_open_s + queue)), OPENS_LATER)
    if open_counters == 0:
        return Estimate(None, NO_COUNTER_OPEN)
    if not ahead:
        return Estimate(0)
    return Estimate(int(round((ahead + 0.5) * mean_service / open_counters)))
