"""What the janitor's commands need to know, read for every centre at once.

The janitor runs every 15 s in each server process. Running its commands (lapse the bookings,
close the day) and reading the fields of every centre in turn cost a write transaction and a dozen
queries per centre — over a second per round for a province of 150 centres, much of it holding the
single SQLite writer. `sweep` instead reads, in a fixed number of queries whatever the number of
centres, which centres have something to do now; the janitor runs the commands only for those
(each command checks again under its centre's lock, so a centre another process handled first
changes nothing). The rules are the commands' own: `lapse_due_at` (booking), the closing time
(`Hours.closing_time`) and `numbering.why_closed` (a field's openness).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from layso.server.domain import numbering
from layso.server.domain.statuses import TicketStatus
from layso.server.engine.booking import lapse_due_at
from layso.server.engine.context import Settings
from layso.server.storage.database import Database
from layso.server.storage.models import Booking, Centre, Counter, DaySequence, Field, Ticket
from layso.server.turns import taking_turns
from sqlalchemy import Text, cast, func, select

ENDED = (TicketStatus.CANCELLED, TicketStatus.NO_SHOW)  # an online number's ticket ended without a check-in


@dataclass
class Sweep:
    """Per centre id: `lapse` and `close` name the centres whose command has work now; `openness`
    is every centre's fields as the janitor compares them: [(code, accepting, closed_reason)] in the
    order of the centre's field list."""

    now: datetime
    lapse: list[int] = field(default_factory=list)
    close: list[int] = field(default_factory=list)
    openness: dict[int, list[tuple]] = field(default_factory=dict)


def sweep(db: Database, now: datetime) -> Sweep:
    """One read transaction, six queries, for all centres."""
    out = Sweep(now)
    with db.read() as s:
        # the settings as text, parsed when they change (Settings.of_json), not decoded every round
        centres = s.execute(select(Centre.id, Centre.timezone, Centre.closed_through,
                                   cast(Centre.settings, Text).label("settings_json")).order_by(Centre.id)).all()
        if not centres:
            return out
        cfg = {c.id: Settings.of_json(c.id, c.timezone, c.settings_json) for c in taking_turns(centres)}
        today = {cid: c.hours.day_of(now) for cid, c in taking_turns(cfg.items())}
        ids = list(cfg)
        out.lapse = _lapses(s, ids, cfg, today, now)
        out.close = _closings(s, centres, cfg, today, now)
        out.openness = _openness(s, ids, cfg, today, now)
    return out


def _lapses(s, ids: list[int], cfg: dict, today: dict[int, date], now: datetime) -> list[int]:
    """Centres where `booking.lapse` would change something now (its rules, read here for all)."""
    rows = s.execute(
        select(Booking.centre_id, Booking.kind, Booking.day, Booking.ticket_id, Ticket.status, Ticket.first_called_at)
        .outerjoin(Ticket, Ticket.id == Booking.ticket_id)
        .where(Booking.centre_id.in_(ids), Booking.status == "booked", Booking.day <= max(today.values()))).all()
    due = set()
    for cid, kind, day, ticket_id, status, first_called_at in taking_turns(rows):
        if cid in due or day > today[cid]:
            continue
        if kind == "number" and status in ENDED:
            due.add(cid)  # its booking is marked lapsed (or cancelled) at once
        elif (kind == "number" and status == TicketStatus.WAITING) or (kind == "appointment" and ticket_id is None):
            at = lapse_due_at(cfg[cid], day, first_called_at if kind == "number" else None)
            if at is not None and now >= at:
                due.add(cid)
    return sorted(due)


def _closings(s, centres: list, cfg: dict, today: dict[int, date], now: datetime) -> list[int]:
    """Centres where `close_days` has work: a closed day not yet recorded, tickets still waiting from
    a closed day, or a counter still holding a ticket of a past day."""
    ids = [c.id for c in centres]
    oldest_waiting = dict(s.execute(
        select(Ticket.centre_id, func.min(Ticket.day))
        .where(Ticket.centre_id.in_(ids), Ticket.status == TicketStatus.WAITING).group_by(Ticket.centre_id)).all())
    oldest_held = dict(s.execute(
        select(Counter.centre_id, func.min(Ticket.day)).join(Ticket, Ticket.id == Counter.ticket_id)
        .where(Counter.centre_id.in_(ids), Counter.ticket_id.is_not(None)).group_by(Counter.centre_id)).all())
    out = []
    for c in taking_turns(centres):
        day = today[c.id]
        closing = cfg[c.id].hours.closing_time(day)
        last_closed = day if closing is not None and now >= closing else day - timedelta(days=1)
        waiting, held = oldest_waiting.get(c.id), oldest_held.get(c.id)
        if c.closed_through != last_closed or (waiting is not None and waiting <= last_closed) \
                or (held is not None and held < day):
            out.append(c.id)
    return out


def _openness(s, ids: list[int], cfg: dict, today: dict[int, date], now: datetime) -> dict[int, list[tuple]]:
    """Every active field's (code, accepting, closed_reason), as `engine.fields` would answer."""
    fields = s.execute(
        select(Field.id, Field.centre_id, Field.code, Field.accepting, Field.cutoff, Field.daily_cap, Field.prefix,
               Field.width, Field.range_start, Field.range_end)
        .where(Field.centre_id.in_(ids), Field.active.is_(True))
        .order_by(Field.centre_id, Field.position, Field.id)).all()
    issued = {(fid, day): n for fid, day, n in s.execute(
        select(DaySequence.field_id, DaySequence.day, DaySequence.last).join(Field, Field.id == DaySequence.field_id)
        .where(Field.centre_id.in_(ids), Field.active.is_(True), DaySequence.day.in_(set(today.values()))))}
    hours_now = {cid: (c.hours.issuing_open(now), c.hours.local(now).strftime("%H:%M"))
                 for cid, c in taking_turns(cfg.items())}
    out: dict[int, list[tuple]] = {cid: [] for cid in ids}
    for f in taking_turns(fields):
        is_open, hhmm = hours_now[f.centre_id]
        cap = numbering.daily_cap(f.daily_cap, numbering.range_size(f.prefix, f.width, f.range_start, f.range_end))
        why = numbering.why_closed(f.accepting, is_open, hhmm, f.cutoff, issued.get((f.id, today[f.centre_id]), 0), cap)
        out[f.centre_id].append((f.code, why is None, why))
    return out
