"""Ticket numbers: each field has its own daily sequence, printed either inside a numeric range
(field 1 → 1001, 1002 …) or after a letter prefix with padding (A001); a field's daily cap is at
most its range's size, so its numbers never run into another field's range."""
from __future__ import annotations

from layso.server.domain.statuses import FieldClosed


def range_size(prefix: str | None, width: int, range_start: int | None, range_end: int | None) -> int:
    """How many numbers a field can print in a day."""
    if prefix:
        return 10**width - 1
    return (range_end or 0) - (range_start or 0) + 1


def format_number(n: int, prefix: str | None, width: int, range_start: int | None) -> str:
    """The n-th number of the day (n from 1) as printed."""
    if prefix:
        return f"{prefix}{n:0{width}d}"
    return str((range_start or 1) + n - 1)


def daily_cap(cap: int | None, size: int) -> int:
    """The most numbers a field issues in a day: its own cap, never past its range."""
    return min(cap or size, size)


def past_cutoff(local_hhmm: str, cutoff: str | None) -> bool:
    """Whether a field's last issuing time (HH:MM, local) has passed."""
    return bool(cutoff) and local_hhmm >= cutoff


def why_closed(accepting: bool, issuing_open: bool, local_hhmm: str, cutoff: str | None,
               issued_today: int | None = None, cap: int | None = None) -> FieldClosed | None:
    """Why a field takes no ticket now (None: it does): switched off, outside the issuing hours or
    past its last issuing time, or (when `issued_today` and `cap` are given) its daily cap reached."""
    if not accepting:
        return FieldClosed.FIELD_CLOSED
    if not issuing_open or past_cutoff(local_hhmm, cutoff):
        return FieldClosed.OUTSIDE_HOURS
    if issued_today is not None and cap is not None and issued_today >= cap:
        return FieldClosed.DAILY_CAP_REACHED
    return None
