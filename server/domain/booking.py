"""Rules of the remote channel (online numbers taken from a phone), as plain functions.

No SQL and no Flask: the engine asks these functions and applies their answers.

- A booking code is short (7 characters) from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z,
  5/S, 6/G, 8/B), so it can be read aloud, typed on a kiosk's touch screen or scanned from a QR.
- A citizen is known only by a keyed hash: of the phone number when one is given, else of a random
  cookie of the browser. The phone number itself is never kept by these rules.
- A field offers online a share of its daily numbers (or a set number of them); a citizen takes at
  most `per_citizen_daily` online numbers a day.
- An unused online number lapses at the configured hour of its day (or at the day's closing), or
  `lapse_after_call_min` minutes after it was first called without a check-in, whichever is first.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from layso.config import BookingConfig, normalise_phone, parse_interval  # noqa: F401 (the phone rule, here too)
from layso.protocol import BOOKING_CODE_ALPHABET, read_booking_code

CODE_ALPHABET = BOOKING_CODE_ALPHABET  # one alphabet for the server and the kiosks
CODE_LENGTH = 7


def new_code(length: int = CODE_LENGTH) -> str:
    """A random booking code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


read_code = read_booking_code  # the kiosk reads scans with the same function (layso.protocol)


def citizen_key(secret: str, phone: str | None = None, device: str | None = None) -> str | None:
    """A keyed hash standing for the citizen (phone first, else the browser cookie): it can count a
    citizen's bookings but cannot be turned back into a phone number without the server's secret."""
    if phone:
        material = "phone:" + phone
    elif device:
        material = "device:" + device
    else:
        return None
    return hmac.new(secret.encode(), material.encode(), hashlib.sha256).hexdigest()


def online_cap(daily_cap: int, field_code: str, cfg: BookingConfig) -> int:
    """How many of a field's numbers of one day may be taken online."""
    if field_code in cfg.closed_fields:
        return 0
    if field_code in cfg.field_caps:
        return min(cfg.field_caps[field_code], daily_cap)
    return min(daily_cap, math.floor(daily_cap * cfg.online_share))


def booking_open(cfg: BookingConfig, local_now: datetime) -> bool:
    """Whether the booking page takes bookings at this local time."""
    if not cfg.enabled:
        return False
    t = local_now.time()
    for text in cfg.hours:
        start, end = parse_interval(text)
        if start <= t and (end is None or t < end):
            return True
    return False


@dataclass(frozen=True)
class LapseRule:
    """When an unused online number lapses (see the module's docstring)."""

    at: time | None  # local hour of its day; None: the day's closing
    after_call: timedelta | None

    @classmethod
    def of(cls, cfg: BookingConfig) -> "LapseRule":
        at = None
        if cfg.lapse_at:
            h, m = (int(x) for x in cfg.lapse_at.split(":"))
            at = time(h, m)
        after = timedelta(minutes=cfg.lapse_after_call_min) if cfg.lapse_after_call_min else None
        return cls(at, after)

    def due(self, day: date, tz, closing: datetime | None, first_called_at: datetime | None) -> datetime | None:
        """The moment a number of `day` lapses if it has not been checked in by then."""
        candidates = []
        if self.at is not None:
            candidates.append(datetime.combine(day, self.at, tz))
        elif closing is not None:
            candidates.append(closing)
        if self.after_call is not None and first_called_at is not None:
            candidates.append(first_called_at + self.after_call)
        return min(candidates) if candidates else None


def bookable_day(day: date, today: date, cfg: BookingConfig, open_on) -> str | None:
    """None when `day` can be booked, else why not (`open_on(day)` tells whether the centre opens)."""
    if day < today or day > today + timedelta(days=cfg.horizon_days):
        return "outside_horizon"
    if not open_on(day):
        return "centre_closed"
    return None


# ---- appointments ---------------------------------------------------------------------------------
def slots_of(intervals: list[tuple[datetime, datetime]], minutes: int) -> list[tuple[datetime, datetime]]:
    """The day's appointment slots: whole slots of `minutes` inside each opening interval."""
    out, step = [], timedelta(minutes=minutes)
    for start, end in intervals:
        t = start
        while t + step <= end:
            out.append((t, t + step))
            t += step
    return out


def slot_capacity(counters: int, slot_minutes: int, service_minutes: float, set_by_admin: int | None = None) -> int:
    """People per slot: the admin's number, else how many the field's counters serve in a slot."""
    if set_by_admin is not None:
        return set_by_admin
    if counters <= 0 or service_minutes <= 0:
        return 0
    return int(counters * slot_minutes // service_minutes)


def check_in_window(slot_start: datetime, before_min: int, after_min: int) -> tuple[datetime, datetime]:
    """When an appointment may be checked in and keep its place (before: too early; after: late)."""
    return slot_start - timedelta(minutes=before_min), slot_start + timedelta(minutes=after_min)


def appointment_queue_pos(slot_start: datetime, checked_in_at: datetime, waiting: list[tuple[datetime, float, str]],
                          next_pos: float) -> float:
    """Where an appointment checked in within its window joins its field's queue.

    The rule: it counts as issued at its slot's start, or at its check-in when that is earlier. So it
    goes ahead of every walk-in ticket issued after that moment and behind everyone issued before it
    (and behind appointments checked in earlier for the same place).

    `waiting` is the field's waiting tickets of the normal class as (issued_at, queue_pos, channel);
    `next_pos` is the position a ticket issued now would get. The call order then needs no rule of
    its own: it takes tickets by queue position as always.
    """
    counts_from = min(slot_start, checked_in_at)
    later = [pos for issued, pos, channel in waiting if channel != "appointment" and issued > counts_from]
    if not later:
        return next_pos
    first_later = min(later)
    before = [pos for _i, pos, _c in waiting if pos < first_later]
    prev = max(before) if before else first_later - 1.0
    return (prev + first_later) / 2
