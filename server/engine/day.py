"""The day: closing (waiting tickets cancelled with `day_closed`, counters freed of past days'
tickets), announcing the fields when they open or close by the clock, and the centre's `state`."""
from __future__ import annotations

from datetime import datetime, timedelta

from layso.server.domain.statuses import CancelReason, TicketStatus
from layso.server.engine.context import Command, Result
from layso.server.storage.models import Counter, Ticket, TicketEvent
from layso.server.storage.where import active_counters
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from layso.protocol import EventType as E

RECENT_CALLS = 10


def centre_dict(cmd: Command) -> dict:
    cfg = cmd.cfg
    return {"code": cmd.centre.code, "name": cmd.centre.name, "timezone": cmd.centre.timezone,
            "thank_you": cfg.thank_you, "day": cmd.today.isoformat(),
            "priority_categories": [{"code": c.code, "name": c.name} for c in cfg.priority.categories],
            "priority_rule": {"rule": cfg.priority.rule, "normal_per_priority": cfg.priority.normal_per_priority},
            "rating": {"levels": [lv.model_dump() for lv in sorted(cfg.rating.levels, key=lambda x: -x.score)],
                       "satisfied_min": cfg.rating.satisfied_min, "reason_max": cfg.rating.reason_max,
                       "reasons": cfg.rating.reasons, "panel_window_s": cfg.rating.panel_window_s},
            "voice": cfg.voice, "open_now": cfg.hours.is_open(cmd.now),
            # kiosks offer check-in of online bookings; lobby displays show the appointment rule
            "booking": {"enabled": cfg.booking.enabled,
                        "appointments": cfg.booking.enabled and bool(cfg.booking.appointment_fields)}}


class DayCommands:
    """Mixin of the engine."""

    def close_days(self, centre_id: int) -> Result:
        """At closing, waiting tickets become cancelled (day_closed); called tickets of past days end."""
        def run(cmd: Command):
            closing = cmd.cfg.hours.closing_time(cmd.today)
            last_closed_day = cmd.today if closing is not None and cmd.now >= closing else cmd.today - timedelta(days=1)
            tickets = cmd.s.execute(select(Ticket).where(
                Ticket.centre_id == cmd.centre.id, Ticket.status == TicketStatus.WAITING,
                Ticket.day <= last_closed_day).order_by(Ticket.id)).scalars().all()
            for t in tickets:
                t.status, t.cancel_reason, t.ended_at = TicketStatus.CANCELLED, CancelReason.DAY_CLOSED, cmd.now
                cmd.emit(E.TICKET_CANCELLED, {"ticket": cmd.ticket_dict(t), "reason": CancelReason.DAY_CLOSED},
                         log={"ticket": t, "data": {"reason": CancelReason.DAY_CLOSED}})
            self._free_counters_of_past_days(cmd)
            if cmd.centre.closed_through != last_closed_day:
                cmd.centre.closed_through = last_closed_day
            self._queue_changed(cmd, *{t.field_id for t in tickets})
            return len(tickets)

        return self._run(centre_id, run)

    def _free_counters_of_past_days(self, cmd: Command) -> None:
        """Counters still holding a ticket of a past day are freed: the ticket ends as served at that
        day's closing (never the next morning, which would inflate service times)."""
        for c in cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id,
                                                     Counter.ticket_id.is_not(None))).scalars():
            t = cmd.s.get(Ticket, c.ticket_id)
            if t is not None and t.day < cmd.today:
                closing = cmd.cfg.hours.closing_time(t.day)
                at = max(t.called_at, min(closing, cmd.now)) if closing else cmd.now
                self._finish_current(cmd, c, None, at=at)
                self._counter_changed(cmd, c)

    def announce_fields(self, centre_id: int) -> Result:
        """A `queue.changed` with every field, e.g. when fields open or close by the clock."""
        def run(cmd: Command):
            fields = self.fields_list(cmd)
            cmd.emit(E.QUEUE_CHANGED, {"fields": fields})
            return fields

        return self._run(centre_id, run)

    # ---- reads ----------------------------------------------------------------------------
    def state(self, centre_id: int, base_url: str | None = None) -> dict:
        return self._read(centre_id, self._state, base_url)

    def _state(self, cmd: Command) -> dict:
        fields = self.fields_list(cmd)  # also loads every Field into the session
        counters = cmd.s.execute(select(Counter).where(*active_counters(cmd.centre.id))
                                 .options(selectinload(Counter.fields), selectinload(Counter.officer))
                                 .order_by(Counter.number)).scalars().all()
        return {"seq": cmd.centre.seq, "centre": centre_dict(cmd), "counters": [cmd.counter_dict(c) for c in counters],
                "fields": fields, "recent_calls": self._recent_calls(cmd, counters), "ticker": cmd.centre.ticker,
                "now": cmd.iso(cmd.now)}

    @staticmethod
    def _recent_calls(cmd: Command, counters: list[Counter]) -> list[dict]:
        calls = cmd.s.execute(select(TicketEvent).where(
            TicketEvent.centre_id == cmd.centre.id,
            TicketEvent.type.in_((E.TICKET_CALLED, E.TICKET_RECALLED)),
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
                           "at": cmd.iso(ev.at), "recall": ev.type == E.TICKET_RECALLED})
        return recent

    def fields(self, centre_id: int) -> list[dict]:
        return self._read(centre_id, lambda cmd: self.fields_list(cmd))
