"""The server's one injectable clock. Everything that needs "now" asks `now()`.

Tests freeze or move it with `set_clock(FrozenClock(...))`; a server process started by a test may
be given a fixed offset through LAYSO_CLOCK_OFFSET_S (seconds added to the real time), which lets
end-to-end tests exercise day rollover without waiting for midnight.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone


class SystemClock:
    def __init__(self, offset_s: float = 0.0):
        self.offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = at.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at.astimezone(timezone.utc)

    def advance(self, **kwargs) -> datetime:
        with self._lock:
            self._at += timedelta(**kwargs)
            return self._at


_clock = SystemClock(float(os.environ.get("LAYSO_CLOCK_OFFSET_S", "0") or 0))


def now() -> datetime:
    """Aware UTC now, from the installed clock."""
    return _clock.now()


def set_clock(clock) -> None:
    global _clock
    _clock = clock


def get_clock():
    return _clock
