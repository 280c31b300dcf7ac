"""What the lobby board shows: a small state machine fed by the device client's inbox.

It keeps the centre, counters, fields, recent calls, ticker and connection status; a `state`
snapshot replaces them (and is never announced), while `ticket.called` / `ticket.recalled`
events, delivered in `seq` order, become announcements. A display limited to a zone
(`device.zone_fields` / `device.zone_counters` in the snapshot) shows and announces only its
zone. No pygame here: the screens draw from this.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from layso.client import CONNECTING
from layso.config import VoiceConfig
from layso.display import texts
from layso.text import nfc
from layso.voice import DEFAULT_TEMPLATE, announcement_text, voice_settings

log = logging.getLogger("layso.display")

RECENT_KEPT = 12
HIGHLIGHT_S = 6.0
CALL_EVENTS = ("ticket.called", "ticket.recalled")

__all__ = ["Board", "Call", "Announcement"]


@dataclass(frozen=True)
class Call:
    """One call of a ticket to a counter, as the board shows it."""

    ticket_id: int | None
    number: str
    field: str
    field_name: str
    counter: int | None
    at: str
    recall: bool

    @property
    def ticket_key(self) -> tuple:
        return (self.ticket_id,) if self.ticket_id is not None else (self.number, self.field)

    @classmethod
    def from_payload(cls, ticket: dict, counter, at, recall: bool) -> "Call":
        n = counter.get("number") if isinstance(counter, dict) else counter
        return cls(ticket_id=ticket.get("id"), number=nfc(ticket.get("number", "")), field=ticket.get("field") or "",
                   field_name=nfc(ticket.get("field_name") or ""), counter=n if isinstance(n, int) else None,
                   at=at or "", recall=bool(recall))


@dataclass(frozen=True)
class Announcement:
    """A sentence for the announcer: chime, then `text` (`repeat` times; a recall repeats)."""

    text: str
    recall: bool
    repeat: int
    call: Call


def _when(at: str) -> datetime | None:
    try:
        return datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return None


class Board:
    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self._clock = clock
        self._wall = wall
        self.version = 0  # bumps on every visible change
        self.connection = CONNECTING
        self.has_state = False
        self.centre: dict = {}
        self.voice = VoiceConfig()
        self.counters: dict[int, dict] = {}
        self.fields: dict[str, dict] = {}
        self.recent: list[Call] = []
        self.ticker = ""
        self.appointments = False  # the centre takes appointments: the ticker line states their rule
        self.zone_fields: frozenset[str] | None = None
        self.zone_counters: frozenset[int] | None = None
        self.highlight_at: float | None = None  # monotonic time of the latest announced call
        self.clock_offset_s = 0.0  # server time minus this device's time
        self._newest_at: datetime | None = None
        self._announced: deque[tuple] = deque(maxlen=256)

    # ---- inbox -----------------------------------------------------------------------------
    def apply(self, kind: str, item: object) -> list[Announcement]:
        """One inbox item of `DeviceClient`: ("state", snapshot), ("event", (type, payload)), ("connection", s)."""
        if kind == "state" and isinstance(item, dict):
            self.apply_state(item)
        elif kind == "event" and isinstance(item, tuple) and len(item) == 2:
            return self.apply_event(*item)
        elif kind == "connection" and isinstance(item, str):
            self.set_connection(item)
        return []

    def set_connection(self, status: str) -> None:
        if status != self.connection:
            self.connection = status
            self.version += 1

    def apply_state(self, snap: dict) -> None:
        """A fresh snapshot: replaces everything shown; its recent calls are never announced."""
        centre = snap.get("centre") or {}
        self.centre = {"name": nfc(centre.get("name", "")), "timezone": centre.get("timezone") or "Asia/Ho_Chi_Minh"}
        self.voice = voice_settings(centre.get("voice"))
        self.counters = {c["number"]: c for c in snap.get("counters") or [] if isinstance(c.get("number"), int)}
        self.fields = {f["code"]: f for f in snap.get("fields") or [] if f.get("code")}
        calls = []
        for rc in snap.get("recent_calls") or []:
            if isinstance(rc.get("ticket"), dict):
                calls.append(Call.from_payload(rc["ticket"], rc.get("counter"), rc.get("at"), rc.get("recall", False)))
        self.recent = self._dedupe(calls)
        for call in self.recent:
            self._note_seen(call)
        self.ticker = nfc(snap.get("ticker") or "")
        self.appointments = bool((centre.get("booking") or {}).get("appointments"))
        if "device" in snap:  # a centre-wide snapshot (after an admin change) keeps this screen's zone
            device = snap.get("device") if isinstance(snap.get("device"), dict) else {}
            zf, zc = device.get("zone_fields"), device.get("zone_counters")
            self.zone_fields = frozenset(zf) if zf else None
            self.zone_counters = frozenset(int(n) for n in zc) if zc else None
        server_now = _when(snap.get("now", ""))
        if server_now is not None and server_now.tzinfo is not None:
            self.clock_offset_s = server_now.timestamp() - self._wall()
        self.has_state = True
        self.version += 1

    def apply_event(self, type_: str, payload: dict) -> list[Announcement]:
        if not isinstance(payload, dict):
            return []
        out: list[Announcement] = []
        if type_ in CALL_EVENTS and isinstance(payload.get("ticket"), dict):
            call = Call.from_payload(payload["ticket"], payload.get("counter"), payload.get("at"),
                                     type_ == "ticket.recalled")
            if self.in_zone(call) and self._is_new(call, type_):
                self.highlight_at = self._clock()
                out.append(self.announcement(call))
            self.recent = self._dedupe([call, *self.recent])
        if isinstance(payload.get("counter"), dict) and isinstance(payload["counter"].get("number"), int):
            self.counters[payload["counter"]["number"]] = payload["counter"]
        if type_ == "queue.changed":
            for f in payload.get("fields") or []:
                if f.get("code"):
                    self.fields[f["code"]] = f
        elif type_ == "ticker.changed":
            self.ticker = nfc(payload.get("ticker") or "")
        self.version += 1
        return out

    # ---- announcements ---------------------------------------------------------------------
    def announcement(self, call: Call) -> Announcement:
        v = self.voice
        opts = {"use_tu": v.use_tu, "odd_word": v.odd_word, "thousand_word": v.thousand_word}
        try:
            text = announcement_text(call.number, call.counter, v.template, v.read_digits, field=call.field_name, **opts)
        except (ValueError, TypeError) as err:
            log.warning("voice template refused (%s); using the default", err)
            text = announcement_text(call.number, call.counter, DEFAULT_TEMPLATE, v.read_digits, **opts)
        return Announcement(text=text, recall=call.recall, repeat=v.repeat, call=call)

    def _note_seen(self, call: Call) -> None:
        when = _when(call.at)
        if when is not None and (self._newest_at is None or when > self._newest_at):
            self._newest_at = when

    def _is_new(self, call: Call, type_: str) -> bool:
        """A call not announced before and not older than the newest call already known."""
        key = (type_, *call.ticket_key, call.at)
        when = _when(call.at)
        stale = when is not None and self._newest_at is not None and when < self._newest_at
        self._note_seen(call)
        if key in self._announced or stale:
            return False
        self._announced.append(key)
        return True

    @staticmethod
    def _dedupe(calls: list[Call]) -> list[Call]:
        """Newest first, one entry per ticket (a recall moves the ticket up)."""
        seen, out = set(), []
        for c in calls:
            if c.ticket_key not in seen:
                seen.add(c.ticket_key)
                out.append(c)
        return out[:RECENT_KEPT]

    # ---- what is shown (zone-filtered) ---------------------------------------------------
    def in_zone(self, call: Call) -> bool:
        if self.zone_counters is not None and call.counter not in self.zone_counters:
            return False
        if self.zone_fields is not None and call.field not in self.zone_fields:
            return False
        return True

    @property
    def ticker_line(self) -> str:
        """The ticker: the centre's announcement, then the appointment rule where it applies."""
        parts = [self.ticker, texts.APPOINTMENT_RULE if self.appointments else ""]
        return texts.TICKER_SEPARATOR.join(p for p in parts if p)

    def visible_calls(self) -> list[Call]:
        return [c for c in self.recent if self.in_zone(c)]

    @property
    def latest(self) -> Call | None:
        calls = self.visible_calls()
        return calls[0] if calls else None

    def visible_counters(self) -> list[dict]:
        out = []
        for n in sorted(self.counters):
            c = self.counters[n]
            if self.zone_counters is not None:
                if n not in self.zone_counters:
                    continue
            elif self.zone_fields is not None and not self.zone_fields.intersection(c.get("fields") or []):
                continue
            out.append(c)
        return out

    def visible_fields(self) -> list[dict]:
        if self.zone_fields is not None:
            keep = self.zone_fields
        elif self.zone_counters is not None:
            keep = {f for n in self.zone_counters for f in (self.counters.get(n) or {}).get("fields", [])}
        else:
            return list(self.fields.values())
        return [f for code, f in self.fields.items() if code in keep]

    def highlighted(self, now: float | None = None) -> float | None:
        """Seconds since the latest call was announced while within the highlight, else None."""
        if self.highlight_at is None:
            return None
        elapsed = (self._clock() if now is None else now) - self.highlight_at
        return elapsed if 0 <= elapsed < HIGHLIGHT_S else None

    def server_time(self) -> float:
        return self._wall() + self.clock_offset_s
