"""Ticket numbers: each field has its own daily sequence, printed either inside a numeric range
(field 1 → 1001, 1002 …) or after a letter prefix with padding (A001); a field's daily cap is at
most its range's size, so its numbers never run into another field's range."""
from __future__ import annotations


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
