"""Read-only queries of the staff console: one counter as its officer sees it, the live queue of the
fields it serves, and today's figures at that counter (CONTRACT.md "Definitions": wait = first
called − issued, service = completed − last called, satisfied = score ≥ the scale's satisfied_min)."""
from __future__ import annotations

from collections import Counter as Tally
from datetime import date
from zoneinfo import ZoneInfo

from layso.server import clock
from layso.server.domain import rating
from layso.server.domain.queue import may_call
from layso.server.domain.statuses import TicketStatus
from layso.server.engine import Command, QueueEngine, Settings
from layso.server.engine import iso as _iso
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Device, Field, Rating, Ticket
from layso.server.storage.where import active_counters, active_fields, waiting_on
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

QUEUE_LIMIT = 200


class _Context:
    def __init__(self, s: Session, centre: Centre):
        self.s = s
        self.centre = centre
        self.tz = ZoneInfo(centre.timezone)
        self.now = clock.now()
        self.today: date = self.now.astimezone(self.tz).date()
        cfg = Settings.of(centre)
        self.categories = cfg.categories
        self.satisfied_min = cfg.rating.satisfied_min

    def ticket(self, t: Ticket) -> dict:
        return {"id": t.id, "number": t.number, "field": t.field.code, "field_name": t.field.name,
                "priority": t.priority, "priority_name": self.categories.get(t.priority) if t.priority else None,
                "status": t.status, "issued_at": _iso(t.issued_at, self.tz), "called_at": _iso(t.called_at, self.tz),
                "waited_s": int((self.now - t.issued_at).total_seconds()), "calls": t.calls,
                "transferred": t.transferred or t.transfer_counter_id is not None, "skips": t.skips}


def _counter(s: Session, centre_id: int, number: int) -> Counter | None:
    return s.execute(select(Counter).where(*active_counters(centre_id), Counter.number == number)
                     .options(selectinload(Counter.fields), selectinload(Counter.officer))).scalar_one_or_none()


def counter_view(ctx: _Context, c: Counter) -> dict:
    ticket = ctx.s.get(Ticket, c.ticket_id) if c.ticket_id else None
    officer = (c.officer.full_name or c.officer.username) if c.officer else None
    return {"number": c.number, "name": c.name, "status": c.status, "pause_reason": c.pause_reason,
            "officer": officer, "priority_only": c.priority_only,
            "fields": [{"code": f.code, "name": f.name} for f in c.fields],
            "ticket": ctx.ticket(ticket) if ticket is not None and ticket.status == TicketStatus.CALLED else None}


def live_queue(ctx: _Context, engine: QueueEngine, c: Counter) -> list[dict]:
    """Waiting tickets this counter may call, in the order "next" will call them (the engine's order)."""
    cmd = Command(engine, ctx.s, ctx.centre, None)
    return [{**ctx.ticket(t), "group": group} for group, t in engine.call_order(cmd, c, QUEUE_LIMIT)]


def waiting_counts(ctx: _Context, c: Counter) -> tuple[int, dict[str, int]]:
    """How many tickets this counter may call (all of them, past the list's limit), and per field."""
    rows = ctx.s.execute(
        select(Field.code, Ticket.transfer_counter_id, Ticket.priority.is_not(None), Ticket.transferred,
               func.count(Ticket.id))
        .join(Field, Field.id == Ticket.field_id)
        .where(*waiting_on(ctx.centre.id, ctx.today),
               Ticket.field_id.in_([f.id for f in c.fields]) | (Ticket.transfer_counter_id == c.id))
        .group_by(Field.code, Ticket.transfer_counter_id, Ticket.priority.is_not(None), Ticket.transferred)).all()
    by_field: dict[str, int] = {}
    for code, to_counter, priority, transferred, n in rows:
        if to_counter == c.id or (to_counter is None and may_call(c.priority_only, priority, transferred)):
            by_field[code] = by_field.get(code, 0) + n
    return sum(by_field.values()), by_field


def today_figures(ctx: _Context, c: Counter) -> dict:
    rows = ctx.s.execute(select(Ticket.id, Ticket.status, Ticket.issued_at, Ticket.first_called_at, Ticket.called_at,
                                Ticket.completed_at)
                         .where(Ticket.centre_id == ctx.centre.id, Ticket.counter_id == c.id,
                                Ticket.day == ctx.today)).all()
    served = [r for r in rows if r.status == TicketStatus.DONE]
    waits = [(r.first_called_at - r.issued_at).total_seconds() for r in rows if r.first_called_at is not None]
    services = [(r.completed_at - r.called_at).total_seconds() for r in served
                if r.completed_at is not None and r.called_at is not None]
    scores = list(ctx.s.execute(select(Rating.score).join(Ticket, Ticket.id == Rating.ticket_id)
                                .where(Ticket.centre_id == ctx.centre.id, Ticket.day == ctx.today,
                                       Rating.counter_id == c.id)).scalars())

    def mean(values: list[float]) -> int | None:
        return round(sum(values) / len(values)) if values else None

    return {"day": ctx.today.isoformat(), "called": len(rows), "served": len(served),
            "no_show": sum(1 for r in rows if r.status == TicketStatus.NO_SHOW), "wait_mean_s": mean(waits),
            "service_mean_s": mean(services), "rated": len(scores),
            "score_mean": round(sum(scores) / len(scores), 2) if scores else None,
            "satisfied_share": rating.satisfied_share(Tally(scores), ctx.satisfied_min)}


def console_snapshot(engine: QueueEngine, centre_id: int, number: int) -> dict | None:
    """Everything the console shows that changes; None when the counter does not exist."""
    with engine.db.read() as s:
        centre = s.get(Centre, centre_id)
        c = _counter(s, centre_id, number) if centre is not None else None
        if c is None:
            return None
        ctx = _Context(s, centre)
        total, by_field = waiting_counts(ctx, c)
        return {"now": _iso(ctx.now, ctx.tz), "counter": counter_view(ctx, c), "queue": live_queue(ctx, engine, c),
                "waiting": total, "waiting_by_field": by_field, "today": today_figures(ctx, c),
                "kiosk_faults": kiosk_faults(ctx)}


def kiosk_faults(ctx: _Context) -> list[dict]:
    """Kiosks that cannot print or are away, so officers can help citizens (and reprint)."""
    kiosks = ctx.s.execute(select(Device).where(Device.centre_id == ctx.centre.id, Device.role == "kiosk",
                                                Device.revoked_at.is_(None)).order_by(Device.name)).scalars()
    return [{"name": d.name, "online": d.online, "printer": d.printer, "detail": d.status_detail}
            for d in kiosks if not d.online or d.printer not in (None, "ok")]


def console_options(db: Database, centre_id: int) -> dict:
    """What rarely changes: counters (to choose or transfer to), fields, priority categories."""
    with db.read() as s:
        centre = s.get(Centre, centre_id)
        counters = s.execute(select(Counter).where(*active_counters(centre_id))
                             .options(selectinload(Counter.fields), selectinload(Counter.officer))
                             .order_by(Counter.number)).scalars().all()
        fields = s.execute(select(Field).where(*active_fields(centre_id))
                           .order_by(Field.position, Field.id)).scalars().all()
        categories = [c.model_dump() for c in Settings.of(centre).priority.categories] if centre else []
        return {"centre": centre.name if centre else "",
                "counters": [{"number": c.number, "name": c.name, "status": c.status,
                              "officer": (c.officer.full_name or c.officer.username) if c.officer else None,
                              "fields": [f.name for f in c.fields]} for c in counters],
                "fields": [{"code": f.code, "name": f.name} for f in fields],
                "categories": [{"code": c["code"], "name": c["name"]} for c in categories]}


__all__ = ["console_options", "console_snapshot"]
