"""The queue engine: plain functions over the database, no HTTP, no Socket.IO.

Each command runs in one short write transaction that starts by locking its centre (BEGIN
IMMEDIATE on SQLite, SELECT … FOR UPDATE on PostgreSQL), so numbering and call-next are atomic and
the per-centre `seq` assigned to the command's events follows commit order. A command returns
`Result(value, events)`; the caller publishes the events only after the commit.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time as _time
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timedelta

from layso.server import clock
from layso.server.domain.hours import Hours
from layso.server.errors import BadRequest, Conflict, Forbidden, NotFound
from layso.server.storage.database import Database
from layso.server.storage.models import (
    AuditEntry,
    Centre,
    Counter,
    CounterField,
    DaySequence,
    Device,
    Field,
    Rating,
    Ticket,
    TicketEvent,
    User,
)
from sqlalchemy import case, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from layso.config import (
    Config,
    PriorityConfig,
    QueueConfig,
    RatingConfig,
    check_numbering,
)

MAX_TEXT = 500
MAX_ID = 2**31 - 1  # ids and counter numbers beyond a database integer are simply unknown
RECENT_CALLS = 10


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
    """A centre's validated settings sections, parsed once per distinct settings value."""

    _cache: dict[str, "Settings"] = {}
    _lock = threading.Lock()

    def __init__(self, centre: Centre):
        s = centre.settings
        self.hours = Hours(s["hours"], centre.timezone)
        self.tz = self.hours.tz
        self.priority = PriorityConfig.model_validate(s.get("priority", {}))
        self.queue = QueueConfig.model_validate(s.get("queue", {}))
        self.rating = RatingConfig.model_validate(s["rating"])
        self.voice = s.get("voice", {})
        self.thank_you = s.get("thank_you", "")
        self.categories = {c.code: c.name for c in self.priority.categories}

    @classmethod
    def of(cls, centre: Centre) -> "Settings":
        key = f"{centre.id}:{centre.timezone}:" + json.dumps(centre.settings, sort_keys=True, default=str)
        with cls._lock:
            hit = cls._cache.get(key)
        if hit is None:
            hit = cls(centre)
            with cls._lock:
                if len(cls._cache) > 64:
                    cls._cache.clear()
                cls._cache[key] = hit
        return hit


class _ServiceTimes:
    """Mean recent service time per field, cached briefly (it only feeds estimates)."""

    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self._data: dict[int, tuple[float, float | None]] = {}
        self._lock = threading.Lock()

    def mean(self, session: Session, field_id: int, since: datetime) -> float | None:
        now = _time.monotonic()
        with self._lock:
            hit = self._data.get(field_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        rows = session.execute(
            select(Ticket.called_at, Ticket.completed_at)
            .where(Ticket.field_id == field_id, Ticket.status == "done", Ticket.completed_at >= since)
            .order_by(Ticket.completed_at.desc()).limit(20)).all()
        durations = [(c - a).total_seconds() for a, c in rows if a and c and c > a]
        value = sum(durations) / len(durations) if durations else None
        with self._lock:
            self._data[field_id] = (now, value)
        return value


class Command:
    """The context of one command: its session, locked centre, settings and pending events."""

    def __init__(self, engine: "QueueEngine", session: Session, centre: Centre, base_url: str | None):
        self.engine = engine
        self.s = session
        self.centre = centre
        self.cfg = Settings.of(centre)
        self.now = clock.now()
        self.today = self.cfg.hours.day_of(self.now)
        self.base_url = (centre.public_url or base_url or engine.default_base_url or "").rstrip("/")
        self.pending: list[tuple[str, dict, dict | None]] = []

    # ---- events -------------------------------------------------------------------------
    def emit(self, type_: str, payload: dict, log: dict | None = None) -> None:
        """Queue an event; `log` (ticket, counter, officer, device, data) also writes the ticket log."""
        self.pending.append((type_, payload, log))

    def next_pos(self) -> float:
        """A queue position after every ticket queued so far: the seq the next event will get."""
        return float(self.centre.seq + len(self.pending) + 1)

    def finish(self) -> list[Event]:
        if not self.pending:
            return []
        base = self.centre.seq
        self.centre.seq = base + len(self.pending)
        events, log_rows = [], []
        for i, (type_, payload, log) in enumerate(self.pending, start=1):
            payload = {"seq": base + i, **payload}
            if log is not None:
                log_rows.append({"centre_id": self.centre.id, "ticket_id": log["ticket"].id, "seq": base + i,
                                 "type": type_, "at": self.now, "counter_id": log.get("counter_id"),
                                 "officer_id": log.get("officer_id"), "device_id": log.get("device_id"),
                                 "data": log.get("data") or {}})
            events.append(Event(type_, payload, self.centre.id))
        self.s.flush()
        if log_rows:  # one INSERT for the ticket log
            self.s.execute(insert(TicketEvent), log_rows)
        return events

    # ---- serialisation (the contract's objects) -------------------------------------------
    def iso(self, dt: datetime | None) -> str | None:
        return iso(dt, self.cfg.tz)

    def track_url(self, ticket: Ticket) -> str:
        return f"{self.base_url}/t/{ticket.track_token}"

    def ticket_dict(self, t: Ticket, public: bool = False) -> dict:
        ahead = est = None
        if t.status == "waiting":
            ahead = self.engine.ahead_of(self, t)
            est = self.engine.estimate_wait(self, t.field, ahead)
        d = {
            "id": t.id, "number": t.number, "field": t.field.code, "field_name": t.field.name,
            "priority": t.priority, "priority_name": self.cfg.categories.get(t.priority) if t.priority else None,
            "status": t.status, "issued_at": self.iso(t.issued_at), "called_at": self.iso(t.called_at),
            "counter": t.counter.number if t.counter else None, "ahead": ahead, "est_wait_s": est,
            "track_url": self.track_url(t),
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


class QueueEngine:
    def __init__(self, db: Database, default_base_url: str | None = None):
        self.db = db
        self.default_base_url = default_base_url
        self.service_times = _ServiceTimes()

    # ---- transaction plumbing -----------------------------------------------------------
    def _run(self, centre_id: int, fn, base_url: str | None = None) -> Result:
        with self.db.write() as s:
            centre = s.execute(select(Centre).where(Centre.id == centre_id).with_for_update()).scalar_one_or_none()
            if centre is None:
                raise NotFound("unknown centre", "centre_not_found")
            cmd = Command(self, s, centre, base_url)
            value = fn(cmd)
            created = True
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bool):
                value, created = value
            events = cmd.finish()
        committed = _time.time()  # the transaction has committed: stamp the events (latency measurements)
        for ev in events:
            ev.payload["committed_at"] = committed
        return Result(value, events, created)

    def run_command(self, centre_id: int, fn, base_url: str | None = None) -> Result:
        """Run `fn(cmd)` as a command of its own (centre locked, events numbered, published by the
        caller after commit): for adapters such as the admin pages that change the centre's setup."""
        return self._run(centre_id, fn, base_url)

    def _read(self, centre_id: int, fn, base_url: str | None = None):
        with self.db.read() as s:
            centre = s.get(Centre, centre_id)
            if centre is None:
                raise NotFound("unknown centre", "centre_not_found")
            return fn(Command(self, s, centre, base_url))

    # ---- lookups --------------------------------------------------------------------------
    def _field(self, cmd: Command, code) -> Field:
        if not isinstance(code, str) or not code:
            raise BadRequest("field must be a field code", "invalid_field")
        f = cmd.s.execute(select(Field).where(Field.centre_id == cmd.centre.id, Field.code == code,
                                              Field.active.is_(True))).scalar_one_or_none()
        if f is None:
            raise NotFound(f"unknown field {code[:40]!r}", "field_not_found")
        return f

    def _counter(self, cmd: Command, number) -> Counter:
        if not isinstance(number, int) or isinstance(number, bool):
            raise BadRequest("counter must be a number", "invalid_counter")
        if not 1 <= number <= MAX_ID:
            raise NotFound(f"unknown counter {str(number)[:12]}", "counter_not_found")
        c = cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id, Counter.number == number,
                                                Counter.active.is_(True))
                          .options(selectinload(Counter.fields))).scalar_one_or_none()
        if c is None:
            raise NotFound(f"unknown counter {number}", "counter_not_found")
        return c

    def _ticket(self, cmd: Command, ticket_id) -> Ticket:
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or not 1 <= ticket_id <= MAX_ID:
            raise NotFound("unknown ticket", "ticket_not_found")
        t = cmd.s.get(Ticket, ticket_id)
        if t is None or t.centre_id != cmd.centre.id:
            raise NotFound("unknown ticket", "ticket_not_found")
        return t

    def _by_track(self, cmd: Command, token) -> Ticket:
        if not isinstance(token, str) or len(token) > 64:
            raise NotFound("unknown tracking link", "ticket_not_found")
        t = cmd.s.execute(select(Ticket).where(Ticket.track_token == token,
                                               Ticket.centre_id == cmd.centre.id)).scalar_one_or_none()
        if t is None:
            raise NotFound("unknown tracking link", "ticket_not_found")
        return t

    def centre_of_track(self, token: str) -> int | None:
        if not isinstance(token, str) or len(token) > 64:
            return None
        with self.db.read() as s:
            return s.execute(select(Ticket.centre_id).where(Ticket.track_token == token)).scalar_one_or_none()

    # ---- queue figures --------------------------------------------------------------------
    # Per-command caches: the counters serving each field (invalidated by `_set_status`).
    def _counter_map(self, cmd: Command) -> dict[int, list[tuple[int, str, bool]]]:
        """field id → [(counter number, status, priority_only)] of the active counters serving it."""
        cached = cmd.__dict__.get("_counter_map")
        if cached is None:
            cached = {}
            for field_id, number, status, prio_only in cmd.s.execute(
                    select(CounterField.field_id, Counter.number, Counter.status, Counter.priority_only)
                    .join(Counter, Counter.id == CounterField.counter_id)
                    .where(Counter.centre_id == cmd.centre.id, Counter.active.is_(True)).order_by(Counter.number)):
                cached.setdefault(field_id, []).append((number, status, prio_only))
            cmd.__dict__["_counter_map"] = cached
        return cached

    def _set_status(self, cmd: Command, c: Counter, status: str) -> None:
        c.status = status
        cmd.__dict__.pop("_counter_map", None)

    def serving_counters(self, cmd: Command, field_id: int, priority: bool = False) -> list[int]:
        """The counters a ticket of the field goes to; a priority ticket also to the priority counters."""
        return [n for n, _s, prio_only in self._counter_map(cmd).get(field_id, []) if priority or not prio_only]

    def _servers(self, cmd: Command, field_id: int) -> tuple[int, int]:
        rows = self._counter_map(cmd).get(field_id, [])
        return sum(1 for _n, s, _p in rows if s == "open"), len(rows)

    def _waiting(self, cmd: Command):
        return select(func.count(Ticket.id)).where(Ticket.centre_id == cmd.centre.id, Ticket.status == "waiting",
                                                   Ticket.day == cmd.today)

    def ahead_of(self, cmd: Command, t: Ticket) -> int:
        """How many will be called before `t` by the counters of its field (one aggregate query)."""
        before = (Ticket.queue_pos < t.queue_pos) | ((Ticket.queue_pos == t.queue_pos) & (Ticket.id < t.id))
        is_prio = Ticket.priority.is_not(None)
        same_class = is_prio if t.priority is not None else Ticket.priority.is_(None)

        def count(cond):
            return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

        transfers, same_before, prio = cmd.s.execute(
            select(count(Ticket.transferred.is_(True) & (before if t.transferred else True)),
                   count(Ticket.transferred.is_(False) & same_class & before),
                   count(Ticket.transferred.is_(False) & is_prio))
            .where(Ticket.centre_id == cmd.centre.id, Ticket.status == "waiting", Ticket.day == cmd.today,
                   Ticket.field_id == t.field_id, Ticket.transfer_counter_id.is_(None), Ticket.id != t.id)).one()
        if t.transferred:
            return transfers
        if t.priority is not None:
            return transfers + same_before
        if cmd.cfg.priority.rule == "interleave":
            prio = min(prio, same_before // cmd.cfg.priority.normal_per_priority + 1)
        return transfers + same_before + prio

    def estimate_wait(self, cmd: Command, f: Field, ahead: int) -> int | None:
        """Seconds: people ahead × recent mean service time ÷ counters serving the field."""
        open_n, all_n = self._servers(cmd, f.id)
        servers = open_n or all_n
        if servers == 0:
            return None
        if not ahead:
            return 0
        mean = self.service_times.mean(cmd.s, f.id, cmd.now - timedelta(days=7))
        if mean is None:
            mean = cmd.cfg.queue.default_service_min * 60
        return int(round((ahead + 0.5) * mean / servers))

    def field_status(self, cmd: Command, f: Field, issued_today: int | None = None, cap: bool = True) -> str | None:
        """None when the field accepts tickets now, else why not (`cap=False`: hours only)."""
        if not f.accepting:
            return "field_closed"
        if not cmd.cfg.hours.issuing_open(cmd.now):
            return "outside_hours"
        if f.cutoff:
            local = cmd.cfg.hours.local(cmd.now)
            if local.strftime("%H:%M") >= f.cutoff:
                return "outside_hours"
        if not cap:
            return None
        if issued_today is None:
            issued_today = cmd.s.execute(select(DaySequence.last).where(
                DaySequence.field_id == f.id, DaySequence.day == cmd.today)).scalar() or 0
        if issued_today >= self.daily_cap(f):
            return "daily_cap_reached"
        return None

    @staticmethod
    def daily_cap(f: Field) -> int:
        return min(f.daily_cap or f.range_size, f.range_size)

    def _next_number(self, cmd: Command, f: Field) -> int:
        """The field's next daily sequence number, in one statement (upsert … RETURNING)."""
        ins = (sqlite_insert if cmd.s.bind.dialect.name == "sqlite" else pg_insert)(DaySequence)
        stmt = (ins.values(field_id=f.id, day=cmd.today, last=1)
                .on_conflict_do_update(index_elements=["field_id", "day"], set_={"last": DaySequence.last + 1})
                .returning(DaySequence.last))
        return cmd.s.execute(stmt).scalar_one()

    def fields_list(self, cmd: Command, only: list[Field] | None = None) -> list[dict]:
        """The contract's Field objects: all active fields, or just `only`."""
        if only is None:
            fields = cmd.s.execute(select(Field).where(Field.centre_id == cmd.centre.id, Field.active.is_(True))
                                   .order_by(Field.position, Field.id)).scalars().all()
        else:
            fields = only
        ids = [f.id for f in fields]
        waiting_q = self._waiting(cmd).with_only_columns(Ticket.field_id, func.count(Ticket.id)).group_by(Ticket.field_id)
        issued_q = select(DaySequence.field_id, DaySequence.last).where(DaySequence.day == cmd.today)
        if only is not None:
            waiting_q = waiting_q.where(Ticket.field_id.in_(ids))
            issued_q = issued_q.where(DaySequence.field_id.in_(ids))
        else:
            issued_q = issued_q.where(DaySequence.field_id.in_(ids))
        waiting = dict(cmd.s.execute(waiting_q).all())
        issued = dict(cmd.s.execute(issued_q).all())
        out = []
        for f in fields:
            reason = self.field_status(cmd, f, issued.get(f.id, 0))
            n = waiting.get(f.id, 0)
            open_n, _ = self._servers(cmd, f.id)
            out.append({"code": f.code, "name": f.name, "agency": f.agency, "waiting": n,
                        "open_counters": open_n, "est_wait_s": self.estimate_wait(cmd, f, n),
                        "accepting": reason is None, "closed_reason": reason,
                        "serving_counters": self.serving_counters(cmd, f.id)})
        return out

    def _queue_changed(self, cmd: Command, *field_ids: int) -> None:
        ids = sorted({i for i in field_ids if i is not None})
        if ids:
            fields = [cmd.s.get(Field, i) for i in ids]
            cmd.emit("queue.changed", {"fields": self.fields_list(cmd, fields)})

    def _counter_changed(self, cmd: Command, c: Counter) -> None:
        cmd.emit("counter.changed", {"counter": cmd.counter_dict(c)})

    # ---- commands -----------------------------------------------------------------------
    def issue(self, centre_id: int, field_code, priority=None, channel: str = "kiosk", request_id=None,
              device_id: int | None = None, officer_id: int | None = None, base_url: str | None = None) -> Result:
        if priority is not None and not isinstance(priority, str):
            raise BadRequest("priority must be a category code", "invalid_priority")
        if channel not in ("kiosk", "staff", "online"):
            raise BadRequest("channel must be kiosk, staff or online", "invalid_channel")
        if request_id is not None and (not isinstance(request_id, str) or not 1 <= len(request_id) <= 100):
            raise BadRequest("request_id must be a string of 1 to 100 characters", "invalid_request_id")
        body_hash = hashlib.sha256(json.dumps([field_code, priority, channel], default=str).encode()).hexdigest()

        def run(cmd: Command):
            if request_id is not None:
                prior = cmd.s.execute(select(Ticket).where(Ticket.centre_id == cmd.centre.id,
                                                           Ticket.request_id == request_id)).scalar_one_or_none()
                if prior is not None:
                    if prior.request_hash != body_hash:
                        raise Conflict("request_id was used with another request", "request_id_reused")
                    return cmd.ticket_dict(prior), False
            f = self._field(cmd, field_code)
            if priority is not None and priority not in cmd.cfg.categories:
                raise BadRequest(f"unknown priority category {priority[:40]!r}", "invalid_priority")
            reason = self.field_status(cmd, f, cap=False)
            if reason is not None:
                raise Conflict({"outside_hours": "outside working hours",
                                "field_closed": "this field is not taking numbers now"}[reason], "field_closed",
                               reason=reason)
            n = self._next_number(cmd, f)
            if n > self.daily_cap(f):  # the transaction rolls back, so the count stays at the cap
                raise Conflict("no numbers left today for this field", "daily_cap_reached", reason="daily_cap_reached")
            t = Ticket(centre_id=cmd.centre.id, field_id=f.id, issue_field_id=f.id, day=cmd.today,
                       seq_in_day=n, number=f.format_number(n), priority=priority,
                       channel=channel, request_id=request_id, request_hash=body_hash, status="waiting",
                       issued_at=cmd.now, queue_pos=cmd.next_pos(), track_token=secrets.token_urlsafe(18),
                       device_id=device_id, officer_id=None)
            t.field = f
            cmd.s.add(t)
            cmd.s.flush()
            d = cmd.ticket_dict(t)
            cmd.emit("ticket.issued", {"ticket": d, "device_id": device_id},
                     log={"ticket": t, "device_id": device_id, "officer_id": officer_id,
                          "data": {"channel": channel, "priority": priority, "number": t.number}})
            self._queue_changed(cmd, f.id)
            return d

        return self._run(centre_id, run, base_url)

    def call_order(self, cmd: Command, c: Counter, limit: int) -> list[tuple[str, Ticket]]:
        """The waiting tickets in the order call-next at `c` would take them if nothing else changed,
        each with why: "to_counter" (transferred to this counter), "transferred" (into one of its
        fields, first in that queue) or "queue" (its fields' queues under the priority rule)."""
        waiting = select(Ticket).where(Ticket.centre_id == cmd.centre.id, Ticket.status == "waiting",
                                       Ticket.day == cmd.today).order_by(Ticket.queue_pos, Ticket.id).limit(limit)
        out = [("to_counter", t) for t in cmd.s.execute(waiting.where(Ticket.transfer_counter_id == c.id)).scalars()]
        field_ids = [f.id for f in c.fields]
        if not field_ids or len(out) >= limit:
            return out[:limit]
        in_fields = waiting.where(Ticket.field_id.in_(field_ids), Ticket.transfer_counter_id.is_(None))
        out += [("transferred", t) for t in cmd.s.execute(in_fields.where(Ticket.transferred.is_(True))).scalars()]
        plain = in_fields.where(Ticket.transferred.is_(False))
        prio = list(cmd.s.execute(plain.where(Ticket.priority.is_not(None))).scalars())
        normal = [] if c.priority_only else list(cmd.s.execute(plain.where(Ticket.priority.is_(None))).scalars())
        since = c.normals_since_priority
        while (prio or normal) and len(out) < limit:
            if self._priority_next(cmd, c, since, bool(prio), bool(normal)):
                out.append(("queue", prio.pop(0)))
                since = 0
            else:
                out.append(("queue", normal.pop(0)))
                since += 1
        return out[:limit]

    @staticmethod
    def _priority_next(cmd: Command, c: Counter, since: int, has_prio: bool, has_normal: bool) -> bool:
        """Whether the next call from the plain queues takes a priority ticket (the configured rule)."""
        if not has_prio:
            return False
        if c.priority_only or not has_normal or cmd.cfg.priority.rule == "strict":
            return True
        return since >= cmd.cfg.priority.normal_per_priority

    def _pick_next(self, cmd: Command, c: Counter) -> Ticket | None:
        order = self.call_order(cmd, c, 1)
        return order[0][1] if order else None

    def _officer_of(self, c: Counter, officer_id: int | None) -> int | None:
        return officer_id if officer_id is not None else c.officer_id

    def _finish_current(self, cmd: Command, c: Counter, officer_id: int | None, dossier_code=None,
                        at: datetime | None = None) -> Ticket | None:
        if c.ticket_id is None:
            return None
        t = cmd.s.get(Ticket, c.ticket_id)
        c.ticket_id = None
        if t is None or t.status != "called":
            return None
        t.status = "done"
        t.completed_at = t.ended_at = at or cmd.now
        if dossier_code:
            t.dossier_code = dossier_code
        cmd.emit("ticket.completed", {"ticket": cmd.ticket_dict(t), "counter": c.number},
                 log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id),
                      "data": {"dossier_code": dossier_code} if dossier_code else {}})
        return t

    def _call(self, cmd: Command, c: Counter, t: Ticket, officer_id: int | None, how: str) -> dict:
        officer = self._officer_of(c, officer_id)
        first = t.first_called_at is None
        t.status = "called"
        t.called_at = cmd.now
        if first:
            t.first_called_at = cmd.now
        t.calls += 1
        t.counter_id = c.id
        t.counter = c
        t.officer_id = officer
        was_transfer = t.transferred or t.transfer_counter_id is not None
        t.transferred = False
        t.transfer_counter_id = None
        c.ticket_id = t.id
        if c.status == "closed":
            self._set_status(cmd, c, "open")
        if not was_transfer and how == "next":
            if t.priority is not None:
                c.normals_since_priority = 0
            else:
                c.normals_since_priority = min(c.normals_since_priority + 1, 1_000_000)
        cmd.s.flush()
        td = cmd.ticket_dict(t)
        cd = cmd.counter_dict(c)
        cmd.emit("ticket.called", {"ticket": td, "counter": cd, "at": cmd.iso(cmd.now)},
                 log={"ticket": t, "counter_id": c.id, "officer_id": officer, "data": {"how": how}})
        cmd.emit("counter.changed", {"counter": cd})
        self._queue_changed(cmd, t.field_id)
        return {"ticket": td, "counter": cd}

    def call_next(self, centre_id: int, counter_number, officer_id: int | None = None,
                  base_url: str | None = None) -> Result:
        """Call the next ticket for a counter; value None when nothing waits."""
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            if c.status == "paused":
                raise Conflict("the counter is paused", "counter_paused")
            done = self._finish_current(cmd, c, officer_id)
            t = self._pick_next(cmd, c)
            if t is None:
                if c.status == "closed":
                    self._set_status(cmd, c, "open")
                    self._counter_changed(cmd, c)
                elif done is not None:
                    self._counter_changed(cmd, c)
                return None
            return self._call(cmd, c, t, officer_id, "next")

        return self._run(centre_id, run, base_url)

    def call_number(self, centre_id: int, counter_number, number, officer_id: int | None = None,
                    base_url: str | None = None) -> Result:
        """Call a specific waiting ticket of today by its printed number (staff console)."""
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            if c.status == "paused":
                raise Conflict("the counter is paused", "counter_paused")
            if not isinstance(number, str) or not number.strip():
                raise BadRequest("number must be a ticket number", "invalid_number")
            t = cmd.s.execute(select(Ticket).where(Ticket.centre_id == cmd.centre.id, Ticket.day == cmd.today,
                                                   Ticket.number == number.strip().upper())).scalars().first()
            if t is None:
                raise NotFound(f"no ticket {number[:12]} today", "ticket_not_found")
            if t.status != "waiting":
                raise Conflict("that ticket is not waiting", "ticket_not_waiting")
            self._finish_current(cmd, c, officer_id)
            return self._call(cmd, c, t, officer_id, "number")

        return self._run(centre_id, run, base_url)

    def _current(self, cmd: Command, c: Counter) -> Ticket:
        t = cmd.s.get(Ticket, c.ticket_id) if c.ticket_id else None
        if t is None or t.status != "called":
            raise Conflict("no ticket is being served at this counter", "no_current_ticket")
        return t

    def recall(self, centre_id: int, counter_number, officer_id: int | None = None, base_url=None) -> Result:
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            t = self._current(cmd, c)
            t.called_at = cmd.now
            t.calls += 1
            td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
            cmd.emit("ticket.recalled", {"ticket": td, "counter": cd, "at": cmd.iso(cmd.now)},
                     log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id)})
            return {"counter": cd, "ticket": td}

        return self._run(centre_id, run, base_url)

    def skip(self, centre_id: int, counter_number, officer_id: int | None = None, base_url=None) -> Result:
        """The citizen was absent: back into the queue behind N others, or no-show (after K skips)."""
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            t = self._current(cmd, c)
            q = cmd.cfg.queue
            t.skips += 1
            c.ticket_id = None
            if q.skip_action == "no_show" or t.skips >= q.max_skips:
                t.status = "no_show"
                t.ended_at = cmd.now
            else:
                t.status = "waiting"
                t.queue_pos = self._requeue_pos(cmd, t, q.requeue_behind)
            cmd.s.flush()
            td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
            cmd.emit("ticket.skipped", {"ticket": td, "counter": cd},
                     log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id),
                          "data": {"skips": t.skips, "outcome": t.status}})
            cmd.emit("counter.changed", {"counter": cd})
            self._queue_changed(cmd, t.field_id)
            return {"counter": cd, "ticket": td}

        return self._run(centre_id, run, base_url)

    def _requeue_pos(self, cmd: Command, t: Ticket, behind: int) -> float:
        same_class = Ticket.priority.is_(None) if t.priority is None else Ticket.priority.is_not(None)
        positions = list(cmd.s.execute(
            select(Ticket.queue_pos).where(Ticket.centre_id == cmd.centre.id, Ticket.status == "waiting",
                                           Ticket.day == cmd.today, Ticket.field_id == t.field_id,
                                           Ticket.id != t.id, Ticket.transferred.is_(False),
                                           Ticket.transfer_counter_id.is_(None), same_class)
            .order_by(Ticket.queue_pos, Ticket.id).limit(behind + 1)).scalars())
        if behind == 0:
            return (positions[0] - 0.5) if positions else cmd.next_pos()
        if len(positions) > behind:
            return (positions[behind - 1] + positions[behind]) / 2
        return cmd.next_pos()

    def complete(self, centre_id: int, counter_number, dossier_code=None, officer_id: int | None = None,
                 base_url=None) -> Result:
        if dossier_code is not None:
            if not isinstance(dossier_code, str) or len(dossier_code) > 64:
                raise BadRequest("dossier_code must be text of at most 64 characters", "invalid_dossier_code")
            dossier_code = dossier_code.strip() or None

        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            self._current(cmd, c)
            t = self._finish_current(cmd, c, officer_id, dossier_code)
            cmd.s.flush()
            cd = cmd.counter_dict(c)
            cmd.emit("counter.changed", {"counter": cd})
            return {"counter": cd, "ticket": cmd.ticket_dict(t)}

        return self._run(centre_id, run, base_url)

    def pause(self, centre_id: int, counter_number, reason=None, officer_id=None, base_url=None) -> Result:
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise BadRequest("reason must be text of at most 200 characters", "invalid_reason")

        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            if c.status == "paused":
                raise Conflict("the counter is already paused", "counter_paused")
            self._set_status(cmd, c, "paused")
            c.pause_reason = (reason or "").strip() or None
            cd = cmd.counter_dict(c)
            cmd.emit("counter.changed", {"counter": cd})
            return {"counter": cd, "ticket": cd["ticket"]}

        return self._run(centre_id, run, base_url)

    def resume(self, centre_id: int, counter_number, officer_id=None, base_url=None) -> Result:
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            if c.status == "open":
                raise Conflict("the counter is not paused", "counter_not_paused")
            self._set_status(cmd, c, "open")
            c.pause_reason = None
            cd = cmd.counter_dict(c)
            cmd.emit("counter.changed", {"counter": cd})
            self._queue_changed(cmd, *[f.id for f in c.fields])
            return {"counter": cd, "ticket": cd["ticket"]}

        return self._run(centre_id, run, base_url)

    def close_counter(self, centre_id: int, counter_number, base_url=None) -> Result:
        """Sign-out: the counter closes (its current ticket, if any, is completed first)."""
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            self._finish_current(cmd, c, None)
            self._set_status(cmd, c, "closed")
            c.pause_reason = None
            c.officer_id = None
            c.officer = None
            cd = cmd.counter_dict(c)
            cmd.emit("counter.changed", {"counter": cd})
            self._queue_changed(cmd, *[f.id for f in c.fields])
            return {"counter": cd, "ticket": None}

        return self._run(centre_id, run, base_url)

    def transfer(self, centre_id: int, counter_number, to_field=None, to_counter=None, officer_id=None,
                 base_url=None) -> Result:
        if (to_field is None) == (to_counter is None):
            raise BadRequest("give exactly one of field or counter", "invalid_transfer")

        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            t = self._current(cmd, c)
            old_field = t.field_id
            data = {"from_counter": c.number}
            if to_field is not None:
                f = self._field(cmd, to_field)
                t.field_id = f.id
                t.field = f
                t.transferred = True
                t.transfer_counter_id = None
                data["to_field"] = f.code
            else:
                target = self._counter(cmd, to_counter)
                if target.id == c.id:
                    raise BadRequest("cannot transfer to the same counter", "invalid_transfer")
                t.transfer_counter_id = target.id
                t.transferred = True
                data["to_counter"] = target.number
            t.status = "waiting"
            t.queue_pos = cmd.next_pos()
            c.ticket_id = None
            cmd.s.flush()
            td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
            cmd.emit("ticket.transferred", {"ticket": td, "counter": cd, **data},
                     log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id), "data": data})
            cmd.emit("counter.changed", {"counter": cd})
            self._queue_changed(cmd, old_field, t.field_id)
            return {"counter": cd, "ticket": td}

        return self._run(centre_id, run, base_url)

    def grant_priority(self, centre_id: int, ticket_id, category, reason=None, officer_id=None,
                       base_url=None) -> Result:
        """An officer grants priority to a waiting ticket at the counter."""
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise BadRequest("reason must be text of at most 200 characters", "invalid_reason")

        def run(cmd: Command):
            t = self._ticket(cmd, ticket_id)
            if not isinstance(category, str) or category not in cmd.cfg.categories:
                raise BadRequest("unknown priority category", "invalid_priority")
            if t.status != "waiting":
                raise Conflict("that ticket is not waiting", "ticket_not_waiting")
            t.priority = category
            t.priority_reason = (reason or "").strip() or None
            td = cmd.ticket_dict(t)
            cmd.emit("queue.changed", {"fields": self.fields_list(cmd, [t.field]), "ticket": td},
                     log={"ticket": t, "officer_id": officer_id, "data": {"priority": category, "reason": reason}})
            return td

        return self._run(centre_id, run, base_url)

    def cancel(self, centre_id: int, track_token, base_url=None) -> Result:
        def run(cmd: Command):
            t = self._by_track(cmd, track_token)
            if t.status != "waiting":
                raise Conflict("only a waiting ticket can be cancelled", "ticket_not_waiting")
            t.status = "cancelled"
            t.cancel_reason = "citizen"
            t.ended_at = cmd.now
            td = cmd.ticket_dict(t, public=True)
            cmd.emit("ticket.cancelled", {"ticket": cmd.ticket_dict(t), "reason": "citizen"},
                     log={"ticket": t, "data": {"reason": "citizen"}})
            self._queue_changed(cmd, t.field_id)
            return td

        return self._run(centre_id, run, base_url)

    def rate(self, centre_id: int, score, reasons=None, comment=None, ticket_id=None, track_token=None,
             counter_number: int | None = None, base_url=None) -> Result:
        """One rating per ticket, within the window (panel: short, tracking link: longer)."""
        if not isinstance(score, int) or isinstance(score, bool):
            raise BadRequest("score must be a whole number", "invalid_score")
        if reasons is None:
            reasons = []
        if not isinstance(reasons, list) or len(reasons) > 10 or \
                not all(isinstance(r, str) and 0 < len(r) <= 100 for r in reasons):
            raise BadRequest("reasons must be a list of short texts", "invalid_reasons")
        if comment is not None and (not isinstance(comment, str) or len(comment) > 1000):
            raise BadRequest("comment must be text of at most 1000 characters", "invalid_comment")
        comment = (comment or "").strip() or None
        source = "link" if track_token is not None else "panel"

        def run(cmd: Command):
            t = self._by_track(cmd, track_token) if track_token is not None else self._ticket(cmd, ticket_id)
            rc = cmd.cfg.rating
            if score not in {lv.score for lv in rc.levels}:
                raise BadRequest("score is not on the rating scale", "invalid_score")
            if counter_number is not None and (t.counter is None or t.counter.number != counter_number):
                raise Forbidden("this counter did not serve that ticket", "forbidden")
            if t.status != "done" or t.completed_at is None:
                raise Conflict("a ticket can be rated after its service", "not_served")
            if cmd.s.execute(select(Rating.id).where(Rating.ticket_id == t.id)).first() is not None:
                raise Conflict("this ticket was already rated", "already_rated")
            window = timedelta(seconds=rc.panel_window_s) if source == "panel" else timedelta(hours=rc.link_window_h)
            if cmd.now - t.completed_at > window:
                raise Conflict("the rating window is over", "window_over")
            if score <= rc.reason_max and not reasons and not comment:
                raise BadRequest("a low score needs a reason or a comment", "reason_required")
            prev = cmd.s.execute(select(Rating.hash).where(Rating.centre_id == cmd.centre.id)
                                 .order_by(Rating.id.desc()).limit(1)).scalar() or "0" * 64
            body = {"ticket": t.id, "score": score, "reasons": reasons, "comment": comment,
                    "officer": t.officer_id, "counter": t.counter_id, "field": t.field_id,
                    "dossier": t.dossier_code, "source": source, "at": cmd.now.isoformat()}
            digest = hashlib.sha256((prev + json.dumps(body, sort_keys=True)).encode()).hexdigest()
            r = Rating(centre_id=cmd.centre.id, ticket_id=t.id, score=score, reasons=reasons, comment=comment,
                       officer_id=t.officer_id, counter_id=t.counter_id, field_id=t.field_id,
                       dossier_code=t.dossier_code, source=source, at=cmd.now, prev_hash=prev, hash=digest)
            cmd.s.add(r)
            try:
                cmd.s.flush()
            except IntegrityError:
                raise Conflict("this ticket was already rated", "already_rated") from None
            rating = {"score": score, "reasons": reasons, "comment": comment, "source": source,
                      "at": cmd.iso(cmd.now), "satisfied": score >= rc.satisfied_min}
            cmd.emit("ticket.rated", {"ticket": cmd.ticket_dict(t), "rating": rating,
                                      "counter": t.counter.number if t.counter else None},
                     log={"ticket": t, "counter_id": t.counter_id, "officer_id": t.officer_id,
                          "data": {"score": score, "source": source}})
            return rating

        return self._run(centre_id, run, base_url)

    def close_days(self, centre_id: int) -> Result:
        """At closing, waiting tickets become cancelled (day_closed); called tickets of past days end."""
        def run(cmd: Command):
            hours = cmd.cfg.hours
            closing = hours.closing_time(cmd.today)
            last_closed_day = cmd.today if closing is not None and cmd.now >= closing else cmd.today - timedelta(days=1)
            cond = [Ticket.centre_id == cmd.centre.id, Ticket.status == "waiting", Ticket.day <= last_closed_day]
            tickets = cmd.s.execute(select(Ticket).where(*cond).order_by(Ticket.id)).scalars().all()
            fields = set()
            for t in tickets:
                t.status = "cancelled"
                t.cancel_reason = "day_closed"
                t.ended_at = cmd.now
                fields.add(t.field_id)
                cmd.emit("ticket.cancelled", {"ticket": cmd.ticket_dict(t), "reason": "day_closed"},
                         log={"ticket": t, "data": {"reason": "day_closed"}})
            # counters still holding a ticket of a past day are freed: the ticket ends as served at
            # that day's closing (never the next morning, which would inflate service times)
            for c in cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id,
                                                         Counter.ticket_id.is_not(None))).scalars():
                t = cmd.s.get(Ticket, c.ticket_id)
                if t is not None and t.day < cmd.today:
                    closing = hours.closing_time(t.day)
                    at = max(t.called_at, min(closing, cmd.now)) if closing else cmd.now
                    self._finish_current(cmd, c, None, at=at)
                    self._counter_changed(cmd, c)
            if cmd.centre.closed_through != last_closed_day:
                cmd.centre.closed_through = last_closed_day
            if fields:
                self._queue_changed(cmd, *fields)
            return len(tickets)

        return self._run(centre_id, run)

    def announce_fields(self, centre_id: int) -> Result:
        """A `queue.changed` with every field, e.g. when fields open or close by the clock."""
        def run(cmd: Command):
            fields = self.fields_list(cmd)
            cmd.emit("queue.changed", {"fields": fields})
            return fields

        return self._run(centre_id, run)

    def sign_in(self, centre_id: int, counter_number, user_id: int, base_url=None) -> Result:
        """The staff user becomes the counter's current officer; the counter opens."""
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            user = cmd.s.get(User, user_id)
            if user is None or user.centre_id != cmd.centre.id:
                raise Forbidden("unknown user", "forbidden")
            for other in cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id,
                                                             Counter.officer_id == user_id, Counter.id != c.id)).scalars():
                other.officer_id = None
                other.officer = None
                self._counter_changed(cmd, other)
            c.officer_id = user.id
            c.officer = user
            if c.status == "closed":
                self._set_status(cmd, c, "open")
            cd = cmd.counter_dict(c)
            cmd.emit("counter.changed", {"counter": cd})
            self._queue_changed(cmd, *[f.id for f in c.fields])
            return cd

        return self._run(centre_id, run, base_url)

    def set_ticker(self, centre_id: int, text, user_id: int | None = None) -> Result:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise BadRequest(f"ticker must be text of at most {MAX_TEXT} characters", "invalid_ticker")

        def run(cmd: Command):
            cmd.centre.ticker = text.strip()
            cmd.s.add(AuditEntry(centre_id=cmd.centre.id, at=cmd.now, user_id=user_id, action="ticker.set",
                                 data={"ticker": cmd.centre.ticker}))
            cmd.emit("ticker.changed", {"ticker": cmd.centre.ticker})
            return cmd.centre.ticker

        return self._run(centre_id, run)

    def device_status(self, centre_id: int, device_id: int, printer=None, detail=None, online=None) -> Result:
        """A device's printer, detail and online flag; `online` may be a function (session, device) → bool
        run inside the command's transaction (realtime/presence counts live connections there)."""
        if printer is not None and printer not in ("ok", "paper_out", "cover_open", "offline"):
            raise BadRequest("printer must be ok, paper_out, cover_open or offline", "invalid_printer_status")
        if detail is not None and (not isinstance(detail, str) or len(detail) > 300):
            raise BadRequest("detail must be text of at most 300 characters", "invalid_detail")

        def run(cmd: Command):
            d = cmd.s.get(Device, device_id)
            if d is None or d.centre_id != cmd.centre.id:
                raise NotFound("unknown device", "device_not_found")
            changed = False
            if printer is not None and printer != d.printer:
                d.printer, changed = printer, True
            if detail is not None and detail != d.status_detail:
                d.status_detail, changed = detail, True
            now_online = online(cmd.s, d) if callable(online) else online  # presence: decided in this transaction
            if now_online is not None and now_online != d.online:
                d.online, changed = now_online, True
            d.last_seen_at = cmd.now
            if changed:
                cmd.emit("device.changed", {"device": device_dict(cmd, d)})
            return device_dict(cmd, d)

        return self._run(centre_id, run)

    def reprint(self, centre_id: int, ticket_id, officer_id=None, base_url=None) -> Result:
        def run(cmd: Command):
            t = self._ticket(cmd, ticket_id)
            if t.device_id is None:
                raise Conflict("this ticket was not issued by a kiosk", "no_kiosk")
            td = cmd.ticket_dict(t)
            cmd.emit("ticket.reprint", {"ticket": td, "device_id": t.device_id},
                     log={"ticket": t, "officer_id": officer_id, "device_id": t.device_id})
            return td

        return self._run(centre_id, run, base_url)

    # ---- reads ----------------------------------------------------------------------------
    def state(self, centre_id: int, base_url: str | None = None) -> dict:
        return self._read(centre_id, self._state, base_url)

    def _state(self, cmd: Command) -> dict:
        fields = self.fields_list(cmd)  # also loads every Field into the session
        counters = cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id, Counter.active.is_(True))
                                 .options(selectinload(Counter.fields), selectinload(Counter.officer))
                                 .order_by(Counter.number)).scalars().all()
        calls = cmd.s.execute(select(TicketEvent).where(TicketEvent.centre_id == cmd.centre.id,
                                                        TicketEvent.type.in_(("ticket.called", "ticket.recalled")),
                                                        TicketEvent.at >= datetime.combine(cmd.today, datetime.min.time(), cmd.cfg.tz))
                              .order_by(TicketEvent.id.desc()).limit(RECENT_CALLS)).scalars().all()
        counter_by_id = {c.id: c for c in counters}
        wanted = {c.ticket_id for c in counters if c.ticket_id} | {ev.ticket_id for ev in calls}
        if wanted:  # one query instead of one per counter and per call
            cmd.s.execute(select(Ticket).where(Ticket.id.in_(wanted))).scalars().all()
        recent = []
        for ev in calls:
            t = cmd.s.get(Ticket, ev.ticket_id)
            c = counter_by_id.get(ev.counter_id)
            recent.append({"ticket": {"number": t.number, "field": t.field.code, "field_name": t.field.name,
                                      "id": t.id, "priority": t.priority},
                           "counter": {"number": c.number, "name": c.name} if c else None,
                           "at": cmd.iso(ev.at), "recall": ev.type == "ticket.recalled"})
        return {"seq": cmd.centre.seq, "centre": centre_dict(cmd), "counters": [cmd.counter_dict(c) for c in counters],
                "fields": fields, "recent_calls": recent, "ticker": cmd.centre.ticker,
                "now": cmd.iso(cmd.now)}

    def fields(self, centre_id: int) -> list[dict]:
        return self._read(centre_id, lambda cmd: self.fields_list(cmd))

    def track(self, centre_id: int, token, base_url=None) -> dict:
        def run(cmd: Command):
            t = self._by_track(cmd, token)
            d = cmd.ticket_dict(t, public=True)
            r = cmd.s.execute(select(Rating).where(Rating.ticket_id == t.id)).scalar_one_or_none()
            d["rating"] = {"score": r.score, "at": cmd.iso(r.at)} if r else None
            rc = cmd.cfg.rating
            d["can_rate"] = (r is None and t.status == "done" and t.completed_at is not None
                             and cmd.now - t.completed_at <= timedelta(hours=rc.link_window_h))
            d["centre_name"] = cmd.centre.name
            return d

        return self._read(centre_id, run, base_url)

    def ticket(self, centre_id: int, ticket_id, base_url=None) -> dict:
        return self._read(centre_id, lambda cmd: cmd.ticket_dict(self._ticket(cmd, ticket_id)), base_url)


def centre_dict(cmd: Command) -> dict:
    cfg = cmd.cfg
    return {"code": cmd.centre.code, "name": cmd.centre.name, "timezone": cmd.centre.timezone,
            "thank_you": cfg.thank_you, "day": cmd.today.isoformat(),
            "priority_categories": [{"code": c.code, "name": c.name} for c in cfg.priority.categories],
            "priority_rule": {"rule": cfg.priority.rule, "normal_per_priority": cfg.priority.normal_per_priority},
            "rating": {"levels": [lv.model_dump() for lv in sorted(cfg.rating.levels, key=lambda x: -x.score)],
                       "satisfied_min": cfg.rating.satisfied_min, "reason_max": cfg.rating.reason_max,
                       "reasons": cfg.rating.reasons, "panel_window_s": cfg.rating.panel_window_s},
            "voice": cfg.voice, "open_now": cfg.hours.is_open(cmd.now)}


def device_dict(cmd: Command, d: Device) -> dict:
    return {"id": d.id, "name": d.name, "role": d.role, "online": d.online, "printer": d.printer,
            "detail": d.status_detail, "counter": d.counter.number if d.counter else None,
            "last_seen_at": cmd.iso(d.last_seen_at), "revoked": d.revoked_at is not None}


# ---- seeding a centre from configuration ------------------------------------------------------
def seed_centre(db: Database, config: Config) -> int:
    """Create the centre from config if it is not in the database yet; return its id.

    The database is the running truth afterwards: an existing centre is never changed here.
    """
    with db.write() as s:
        existing = s.execute(select(Centre).where(Centre.code == config.centre.code)).scalar_one_or_none()
        if existing is not None:
            return existing.id
        return _create_centre(s, config)


def settings_of(config: Config) -> dict:
    data = config.model_dump(mode="json")
    return {"hours": data["hours"], "priority": data["priority"], "queue": data["queue"],
            "rating": data["rating"], "voice": data["voice"], "thank_you": config.centre.thank_you}


def _create_centre(s: Session, config: Config) -> int:
    c = config.centre
    now = clock.now()
    centre = Centre(code=c.code, name=c.name, timezone=c.timezone, public_url=c.public_url, ticker=c.ticker,
                    settings=settings_of(config), seq=0, created_at=now)
    s.add(centre)
    s.flush()
    check_numbering([f.model_dump() for f in config.fields])
    by_code = {}
    for i, f in enumerate(config.fields):
        row = Field(centre_id=centre.id, code=f.code, name=f.name, agency=f.agency,
                    agency_aliases=f.agency_aliases, prefix=f.prefix, width=f.width, range_start=f.range_start,
                    range_end=f.range_end, daily_cap=f.daily_cap, cutoff=f.cutoff,
                    target_wait_min=f.target_wait_min, accepting=f.accepting, position=i)
        s.add(row)
        by_code[f.code] = row
    s.flush()
    for k in config.counters:
        counter = Counter(centre_id=centre.id, number=k.number, name=k.name or f"Quầy {k.number}",
                          priority_only=k.priority_only, status="closed")
        s.add(counter)
        s.flush()
        for code in k.fields:
            s.add(CounterField(counter_id=counter.id, field_id=by_code[code].id))
    s.add(AuditEntry(centre_id=centre.id, at=now, action="centre.seeded", target=c.code,
                     data={"fields": len(config.fields), "counters": len(config.counters)}))
    s.flush()
    return centre.id

