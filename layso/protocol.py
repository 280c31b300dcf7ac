"""The wire protocol as devices see it: event names and in-order delivery by `seq`.

Pure Python: importing this module never imports Flask or SQLAlchemy.
"""
from __future__ import annotations

import re
import threading
import time
from enum import StrEnum
from typing import Callable

API_PREFIX = "/api/v1"



class EventType(StrEnum):
    """The events a centre's clients receive (each a plain string on the wire)."""
    TICKET_ISSUED = "ticket.issued"
    TICKET_CALLED = "ticket.called"
    TICKET_RECALLED = "ticket.recalled"
    TICKET_SKIPPED = "ticket.skipped"
    TICKET_COMPLETED = "ticket.completed"
    TICKET_CANCELLED = "ticket.cancelled"
    TICKET_TRANSFERRED = "ticket.transferred"
    TICKET_RATED = "ticket.rated"
    COUNTER_CHANGED = "counter.changed"
    QUEUE_CHANGED = "queue.changed"
    DEVICE_CHANGED = "device.changed"
    TICKER_CHANGED = "ticker.changed"
    TICKET_REPRINT = "ticket.reprint"
    TICKET_REPRINTED = "ticket.reprinted"  # the kiosk's answer: printed or not, and why
    BOOKING_CREATED = "booking.created"
    BOOKING_CHECKED_IN = "booking.checked_in"
    BOOKING_LAPSED = "booking.lapsed"
    BOOKING_CANCELLED = "booking.cancelled"
    BOOKING_RESCHEDULED = "booking.rescheduled"


EVENTS = tuple(str(e) for e in EventType)
COUNTER_COMMANDS = ("next", "recall", "skip", "complete", "pause", "resume", "transfer", "call", "signin", "close")
PRINTER_STATUSES = ("ok", "paper_out", "cover_open", "offline")

GAP_TIMEOUT_S = 1.0

# Booking codes (online numbers, appointments): short, from an alphabet without look-alikes (no
# 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B); the booking's QR carries its link with `c=CODE`.
BOOKING_CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY3479"
_CODE_RE = re.compile(rf"^[{BOOKING_CODE_ALPHABET}]{{6,8}}$")
_CODE_IN_URL = re.compile(rf"[?&#]c=([{BOOKING_CODE_ALPHABET}]{{6,8}})(?:$|[&#])", re.IGNORECASE)


def read_booking_code(text) -> str | None:
    """The booking code in what a citizen typed or a scanner sent: the bare code (any case, spaces
    and dashes ignored) or the booking's QR link carrying `c=CODE`. None if there is none."""
    if not isinstance(text, str) or len(text) > 300:
        return None
    text = text.strip()
    m = _CODE_IN_URL.search(text)
    if m:
        return m.group(1).upper()
    bare = re.sub(r"[\s-]", "", text).upper()
    return bare if _CODE_RE.match(bare) else None


class SeqBuffer:
    """Delivers events in `seq` order exactly once; asks for a resync when a gap does not fill.

    `deliver(type, payload)` is called for each in-order event; `request_sync()` when an event is
    missing for longer than `gap_timeout` (the owner then emits `sync` and calls `reset` with the
    new state's seq). Thread-safe.
    """

    def __init__(self, deliver: Callable[[str, dict], None], request_sync: Callable[[], None],
                 gap_timeout: float = GAP_TIMEOUT_S, clock: Callable[[], float] = time.monotonic):
        self._deliver = deliver
        self._request_sync = request_sync
        self.gap_timeout = gap_timeout
        self._clock = clock
        self._lock = threading.RLock()
        self.last_seq: int | None = None
        self._held: dict[int, tuple[str, dict]] = {}
        self._gap_since: float | None = None
        self._sync_requested_at: float | None = None

    def reset(self, seq: int, first: Callable[[], None] | None = None) -> None:
        """A fresh `state` snapshot at `seq`: later held events still apply, older ones are dropped.
        `first` (e.g. handing the snapshot on) runs before the held events are delivered, under the
        same lock, so that nobody sees an event newer than the snapshot before the snapshot."""
        with self._lock:
            if first is not None:
                first()
            self.last_seq = seq
            self._sync_requested_at = None
            for s in [s for s in self._held if s <= seq]:
                del self._held[s]
            self._drain()

    def push(self, type_: str, payload: dict) -> None:
        seq = payload.get("seq") if isinstance(payload, dict) else None
        if not isinstance(seq, int):
            return
        with self._lock:
            if self.last_seq is None or seq <= self.last_seq or seq in self._held:
                if self.last_seq is None:
                    self._held[seq] = (type_, payload)
                return
            self._held[seq] = (type_, payload)
            self._drain()

    def _drain(self) -> None:
        if self.last_seq is None:
            return
        while self.last_seq + 1 in self._held:
            self.last_seq += 1
            type_, payload = self._held.pop(self.last_seq)
            self._deliver(type_, payload)
        self._gap_since = (self._gap_since or self._clock()) if self._held else None

    def check(self) -> bool:
        """Call periodically; returns True when it asked for a resync."""
        with self._lock:
            if self._gap_since is None or self._clock() - self._gap_since < self.gap_timeout:
                return False
            if self._sync_requested_at is not None and self._clock() - self._sync_requested_at < 5 * self.gap_timeout:
                return False
            self._sync_requested_at = self._clock()
        self._request_sync()
        return True

    @property
    def waiting_for_gap(self) -> bool:
        with self._lock:
            return bool(self._held) and self.last_seq is not None
