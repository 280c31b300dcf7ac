"""What every command works in: its session, the locked centre, the centre's settings, "now", the
events it will publish (numbered by `seq` when it finishes), and the contract's Ticket and Counter
objects built from rows."""
from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import TYPE_CHECKING

from layso.server import clock
from layso.server.domain.hours import Hours
from layso.server.domain.queue import PriorityRule
from layso.server.domain.statuses import TicketStatus
from layso.server.engine.statements import CENTRE_SEQ, TICKET_LOG, row_update, seq_and_log, seq_and_log_params
from layso.server.storage import prepared
from layso.server.storage.models import Centre, Counter, Ticket
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from layso.config import BookingConfig, NotifyConfig, PriorityConfig, QueueConfig, RatingConfig

if TYPE_CHECKING:
    from layso.server.engine import QueueEngine


@dataclass
class Event:
    type: str
    payload: dict
    centre_id: int

    @property
    def seq(self) -> int:
        return self.payload["seq"]


@dataclass
class Result:
    value: object
    events: list[Event] = dc_field(default_factory=list)
    created: bool = True


def iso(dt: datetime | None, tz) -> str | None:
    return dt.astimezone(tz).isoformat(timespec="seconds") if dt else None


class Settings:
    """A centre's validated settings sections, parsed again only when the centre's settings change."""

    # (centre, time zone, "text" | "value") → (the settings parsed last, as compared, and their parse)
    _latest: dict[tuple[int, str, str], tuple[object, "Settings"]] = {}
    _lock = threading.Lock()

    def __init__(self, s: dict, timezone: str):
        self.hours = Hours(s["hours"], timezone)
        self.tz = self.hours.tz
        self.priority = PriorityConfig.model_validate(s.get("priority", {}))
        self.rule = PriorityRule.of(self.priority)
        self.queue = QueueConfig.model_validate(s.get("queue", {}))
        self.rating = RatingConfig.model_validate(s["rating"])
        self.voice = s.get("voice", {})
        self.thank_you = s.get("thank_you", "")
        self.categories = {c.code: c.name for c in self.priority.categories}
        self.booking = BookingConfig.model_validate(s.get("booking", {}))
        self.notify = NotifyConfig.model_validate(s.get("notify", {}))

    @classmethod
    def of_json(cls, centre_id: int, timezone: str, settings_json: str) -> "Settings":
        """The settings of a centre read as the JSON text stored (a command's lock, the janitor's sweep
        over every centre): decoding 150 centres' settings every 15 s was most of a sweep, and for
        every command 3 % of an issue's CPU."""
        return cls._latest_of((centre_id, timezone, "text"), settings_json,
                              lambda: (settings_json, json.loads(settings_json)))

    @classmethod
    def of(cls, centre: Centre) -> "Settings":
        """The settings of a loaded Centre, compared as values (`==` of the decoded JSON; writing them
        as sorted JSON for a key was 3 % of an issue's CPU)."""
        return cls._latest_of((centre.id, centre.timezone, "value"), centre.settings,
                              lambda: (copy.deepcopy(centre.settings), centre.settings))

    @classmethod
    def _latest_of(cls, key: tuple[int, str, str], source, decode) -> "Settings":
        """The parse kept for `key` when it came from settings equal to `source`, else a new one
        (`decode()`: what to compare with next time, and the settings as a dict)."""
        hit = cls._latest.get(key)
        if hit is not None and hit[0] == source:
            return hit[1]
        kept, settings = decode()
        made = cls(settings, key[1])
        with cls._lock:
            if len(cls._latest) > 2048:  # a province: a few hundred centres, two entries each
                cls._latest.clear()
            cls._latest[key] = (kept, made)
        return made


class Command:
    """The context of one command: its session, locked centre, settings and pending events."""

    def __init__(self, engine: "QueueEngine", session: Session, centre: Centre, base_url: str | None,
                 settings_json: str | None = None):
        """`settings_json`: the centre's settings as the text stored (the lock's `SETTINGS_TEXT`)."""
        self.engine = engine
        self.s = session
        self.centre = centre
        self.cfg = Settings.of(centre) if settings_json is None else \
            Settings.of_json(centre.id, centre.timezone, settings_json)
        self.now = clock.now()
        self.today = self.cfg.hours.day_of(self.now)
        self.base_url = (centre.public_url or base_url or engine.default_base_url or "").rstrip("/")
        self.pending: list[tuple[str, dict, dict | None]] = []
        self._conn = None
        self.locked = None  # the row of the statement that locked the centre (`EngineBase._run`)

    def core(self, statement, params=None):
        """Run a Core statement (columns, counts, inserts and updates of rows, not ORM objects) on the
        command's connection, after flushing what the session holds so it sees every change so far.
        Through `Session.execute` the same statement costs two to three times the CPU: the ORM's
        compile and result machinery, for nothing it needs (docs/PERFORMANCE.md)."""
        self.s.flush()  # nothing to do, at once, when nothing changed
        if self._conn is None:
            self._conn = self.s.connection()
        return prepared.execute(self._conn, statement, {} if params is None else params)

    def update(self, obj, **values) -> None:
        """Change columns of a loaded row (`obj`, which has an `id`) by one Core UPDATE, and give the
        object the new values as its committed state: the unit of work's flush of a changed object
        costs several times its statement (docs/PERFORMANCE.md). The session still flushes first what
        it holds (`core`)."""
        params = {"row_id": obj.id}
        for name, value in values.items():
            params["v_" + name] = value
        self.core(row_update(obj.__table__, tuple(values)), params)
        for name, value in values.items():
            set_committed_value(obj, name, value)

    # ---- events -------------------------------------------------------------------------
    def emit(self, type_: str, payload: dict, log: dict | None = None) -> None:
        """Queue an event; `log` (ticket, counter, officer, device, data) also writes the ticket log."""
        self.pending.append((str(type_), payload, log))

    def next_pos(self) -> float:
        """A queue position after every ticket queued so far: the seq the next event will get."""
        return float(self.centre.seq + len(self.pending) + 1)

    def finish(self) -> list[Event]:
        """Number the pending events (the centre's `seq`), write the ticket log, return the events."""
        if not self.pending:
            return []
        base = self.centre.seq
        events, log_rows = [], []
        for i, (type_, payload, log) in enumerate(self.pending, start=1):
            payload = {"seq": base + i, **payload}
            if log is not None:
                log_rows.append({"centre_id": self.centre.id, "ticket": log["ticket"], "seq": base + i,
                                 "type": type_, "at": self.now, "counter_id": log.get("counter_id"),
                                 "officer_id": log.get("officer_id"), "device_id": log.get("device_id"),
                                 "data": log.get("data") or {}})
            events.append(Event(type_, payload, self.centre.id))
        # the new seq by one UPDATE, not the unit of work: the centre row is locked by this command
        seq = {"cid": self.centre.id, "new_seq": base + len(self.pending)}
        if log_rows and self.s.bind.dialect.name == "postgresql":
            columns, params = seq_and_log_params(self._with_ids(log_rows), seq)
            self.core(seq_and_log(columns, len(log_rows)), params)
        else:
            self.core(CENTRE_SEQ, seq)
            if log_rows:  # one INSERT for the ticket log
                self.core(TICKET_LOG, self._with_ids(log_rows))
        if isinstance(self.centre, Centre):
            set_committed_value(self.centre, "seq", seq["new_seq"])
        else:  # the plain centre (engine/tickets.py)
            self.centre.seq = seq["new_seq"]
        return events

    def _with_ids(self, log_rows: list[dict]) -> list[dict]:
        """The log rows with their tickets' ids (a ticket made in this command has one once flushed)."""
        self.s.flush()
        for row in log_rows:
            row["ticket_id"] = row.pop("ticket").id
        return log_rows

    # ---- serialisation (the contract's objects) -------------------------------------------
    def iso(self, dt: datetime | None) -> str | None:
        return iso(dt, self.cfg.tz)

    def track_url(self, ticket: Ticket) -> str:
        return f"{self.base_url}/t/{ticket.track_token}"

    def ticket_dict(self, t: Ticket, public: bool = False, ahead: int | None = None) -> dict:
        """`ahead`: how many are ahead of a waiting `t`, when the command has just counted it."""
        est = reason = None
        if t.status != TicketStatus.WAITING:
            ahead = None
        else:
            if ahead is None:
                ahead = self.engine.ahead_of(self, t)
            est, reason = self.engine.estimate_wait(self, t.field, ahead)
        d = {
            "id": t.id, "number": t.number, "field": t.field.code, "field_name": t.field.name,
            "priority": t.priority, "priority_name": self.cfg.categories.get(t.priority) if t.priority else None,
            "status": t.status, "issued_at": self.iso(t.issued_at), "called_at": self.iso(t.called_at),
            "counter": t.counter.number if t.counter else None, "ahead": ahead, "est_wait_s": est,
            "est_wait_reason": reason, "track_url": self.track_url(t),
            "completed_at": self.iso(t.completed_at), "transferred": t.transferred,
            "serving_counters": self.engine.serving_counters(self, t.field_id, t.priority is not None),
            "day": t.day.isoformat(),
        }
        if public:
            d.pop("id")
        return d

    def counter_dict(self, c: Counter) -> dict:
        officer = None
        if c.officer is not None:
            officer = c.officer.full_name or c.officer.username
        ticket = None
        if c.ticket_id is not None:
            ticket = self.ticket_dict(self.s.get(Ticket, c.ticket_id))
        return {"number": c.number, "name": c.name, "status": c.status, "fields": [f.code for f in c.fields],
                "officer": officer, "ticket": ticket, "pause_reason": c.pause_reason,
                "priority_only": c.priority_only}
