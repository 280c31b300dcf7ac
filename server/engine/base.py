"""The engine's transaction plumbing and lookups: every command runs in one short write transaction
(on SQLite under gevent: a savepoint of a transaction it may share with the commands of the same
moment, `Database.write_grouped`) that starts by locking its centre (BEGIN IMMEDIATE on SQLite,
SELECT … FOR UPDATE on PostgreSQL), so numbering and call-next are atomic and the per-centre `seq` of
its events follows commit order."""
from __future__ import annotations

import time as _time

from layso.server.engine.context import Command, Result
from layso.server.engine.statements import CENTRE_LOCKED, COUNTER_BY_NUMBER, FIELD_BY_CODE
from layso.server.errors import BadRequest, NotFound
from layso.server.storage import prepared
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Field, Ticket
from sqlalchemy import select

MAX_TEXT = 500
MAX_ID = 2**31 - 1  # ids and counter numbers beyond a database integer are simply unknown


def centre_id_of(db: Database, code: str | None) -> int:
    """The centre with this code; without a code, the database's only centre (the CLI's default)."""
    with db.read() as s:
        if code:
            c = s.execute(select(Centre.id).where(Centre.code == code)).scalar_one_or_none()
            if c is None:
                raise NotFound(f"unknown centre {code!r}", "centre_not_found")
            return c
        ids = s.execute(select(Centre.id).order_by(Centre.id)).scalars().all()
        if not ids:
            raise NotFound("no centre yet: start the server with a configuration first", "centre_not_found")
        if len(ids) > 1:
            raise BadRequest("several centres: name one with --centre", "centre_required")
        return ids[0]


class EngineBase:
    def __init__(self, db: Database, default_base_url: str | None = None):
        self.db = db
        self.default_base_url = default_base_url

    # ---- transaction plumbing -----------------------------------------------------------
    def _run(self, centre_id: int, fn, base_url: str | None = None, lock=None, read_row=None) -> Result:
        """`fn(cmd)` as a command. `lock`: (statement, parameters) that locks the centre and reads more
        with it, a round trip fewer (its first column the Centre, its second the centre's settings as
        text, `SETTINGS_TEXT`; `cid` bound here; the row is `cmd.locked`); by default CENTRE_LOCKED.
        `read_row`: the lock is a Core statement, and `read_row(row)` makes such a row of its row
        (the issue's, engine/tickets.py)."""
        statement, params = lock or (CENTRE_LOCKED, {})

        def work(s):
            at = {**params, "cid": centre_id}
            if read_row is None:
                row = s.execute(statement, at).first()
            else:
                row = prepared.execute(s.connection(), statement, at).first()
                row = read_row(row) if row is not None else None
            if row is None:
                raise NotFound("unknown centre", "centre_not_found")
            cmd = Command(self, s, row[0], base_url, settings_json=row[1])
            cmd.locked = row
            value = fn(cmd)
            created = True
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bool):
                value, created = value
            return value, created, cmd.finish()

        # with other commands of the moment, in one transaction, when the database is SQLite
        value, created, events = self.db.write_grouped(work)
        committed = _time.time()  # the transaction has committed: stamp the events (latency measurements)
        for ev in events:
            ev.payload["committed_at"] = committed
        return Result(value, events, created)

    def run_command(self, centre_id: int, fn, base_url: str | None = None) -> Result:
        """Run `fn(cmd)` as a command of its own (centre locked, events numbered, published by the
        caller after commit)."""
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
        f = cmd.s.execute(FIELD_BY_CODE, {"cid": cmd.centre.id, "code": code}).scalar_one_or_none()
        if f is None:
            raise NotFound(f"unknown field {code[:40]!r}", "field_not_found")
        return f

    def _counter(self, cmd: Command, number) -> Counter:
        if not isinstance(number, int) or isinstance(number, bool):
            raise BadRequest("counter must be a number", "invalid_counter")
        if not 1 <= number <= MAX_ID:
            raise NotFound(f"unknown counter {str(number)[:12]}", "counter_not_found")
        c = cmd.s.execute(COUNTER_BY_NUMBER, {"cid": cmd.centre.id, "number": number}).unique().scalar_one_or_none()
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
