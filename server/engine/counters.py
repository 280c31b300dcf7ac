"""Counter commands: an officer signs in (one counter at a time), pauses with a reason, resumes, and
closes the counter (signing out)."""
from __future__ import annotations

from layso.server.domain.statuses import CounterStatus
from layso.server.engine.context import Command, Result
from layso.server.errors import BadRequest, Conflict, Forbidden
from layso.server.storage.models import Counter, User
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from layso.protocol import EventType as E


class CounterCommands:
    """Mixin of the engine (uses its lookups, queue figures and `_finish_current`)."""

    def pause(self, centre_id: int, counter_number, reason=None, officer_id=None, base_url=None) -> Result:
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise BadRequest("reason must be text of at most 200 characters", "invalid_reason")

        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            if c.status == CounterStatus.PAUSED:
                raise Conflict("the counter is already paused", "counter_paused")
            self._set_status(cmd, c, CounterStatus.PAUSED)
            c.pause_reason = (reason or "").strip() or None
            cd = cmd.counter_dict(c)
            cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
            return {"counter": cd, "ticket": cd["ticket"]}

        return self._run(centre_id, run, base_url)

    def resume(self, centre_id: int, counter_number, officer_id=None, base_url=None) -> Result:
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            if c.status == CounterStatus.OPEN:
                raise Conflict("the counter is not paused", "counter_not_paused")
            self._set_status(cmd, c, CounterStatus.OPEN)
            c.pause_reason = None
            cd = cmd.counter_dict(c)
            cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
            self._queue_changed(cmd, *[f.id for f in c.fields])
            return {"counter": cd, "ticket": cd["ticket"]}

        return self._run(centre_id, run, base_url)

    def close_counter(self, centre_id: int, counter_number, base_url=None) -> Result:
        """Sign-out: the counter closes (its current ticket, if any, is completed first)."""
        def run(cmd: Command):
            cd = self._sign_out(cmd, self._counter(cmd, counter_number))
            return {"counter": cd, "ticket": None}

        return self._run(centre_id, run, base_url)

    def _sign_out(self, cmd: Command, c: Counter) -> dict:
        """The counter's officer leaves: its current ticket is completed, it closes; → the Counter."""
        self._finish_current(cmd, c, None)
        self._set_status(cmd, c, CounterStatus.CLOSED)
        c.pause_reason = None
        c.officer_id = None
        c.officer = None
        cd = cmd.counter_dict(c)
        cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
        self._queue_changed(cmd, *[f.id for f in c.fields])
        return cd

    def sign_in(self, centre_id: int, counter_number, user_id: int, base_url=None) -> Result:
        """The staff user becomes the counter's current officer; the counter opens. An officer is at
        one counter at a time: signing in here signs them out of any other counter (which closes)."""
        def run(cmd: Command):
            c = self._counter(cmd, counter_number)
            user = cmd.s.get(User, user_id)
            if user is None or user.centre_id != cmd.centre.id:
                raise Forbidden("unknown user", "forbidden")
            for other in cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id,
                                                             Counter.officer_id == user_id, Counter.id != c.id)
                                       .options(selectinload(Counter.fields))).scalars():
                self._sign_out(cmd, other)
            c.officer_id = user.id
            c.officer = user
            if c.status == CounterStatus.CLOSED:
                self._set_status(cmd, c, CounterStatus.OPEN)
            cd = cmd.counter_dict(c)
            cmd.emit(E.COUNTER_CHANGED, {"counter": cd})
            self._queue_changed(cmd, *[f.id for f in c.fields])
            return cd

        return self._run(centre_id, run, base_url)
