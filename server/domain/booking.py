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

from layso.config import BookingConfig, parse_interval

CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY3479"
CODE_LENGTH = 7
_CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{6,8}}$")
_CODE_IN_URL = re.compile(rf"[?&#]c=([{CODE_ALPHABET}]{{6,8}})(?:$|[&#])", re.IGNORECASE)


def new_code(length: int = CODE_LENGTH) -> str:
    """A random booking code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def read_code(text) -> str | None:
    """The booking code in what a citizen typed or a scanner sent: the bare code (any case, spaces
    and dashes ignored) or the booking's QR link, which carries it as `c=CODE`. None if there is none."""
    if not isinstance(text, str) or len(text) > 300:
        return None
    text = text.strip()
    m = _CODE_IN_URL.search(text)
    if m:
        return m.group(1).upper()
    bare = re.sub(r"[\s-]", "", text).upper()
    return bare if _CODE_RE.match(bare) else None


def normalise_phone(text) -> str:
    """A Vietnamese mobile number as 10 digits starting with 0 (+84 / 84 prefixes accepted);
    ValueError if it is not one."""
    if not isinstance(text, str):
        raise ValueError("phone must be text")
    digits = re.sub(r"[\s.\-()]", "", text)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0[35789]\d{8}", digits):
        raise ValueError("not a Vietnamese mobile number")
    return digits


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
