"""Calling commands at a counter: call next (the domain's call order), call a printed number, recall,
skip (requeue or no-show), complete, transfer to a field or another counter."""
from __future__ import annotations

from datetime import datetime

from layso.server.domain.queue import may_call, requeue_position, skip_outcome
from layso.server.domain.statuses import CallHow, CounterStatus, QueueGroup, TicketStatus
from layso.server.engine.context import Command, Result
from layso.server.engine.statements import CALL_NORMAL, CALL_PRIORITY, CALL_TO_COUNTER, CALL_TRANSFERRED
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.models import Counter, Ticket
from layso.server.storage.where import waiting_on
from sqlalchemy import select

from layso.protocol import EventType as E


class CallCommands:
    """Mixin of the engine (uses its lookups and queue figures)."""

    def call_order(self, cmd: Command, c: Counter, limit: int) -> list[tuple[str, Ticket]]:
        """The waiting tickets in the order call-next at `c` would take them if nothing else changed,
        each with why (`QueueGroup`): transferred to this counter, transferred into one of its fields,
        or its fields' plain queues under the priority rule (`domain.queue`)."""
        at = {"cid": cmd.centre.id, "day": cmd.today, "lim": limit, "counter_id": c.id,
              "ids": [f.id for f in c.fields]}
        out = [(QueueGroup.TO_COUNTER, t) for t in cmd.s.execute(CALL_TO_COUNTER, at).scalars()]
        if not at["ids"] or len(out) >= limit:
            return out[:limit]
        out += [(QueueGroup.TRANSFERRED, t) for t in cmd.s.execute(CALL_TRANSFERRED, at).scalars()]
        prio = list(cmd.s.execute(CALL_PRIORITY, at).scalars())
        normal = list(cmd.s.execute(CALL_NORMAL, at).scalars()) \
            if may_call(c.priority_only, priority=False, transferred=False) else []
        queue = cmd.cfg.rule.interleave(prio, normal, c.normals_since_priority, c.priority_only, limit - len(out))
        return (out + [(QueueGroup.QUEUE, t) for t in queue])[:limit]

    def _officer_of(self, c: Counter, officer_id: int | None) -> int | None:
        return officer_id if officer_id is not None else c.officer_id

    def _finish_current(self, cmd: Command, c: Counter, officer_id: int | None, dossier_code=None,
                        at: datetime | None = None) -> Ticket | None:
        if c.ticket_id is None:
            return None
        t = cmd.s.get(Ticket, c.ticket_id)
        c.ticket_id = None
        if t is None or t.status != TicketStatus.CALLED:
            return None
        t.status = TicketStatus.DONE
        t.completed_at = t.ended_at = at or cmd.now
        if dossier_code:
            t.dossier_code = dossier_code
        cmd.emit(E.TICKET_COMPLETED, {"ticket": cmd.ticket_dict(t), "counter": c.number},
                 log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id),
                      "data": {"dossier_code": dossier_code} if dossier_code else {}})
        return t

    def _call(self, cmd: Command, c: Counter, t: Ticket, officer_id: int | None, how: str) -> dict:
        officer = self._officer_of(c, officer_id)
        if t.first_called_at is None:
            t.first_called_at = cmd.now
        t.status, t.called_at, t.calls = TicketStatus.CALLED, cmd.now, t.calls + 1
        t.counter_id, t.counter, t.officer_id = c.id, c, officer
        was_transfer = t.transferred or t.transfer_counter_id is not None
        t.transferred, t.transfer_counter_id = False, None
        c.ticket_id = t.id
        if c.status == CounterStatus.CLOSED:
            self._set_status(cmd, c, CounterStatus.OPEN)
        if not was_transfer and how == CallHow.NEXT:
            c.normals_since_priority = cmd.cfg.rule.after_call(c.normals_since_priority, t.priority is not None)
        cmd.s.flush()
        td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
        cmd.emit(E.TICKET_CALLED, {"ticket": td, "counter": cd, "at": cmd.iso(cmd.now)},
                 log={"ticket": t, "counter_id": c.id, "officer_id": officer, "data": {"how": how}})
        cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
        self._queue_changed(cmd, t.field_id)
        return {"ticket": td, "counter": cd}

    def _calling_counter(self, cmd: Command, counter_number, officer_id: int | None) -> Counter:
        """The counter about to call: it exists, is not paused, and someone is signed in to serve
        (the counter's officer, or the signed-in user acting at it) — work is never credited to nobody."""
        c = self._counter(cmd, counter_number)
        if c.status == CounterStatus.PAUSED:
            raise Conflict("the counter is paused", "counter_paused")
        if self._officer_of(c, officer_id) is None:
            raise Conflict("nobody is signed in at this counter", "no_officer")
        return c

    def call_next(self, centre_id: int, counter_number, officer_id: int | None = None,
                  base_url: str | None = None) -> Result:
        """Call the next ticket for a counter; value None when nothing waits."""
        def run(cmd: Command):
            c = self._calling_counter(cmd, counter_number, officer_id)
            done = self._finish_current(cmd, c, officer_id)
            order = self.call_order(cmd, c, 1)
            if not order:
                if c.status == CounterStatus.CLOSED:
                    self._set_status(cmd, c, CounterStatus.OPEN)
                    self._counter_changed(cmd, c)
                elif done is not None:
                    self._counter_changed(cmd, c)
                return None
            return self._call(cmd, c, order[0][1], officer_id, CallHow.NEXT)

        return self._run(centre_id, run, base_url)

    def call_number(self, centre_id: int, counter_number, number, officer_id: int | None = None,
                    base_url: str | None = None) -> Result:
        """Call a specific waiting ticket of today by its printed number (staff console)."""
        def run(cmd: Command):
            c = self._calling_counter(cmd, counter_number, officer_id)
            if not isinstance(number, str) or not number.strip():
                raise BadRequest("number must be a ticket number", "invalid_number")
            t = cmd.s.execute(select(Ticket).where(Ticket.centre_id == cmd.centre.id, Ticket.day == cmd.today,
                                                   Ticket.number == number.strip().upper())).scalars().first()
            if t is None:
                raise NotFound(f"no ticket {number[:12]} today", "ticket_not_found")
            if t.status != TicketStatus.WAITING:
                raise Conflict("that ticket is not waiting", "ticket_not_waiting")
            self._finish_current(cmd, c, officer_id)
            return self._call(cmd, c, t, officer_id, CallHow.NUMBER)

        return self._run(centre_id, run, base_url)

    def _current(self, cmd: Command, c: Counter) -> Ticket:
        t = cmd.s.get(Ticket, c.ticket_id) if c.ticket_id else None
        if t is None or t.status != TicketStatus.CALLED:
            raise Conflict("no ticket is being served at this counter", "no_current_ticket")
        return t

    def recall(self, centre_id: int, counter_number, officer_id: int | None = None, base_url=None) -> Result:
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            t = self._current(cmd, c)
            t.called_at = cmd.now
            t.calls += 1
            td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
            cmd.emit(E.TICKET_RECALLED, {"ticket": td, "counter": cd, "at": cmd.iso(cmd.now)},
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
            t.status = skip_outcome(q.skip_action, t.skips, q.max_skips)
            if t.status == TicketStatus.NO_SHOW:
                t.ended_at = cmd.now
            else:
                t.queue_pos = self._requeue_pos(cmd, t, q.requeue_behind)
            cmd.s.flush()
            td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
            cmd.emit(E.TICKET_SKIPPED, {"ticket": td, "counter": cd},
                     log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id),
                          "data": {"skips": t.skips, "outcome": t.status}})
            cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
            self._queue_changed(cmd, t.field_id)
            return {"counter": cd, "ticket": td}

        return self._run(centre_id, run, base_url)

    def _requeue_pos(self, cmd: Command, t: Ticket, behind: int) -> float:
        same_class = Ticket.priority.is_(None) if t.priority is None else Ticket.priority.is_not(None)
        positions = list(cmd.s.execute(
            select(Ticket.queue_pos).where(*waiting_on(cmd.centre.id, cmd.today), Ticket.field_id == t.field_id,
                                           Ticket.id != t.id, Ticket.transferred.is_(False),
                                           Ticket.transfer_counter_id.is_(None), same_class)
            .order_by(Ticket.queue_pos, Ticket.id).limit(behind + 1)).scalars())
        return requeue_position(positions, behind, cmd.next_pos())

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
            cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
            return {"counter": cd, "ticket": cmd.ticket_dict(t)}

        return self._run(centre_id, run, base_url)

    def transfer(self, centre_id: int, counter_number, to_field=None, to_counter=None, officer_id=None,
                 base_url=None) -> Result:
        if (to_field is None) == (to_counter is None):
            raise BadRequest("give exactly one of field or counter", "invalid_transfer")

        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            t = self._current(cmd, c)
            old_field = t.field_id
            data = self._redirect(cmd, c, t, to_field, to_counter)
            t.status, t.transferred, t.queue_pos = TicketStatus.WAITING, True, cmd.next_pos()
            c.ticket_id = None
            cmd.s.flush()
            td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
            cmd.emit(E.TICKET_TRANSFERRED, {"ticket": td, "counter": cd, **data},
                     log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id), "data": data})
            cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
            self._queue_changed(cmd, old_field, t.field_id)
            return {"counter": cd, "ticket": td}

        return self._run(centre_id, run, base_url)

    def _redirect(self, cmd: Command, c: Counter, t: Ticket, to_field, to_counter) -> dict:
        """Point a transferred ticket at its new field or counter; → the event's data."""
        data = {"from_counter": c.number}
        if to_field is not None:
            f = self._field(cmd, to_field)
            t.field_id, t.field, t.transfer_counter_id = f.id, f, None
            data["to_field"] = f.code
        else:
            target = self._counter(cmd, to_counter)
            if target.id == c.id:
                raise BadRequest("cannot transfer to the same counter", "invalid_transfer")
            t.transfer_counter_id = target.id
            data["to_counter"] = target.number
        return data
