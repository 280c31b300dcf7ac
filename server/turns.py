"""Long loops give the event loop a turn now and then.

Under `layso serve` (gevent) a greenlet keeps the process until it waits: a loop over a province's
rows — the janitor's sweep over 2,000 fields, the overview over 150 centres — held every other
connection for 20–160 ms (docs/PERFORMANCE.md), so a kiosk's ticket waited behind it. `taking_turns`
yields each item and, every TURN_EVERY items, lets whatever is ready run first (`time.sleep(0)`:
gevent's under the server, a thread switch elsewhere)."""
from __future__ import annotations

import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
TURN_EVERY = 50  # well under a millisecond of a loop's work between turns (a turn costs a few µs)


def taking_turns(items: Iterable[T], every: int = TURN_EVERY) -> Iterator[T]:
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0:
            time.sleep(0)
