"""Calling commands at a counter: call next (the domain's call order), call a printed number, recall,
skip (requeue or no-show), complete, transfer to a field or another counter."""
from __future__ import annotations

from datetime import datetime

from layso.server.domain.queue import may_call, requeue_position, skip_outcome
from layso.server.domain.statuses import CallHow, CounterStatus, QueueGroup, TicketStatus
from layso.server.engine.context import Command, Result
from layso.server.engine.statements import CALL_ORDER
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.models import Counter, Ticket
from layso.server.storage.where import waiting_on
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from layso.protocol import EventType as E


class CallCommands:
    """Mixin of the engine (uses its lookups and queue figures)."""

    def call_order(self, cmd: Command, c: Counter, limit: int) -> list[tuple[str, Ticket]]:
        """The waiting tickets in the order call-next at `c` would take them if nothing else changed,
        each with why (`QueueGroup`): transferred to this counter, transferred into one of its fields,
        or its fields' plain queues under the priority rule (`domain.queue`). One statement finds
        them (CALL_ORDER), a second loads the ones taken."""
        at = {"cid": cmd.centre.id, "day": cmd.today, "lim": limit, "counter_id": c.id,
              "ids": [f.id for f in c.fields]}
        parts: dict[str, list[tuple]] = {"to_counter": [], "transferred": [], "priority": [], "normal": []}
        for part, tid, pos in cmd.core(CALL_ORDER, at):
            parts[part].append((pos, tid))
        to_counter, transferred, prio, normal = (
            [tid for _pos, tid in sorted(parts[p])] for p in ("to_counter", "transferred", "priority", "normal"))
        if not may_call(c.priority_only, priority=False, transferred=False):
            normal = []
        out = [(QueueGroup.TO_COUNTER, tid) for tid in to_counter][:limit]
        if at["ids"]:
            out += [(QueueGroup.TRANSFERRED, tid) for tid in transferred]
            queue = cmd.cfg.rule.interleave(prio, normal, c.normals_since_priority, c.priority_only, limit - len(out))
            out += [(QueueGroup.QUEUE, tid) for tid in queue]
        out = out[:limit]
        tickets = self._tickets_by_id(cmd, [tid for _g, tid in out])
        return [(group, tickets[tid]) for group, tid in out]

    @staticmethod
    def _tickets_by_id(cmd: Command, ids: list[int]) -> dict[int, Ticket]:
        if len(ids) == 1:
            return {ids[0]: cmd.s.get(Ticket, ids[0])}
        return {t.id: t for t in cmd.s.execute(select(Ticket).where(Ticket.id.in_(ids))).scalars()} if ids else {}

    def _officer_of(self, c: Counter, officer_id: int | None) -> int | None:
        return officer_id if officer_id is not None else c.officer_id

    def _finish_current(self, cmd: Command, c: Counter, officer_id: int | None, dossier_code=None,
                        at: datetime | None = None, clear: bool = True) -> Ticket | None:
        """Complete the ticket the counter serves, if any (its ticket_completed event); `clear=False`
        leaves the counter's `ticket_id` for the caller to set (a call that follows: one UPDATE)."""
        if c.ticket_id is None:
            return None
        t = cmd.s.get(Ticket, c.ticket_id)
        if clear:
            cmd.update(c, ticket_id=None)
        if t is None or t.status != TicketStatus.CALLED:
            return None
        ended = at or cmd.now
        if dossier_code:
            cmd.update(t, status=TicketStatus.DONE, completed_at=ended, ended_at=ended, dossier_code=dossier_code)
        else:
            cmd.update(t, status=TicketStatus.DONE, completed_at=ended, ended_at=ended)
        cmd.emit(E.TICKET_COMPLETED, {"ticket": cmd.ticket_dict(t), "counter": c.number},
                 log={"ticket": t, "counter_id": c.id, "officer_id": self._officer_of(c, officer_id),
                      "data": {"dossier_code": dossier_code} if dossier_code else {}})
        return t

    def _call(self, cmd: Command, c: Counter, t: Ticket, officer_id: int | None, how: str) -> dict:
        officer = self._officer_of(c, officer_id)
        was_transfer = t.transferred or t.transfer_counter_id is not None
        cmd.update(t, status=TicketStatus.CALLED, called_at=cmd.now, first_called_at=t.first_called_at or cmd.now,
                   calls=t.calls + 1, counter_id=c.id, officer_id=officer, transferred=False, transfer_counter_id=None)
        set_committed_value(t, "counter", c)
        counter = {"ticket_id": t.id}
        if c.status == CounterStatus.CLOSED:
            counter["status"] = CounterStatus.OPEN
        if not was_transfer and how == CallHow.NEXT:
            counter["normals_since_priority"] = cmd.cfg.rule.after_call(c.normals_since_priority,
                                                                         t.priority is not None)
        self._change_counter(cmd, c, **counter)
        # the field's counts first: their statement brings the field's counters, which the ticket's
        # description reads too (one round trip, not two)
        fields = self._changed_fields(cmd, t.field_id)
        td, cd = cmd.ticket_dict(t), cmd.counter_dict(c)
        cmd.emit(E.TICKET_CALLED, {"ticket": td, "counter": cd, "at": cmd.iso(cmd.now)},
                 log={"ticket": t, "counter_id": c.id, "officer_id": officer, "data": {"how": how}})
        cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
        cmd.emit(E.QUEUE_CHANGED, {"fields": fields})
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
            done = self._finish_current(cmd, c, officer_id, clear=False)  # the call below sets the counter's ticket
            order = self.call_order(cmd, c, 1)
            if not order:
                counter = {"ticket_id": None} if c.ticket_id is not None else {}
                if c.status == CounterStatus.CLOSED:
                    counter["status"] = CounterStatus.OPEN
                if counter:
                    self._change_counter(cmd, c, **counter)
                if "status" in counter or done is not None:
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
            self._finish_current(cmd, c, officer_id, clear=False)
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
            t = self._current(cmd, c)  # held here, so that `_finish_current` finds it loaded (the session
            self._finish_current(cmd, c, officer_id, dossier_code)  # keeps a row only while it is referenced)
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
