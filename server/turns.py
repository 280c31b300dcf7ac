"""Long loops give the event loop a turn now and then; slow work that releases the GIL runs off it.

Under `layso serve` (gevent) a greenlet keeps the process until it waits: a loop over a province's
rows — the janitor's sweep over 2,000 fields, the overview over 150 centres — held every other
connection for 20–160 ms (docs/PERFORMANCE.md), so a kiosk's ticket waited behind it. `taking_turns`
yields each item and, once TURN_S of the loop's time has passed since its last turn, lets whatever
is ready run first (`time.sleep(0)`: gevent's under the server, a thread switch elsewhere). A turn
by the clock, not every so many items: the items' cost varies (a turn every 50 items still left runs
of 8–19 ms in the overview, whose rows are read as they are fetched).

`off_the_loop(fn, *args)` runs `fn` in a small thread pool under the server: a password's or PIN's
scrypt (~0.1 s of CPU, hashlib lets go of the GIL meanwhile) held every connection of the process
for that long at each sign-in — a province administrator's sign-in showed as a 108 ms stop in the
province bench, and a centre's officers sign in within minutes of each other each morning."""
from __future__ import annotations

import time
from typing import Iterable, Iterator, TypeVar

from layso.server.storage.database import gevent_patched

T = TypeVar("T")
TURN_S = 0.002  # at most ~2 ms of a loop's work between turns (a turn costs a few µs)


def taking_turns(items: Iterable[T], every_s: float = TURN_S) -> Iterator[T]:
    last = time.perf_counter()
    for item in items:
        yield item
        now = time.perf_counter()
        if now - last >= every_s:
            time.sleep(0)
            last = time.perf_counter()


OFF_THE_LOOP_THREADS = 2  # at most two hashes at once: each scrypt takes 32 MiB and a core
_pool: list = []


def off_the_loop(fn, *args):
    """`fn(*args)` in a thread pool of its own (OFF_THE_LOOP_THREADS threads, made at first use) when
    the process is monkey-patched (`layso serve`), else at once (tests' in-process apps, the CLI).
    For work that releases the GIL, or it gains nothing. Not gevent's shared pool: a morning's burst
    of sign-ins must not take the threads the SQLite read engine's statements run in."""
    if gevent_patched():
        if not _pool:
            import gevent.threadpool
            _pool.append(gevent.threadpool.ThreadPool(OFF_THE_LOOP_THREADS))
        return _pool[0].apply(fn, args)
    return fn(*args)
