"""Queue figures a command reads: the counters serving each field, how many are ahead of a ticket,
the estimated wait, whether a field issues now, and the contract's Field objects."""
from __future__ import annotations

import threading
import time as _time
from datetime import datetime, timedelta

from layso.server.domain import estimate, numbering
from layso.server.domain.queue import serves
from layso.server.domain.statuses import CounterStatus, TicketStatus
from layso.server.engine.context import Command
from layso.server.engine.statements import (
    AHEAD,
    COUNTER_MAP,
    FIELD_COUNTS,
    FIELD_COUNTS_AND_COUNTERS,
    NEW_TICKET_COUNTS,
    next_number,
)
from layso.server.storage.models import Counter, DaySequence, Field, Ticket
from layso.server.storage.where import active_fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from layso.protocol import EventType as E


class ServiceTimes:
    """Mean recent service time per field, cached for a few minutes: it only feeds estimates, the mean
    of a field's last 20 services moves slowly, and it is read under the centre's lock by every
    command that describes a field. Kept 30 s, it was read again by nearly every issue of a province
    (a commune's field gets a ticket every minute or two): a round trip more holding the lock."""

    def __init__(self, ttl: float = 300.0):
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
            .where(Ticket.field_id == field_id, Ticket.status == TicketStatus.DONE, Ticket.completed_at >= since)
            .order_by(Ticket.completed_at.desc()).limit(estimate.RECENT_SERVICES)).all()
        value = estimate.mean_service_s([(c - a).total_seconds() for a, c in rows if a and c and c > a])
        with self._lock:
            self._data[field_id] = (now, value)
        return value


def _ahead_params(cmd: Command, t) -> dict:
    return {"cid": cmd.centre.id, "day": cmd.today, "fid": t.field_id, "tid": t.id, "pos": t.queue_pos}


class QueueFigures:
    """Mixin of the engine: figures over the locked centre's queue (per-command caches in `cmd`)."""

    service_times: ServiceTimes

    def _counter_map(self, cmd: Command) -> dict[int, list[tuple[int, str, bool]]]:
        """field id → [(counter number, status, priority_only)] of the active counters serving it."""
        cached = cmd.__dict__.get("_counter_map")
        if cached is None:
            cached = cmd.__dict__["_counter_map"] = self._map_of(cmd.core(COUNTER_MAP, {"cid": cmd.centre.id}))
        return cached

    def _counters_of(self, cmd: Command, field_id: int) -> list[tuple[int, str, bool]]:
        """[(counter number, status, priority_only)] of the active counters serving one field: from what
        the command read of that field alone (`_know_counters`), else from the centre's map."""
        known = cmd.__dict__.get("_field_counters")
        if known is not None and field_id in known:
            return known[field_id]
        return self._counter_map(cmd).get(field_id, [])

    @staticmethod
    def _map_of(rows) -> dict[int, list[tuple[int, str, bool]]]:
        """`_counter_map` from COUNTER_MAP's rows (field id, number, status, priority_only)."""
        out: dict[int, list[tuple[int, str, bool]]] = {}
        for field_id, number, status, prio_only in rows:
            out.setdefault(field_id, []).append((number, status, prio_only))
        return out

    def _set_status(self, cmd: Command, c: Counter, status: str) -> None:
        self._change_counter(cmd, c, status=status)

    @staticmethod
    def _change_counter(cmd: Command, c: Counter, **values) -> None:
        """Change the counter's columns (one UPDATE); a new status is a new counter map."""
        cmd.update(c, **values)
        if "status" in values:
            cmd.__dict__.pop("_counter_map", None)
            cmd.__dict__.pop("_field_counters", None)

    def serving_counters(self, cmd: Command, field_id: int, priority: bool = False) -> list[int]:
        """The counters a ticket of the field goes to; a priority ticket also to the priority counters."""
        return [n for n, _s, prio_only in self._counters_of(cmd, field_id) if serves(prio_only, priority)]

    def _servers(self, cmd: Command, field_id: int) -> tuple[int, int]:
        rows = self._counters_of(cmd, field_id)
        return sum(1 for _n, s, _p in rows if s == CounterStatus.OPEN), len(rows)

    def ahead_of(self, cmd: Command, t: Ticket) -> int:
        """How many will be called before `t` by the counters of its field (one aggregate query)."""
        transfers, same_before, prio = cmd.core(AHEAD[t.priority is not None, bool(t.transferred)],
                                                _ahead_params(cmd, t)).one()
        return cmd.cfg.rule.ahead(transferred=t.transferred, priority=t.priority is not None, transfers=transfers,
                                  same_class_before=same_before, priority_waiting=prio)

    def new_ticket_counts(self, cmd: Command, t, issued: int) -> tuple[int, dict]:
        """For a ticket just issued (`issued`: its field's numbers today, its own included): how many are
        ahead of it, and its field's counts for queue.changed ({field id: (waiting, issued)}), in one
        statement where `ahead_of` and `fields_list` take two; the counters serving its field come with
        them (`_counters_of`: the ticket's estimate and its field's queue.changed read them next)."""
        rows = cmd.core(NEW_TICKET_COUNTS[t.priority is not None], _ahead_params(cmd, t)).all()
        transfers, same_before, prio, waiting = rows[0][:4]
        self._know_counters(cmd, {t.field_id: [r[5:] for r in rows if r[4] is not None]})
        ahead = cmd.cfg.rule.ahead(transferred=False, priority=t.priority is not None, transfers=transfers,
                                   same_class_before=same_before, priority_waiting=prio)
        return ahead, {t.field_id: (waiting, issued)}

    def estimate_wait(self, cmd: Command, f: Field, ahead: int) -> tuple[int | None, str | None]:
        """(seconds or None, why) — `domain.estimate`, with this field's counters and recent services."""
        open_n, all_n = self._servers(cmd, f.id)
        mean = None
        if all_n and ahead:
            mean = self.service_times.mean(cmd.s, f.id, cmd.now - timedelta(days=estimate.RECENT_DAYS))
        if mean is None:
            mean = cmd.cfg.queue.default_service_min * 60
        open_now, until_open = self._opening(cmd)
        est = estimate.estimate_wait(ahead, mean, open_n, all_n, open_now, until_open)
        return est.seconds, est.reason

    @staticmethod
    def _opening(cmd: Command) -> tuple[bool, float | None]:
        """(open now, seconds to the next opening when closed), once per command."""
        hit = cmd.__dict__.get("_opening")
        if hit is None:
            hours = cmd.cfg.hours
            open_now = hours.is_open(cmd.now)
            nxt = None if open_now else hours.next_opening(cmd.now)
            hit = cmd.__dict__["_opening"] = (open_now, (nxt - cmd.now).total_seconds() if nxt else None)
        return hit

    def field_status(self, cmd: Command, f: Field, issued_today: int | None = None, cap: bool = True) -> str | None:
        """None when the field accepts tickets now, else why not (`cap=False`: hours only)."""
        hours = cmd.cfg.hours
        args = (f.accepting, hours.issuing_open(cmd.now), hours.local(cmd.now).strftime("%H:%M"), f.cutoff)
        why = numbering.why_closed(*args)
        if why is not None or not cap:
            return why
        if issued_today is None:
            issued_today = cmd.s.execute(select(DaySequence.last).where(
                DaySequence.field_id == f.id, DaySequence.day == cmd.today)).scalar() or 0
        return numbering.why_closed(*args, issued_today, self.daily_cap(f))

    @staticmethod
    def daily_cap(f: Field) -> int:
        return numbering.daily_cap(f.daily_cap, f.range_size)

    def _next_number(self, cmd: Command, f: Field, day=None) -> int:
        """The field's next daily sequence number (of today, or of `day`), in one statement (upsert … RETURNING)."""
        stmt = next_number(cmd.s.bind.dialect.name)
        return cmd.core(stmt, {"fid": f.id, "day": day or cmd.today}).scalar_one()

    def fields_list(self, cmd: Command, only: list[Field] | None = None, counts: dict | None = None) -> list[dict]:
        """The contract's Field objects: all active fields, or just `only` (`counts`: their (waiting,
        issued) when the command has just counted them)."""
        if only is None:
            fields = cmd.s.execute(select(Field).where(*active_fields(cmd.centre.id))
                                   .order_by(Field.position, Field.id)).scalars().all()
        else:
            fields = only
        ids = [f.id for f in fields]
        if counts is None or any(i not in counts for i in ids):
            counts = self._field_counts(cmd, ids)
        return [self._field_dict(cmd, f, *counts[f.id]) for f in fields]

    def _field_counts(self, cmd: Command, ids: list[int]) -> dict[int, tuple[int, int]]:
        """{field id: (waiting, issued today)} of the fields `ids`; their counters come along
        (`_counters_of`) when the command has not read the centre's counters yet."""
        at = {"cid": cmd.centre.id, "day": cmd.today, "ids": ids}
        if "_counter_map" in cmd.__dict__:
            return {fid: (waiting, issued or 0) for fid, waiting, issued in cmd.core(FIELD_COUNTS, at)}
        rows = cmd.core(FIELD_COUNTS_AND_COUNTERS, at).all()
        serving = {fid: [] for fid, *_ in rows}  # a field nobody serves has a row with no counter
        serving.update(self._map_of((fid, *counter) for fid, _w, _i, *counter in rows if counter[0] is not None))
        self._know_counters(cmd, serving)
        return {fid: (waiting, issued or 0) for fid, waiting, issued, *_ in rows}

    @staticmethod
    def _know_counters(cmd: Command, by_field: dict[int, list[tuple[int, str, bool]]]) -> None:
        """Keep what the command read of these fields' counters (`_counters_of` reads it)."""
        cmd.__dict__.setdefault("_field_counters", {}).update(by_field)

    def _field_dict(self, cmd: Command, f: Field, waiting: int, issued: int) -> dict:
        reason = self.field_status(cmd, f, issued)
        open_n, _ = self._servers(cmd, f.id)
        est, est_reason = self.estimate_wait(cmd, f, waiting)
        return {"code": f.code, "name": f.name, "agency": f.agency, "waiting": waiting, "open_counters": open_n,
                "est_wait_s": est, "est_wait_reason": est_reason, "accepting": reason is None,
                "closed_reason": reason, "serving_counters": self.serving_counters(cmd, f.id)}

    def _queue_changed(self, cmd: Command, *field_ids: int, counts: dict | None = None, held=()) -> None:
        fields = self._changed_fields(cmd, *field_ids, counts=counts, held=held)
        if fields:
            cmd.emit(E.QUEUE_CHANGED, {"fields": fields})

    def _changed_fields(self, cmd: Command, *field_ids: int, counts: dict | None = None, held=()) -> list[dict]:
        """queue.changed's Field objects of these fields (none when no field is given); `held`: fields
        the command has read as plain objects (the issue's), which the session would read again."""
        ids = sorted({i for i in field_ids if i is not None})
        known = {f.id: f for f in held}
        return self.fields_list(cmd, [known.get(i) or cmd.s.get(Field, i) for i in ids], counts) if ids else []

    def _counter_changed(self, cmd: Command, c: Counter) -> None:
        cmd.emit(E.COUNTER_CHANGED, {"counter": cmd.counter_dict(c)})
