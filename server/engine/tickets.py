"""Ticket commands: issue a number, grant priority, cancel through the tracking link, reprint at the
issuing kiosk; and the reads of one ticket (by id, by tracking link)."""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from types import SimpleNamespace

from layso.server.domain import rating
from layso.server.domain.statuses import ISSUE_CHANNELS, CancelReason, RatingSource, TicketStatus
from layso.server.engine.context import Command, Result
from layso.server.engine.statements import ISSUE_CENTRE_COLUMNS, ISSUE_FIELD_COLUMNS, ISSUE_LOCKED, NEW_TICKET
from layso.server.errors import BadRequest, Conflict, Forbidden
from layso.server.storage.models import Device, Field, Rating, Ticket, TicketEvent
from sqlalchemy import select

from layso.protocol import EventType as E

# how long a reprint waits for a kiosk that was away when it was asked; after that the citizen has
# most likely gone back to the counter, and a ticket coming out of the kiosk would be taken by another
REPRINT_WAIT = timedelta(minutes=3)

_CLOSED = {"outside_hours": "outside working hours", "field_closed": "this field is not taking numbers now"}


class LockedCentre(SimpleNamespace):
    """The centre an issue has locked, as the command reads it: every column but the settings (their
    text comes beside, `Settings.of_json`). Not an ORM object, which cost a fifth of an issue's CPU
    to build; the issue changes only its `seq` (`Command.finish`)."""


class FieldRow(SimpleNamespace):
    """A field as an issue's lock read it (every column), numbering as the model does."""

    range_size = Field.range_size
    format_number = Field.format_number


def _issue_row(row) -> tuple:
    """ISSUE_LOCKED's row as (LockedCentre, settings' text, FieldRow or None, prior ticket id, its
    request hash, the centre's seq as the statement's snapshot saw it)."""
    nc, nf = len(ISSUE_CENTRE_COLUMNS), len(ISSUE_FIELD_COLUMNS)
    field = row[nc + 1:nc + 1 + nf]
    f = FieldRow(**dict(zip(ISSUE_FIELD_COLUMNS, field))) if field[0] is not None else None
    return (LockedCentre(**dict(zip(ISSUE_CENTRE_COLUMNS, row[:nc]))), row[nc], f, *row[nc + 1 + nf:])


class IssuedTicket(SimpleNamespace):
    """A ticket the command has just inserted, as the command goes on reading it (`ticket_dict`, the
    ticket log): every column, its field, no counter. Not an ORM object, which cost more to build
    than the INSERT; nothing of the command changes it afterwards."""


def _check_issue(priority, channel, request_id) -> None:
    if priority is not None and not isinstance(priority, str):
        raise BadRequest("priority must be a category code", "invalid_priority")
    if channel not in ISSUE_CHANNELS:
        raise BadRequest("channel must be kiosk, staff or online", "invalid_channel")
    if request_id is not None and (not isinstance(request_id, str) or not 1 <= len(request_id) <= 100):
        raise BadRequest("request_id must be a string of 1 to 100 characters", "invalid_request_id")


class TicketCommands:
    """Mixin of the engine (uses its lookups and queue figures)."""

    def issue(self, centre_id: int, field_code, priority=None, channel: str = "kiosk", request_id=None,
              device_id: int | None = None, officer_id: int | None = None, base_url: str | None = None) -> Result:
        _check_issue(priority, channel, request_id)
        body_hash = hashlib.sha256(json.dumps([field_code, priority, channel], default=str).encode()).hexdigest()

        def run(cmd: Command):
            centre, _settings, f, prior_id, prior_hash, seq_seen = cmd.locked
            if seq_seen != centre.seq:  # another command committed while this one waited for the lock:
                # the same statement again, which now waits for nothing and sees that commit
                again = cmd.core(ISSUE_LOCKED, {**lock, "cid": centre.id}).one()
                _c, _t, f, prior_id, prior_hash, _s = _issue_row(again)
            if prior_id is not None:
                if prior_hash != body_hash:
                    raise Conflict("request_id was used with another request", "request_id_reused")
                return cmd.ticket_dict(cmd.s.get(Ticket, prior_id)), False
            f = f or self._field(cmd, field_code)
            if priority is not None and priority not in cmd.cfg.categories:
                raise BadRequest(f"unknown priority category {priority[:40]!r}", "invalid_priority")
            t = self._new_ticket(cmd, f, priority, channel, request_id, body_hash, device_id)
            ahead, counts = self.new_ticket_counts(cmd, t, issued=t.seq_in_day)
            d = cmd.ticket_dict(t, ahead=ahead)
            cmd.emit(E.TICKET_ISSUED, {"ticket": d, "device_id": device_id},
                     log={"ticket": t, "device_id": device_id, "officer_id": officer_id,
                          "data": {"channel": channel, "priority": priority, "number": t.number}})
            self._queue_changed(cmd, f.id, counts=counts, held=(f,))
            return d

        # the centre locked with the field and an earlier request's ticket read (a retry whose field
        # has gone since is still answered); a code that is no text matches no field (`_field` says why)
        lock = {"code": field_code if isinstance(field_code, str) else None, "rid": request_id}
        return self._run(centre_id, run, base_url, lock=(ISSUE_LOCKED, lock), read_row=_issue_row)

    def _new_ticket(self, cmd: Command, f: Field, priority, channel, request_id, body_hash, device_id) -> IssuedTicket:
        """Number a new waiting ticket of `f` (refused outside hours, when closed or over the cap)."""
        reason = self.field_status(cmd, f, cap=False)
        if reason is not None:
            raise Conflict(_CLOSED[reason], "field_closed", reason=reason)
        n = self._next_number(cmd, f)
        if n > self.daily_cap(f):  # the transaction rolls back, so the count stays at the cap
            raise Conflict("no numbers left today for this field", "daily_cap_reached", reason="daily_cap_reached")
        row = dict(centre_id=cmd.centre.id, field_id=f.id, issue_field_id=f.id, day=cmd.today, seq_in_day=n,
                   number=f.format_number(n), priority=priority, priority_reason=None,
                   channel=channel, request_id=request_id, request_hash=body_hash, status=TicketStatus.WAITING,
                   issued_at=cmd.now, first_called_at=None, called_at=None, completed_at=None, ended_at=None,
                   queue_pos=cmd.next_pos(), counter_id=None, officer_id=None, transfer_counter_id=None,
                   transferred=False, skips=0, calls=0, dossier_code=None, cancel_reason=None,
                   track_token=secrets.token_urlsafe(18), device_id=device_id)
        # one INSERT … RETURNING id, not the unit of work (a third of the command's CPU)
        return IssuedTicket(id=cmd.core(NEW_TICKET, row).scalar_one(), field=f, counter=None, **row)

    def grant_priority(self, centre_id: int, ticket_id, category, reason=None, officer_id=None,
                       base_url=None) -> Result:
        """An officer grants priority to a waiting ticket at the counter."""
        if reason is not None and (not isinstance(reason, str) or len(reason) > 200):
            raise BadRequest("reason must be text of at most 200 characters", "invalid_reason")

        def run(cmd: Command):
            t = self._ticket(cmd, ticket_id)
            if not isinstance(category, str) or category not in cmd.cfg.categories:
                raise BadRequest("unknown priority category", "invalid_priority")
            if t.status != TicketStatus.WAITING:
                raise Conflict("that ticket is not waiting", "ticket_not_waiting")
            t.priority = category
            t.priority_reason = (reason or "").strip() or None
            td = cmd.ticket_dict(t)
            cmd.emit(E.QUEUE_CHANGED, {"fields": self.fields_list(cmd, [t.field]), "ticket": td},
                     log={"ticket": t, "officer_id": officer_id, "data": {"priority": category, "reason": reason}})
            return td

        return self._run(centre_id, run, base_url)

    def cancel(self, centre_id: int, track_token, base_url=None) -> Result:
        def run(cmd: Command):
            t = self._by_track(cmd, track_token)
            if t.status != TicketStatus.WAITING:
                raise Conflict("only a waiting ticket can be cancelled", "ticket_not_waiting")
            t.status = TicketStatus.CANCELLED
            t.cancel_reason = CancelReason.CITIZEN
            t.ended_at = cmd.now
            td = cmd.ticket_dict(t, public=True)
            cmd.emit(E.TICKET_CANCELLED, {"ticket": cmd.ticket_dict(t), "reason": CancelReason.CITIZEN},
                     log={"ticket": t, "data": {"reason": CancelReason.CITIZEN}})
            self._queue_changed(cmd, t.field_id)
            return td

        return self._run(centre_id, run, base_url)

    def reprint(self, centre_id: int, ticket_id, officer_id=None, base_url=None) -> Result:
        def run(cmd: Command):
            t = self._ticket(cmd, ticket_id)
            if t.device_id is None:
                raise Conflict("this ticket was not issued by a kiosk", "no_kiosk")
            td = cmd.ticket_dict(t)
            cmd.emit(E.TICKET_REPRINT, {"ticket": td, "device_id": t.device_id},
                     log={"ticket": t, "officer_id": officer_id, "device_id": t.device_id})
            return td

        return self._run(centre_id, run, base_url)

    def reprint_outcome(self, centre_id: int, ticket_id, device_id: int, printed: bool,
                        printer: str | None = None, detail: str | None = None) -> Result:
        """The issuing kiosk tells whether a reprint came out of its printer (`ticket.reprinted`), so
        the officer who asked learns it, a paper fault included."""
        def run(cmd: Command):
            t = self._ticket(cmd, ticket_id)
            if t.device_id != device_id:
                raise Forbidden("only the kiosk that issued this ticket prints it", "forbidden")
            d = cmd.s.get(Device, device_id)
            outcome = {"printed": bool(printed), "printer": printer, "detail": (detail or "")[:200] or None}
            cmd.emit(E.TICKET_REPRINTED, {"ticket": cmd.ticket_dict(t), "device_id": device_id,
                                          "device_name": d.name if d else None, **outcome},
                     log={"ticket": t, "device_id": device_id, "data": outcome})
            return outcome

        return self._run(centre_id, run)

    # ---- reads ----------------------------------------------------------------------------
    def pending_reprints(self, centre_id: int, device_id: int, base_url=None) -> list[dict]:
        """The reprints asked of a kiosk in the last `REPRINT_WAIT` that it has not answered
        (`ticket.reprinted`), as their `ticket.reprint` payloads with `seq`: a kiosk that was away
        when one was asked (a dropped connection, a restart) finds it in its next `state`."""
        def run(cmd: Command):
            rows = cmd.s.execute(select(TicketEvent).where(
                TicketEvent.centre_id == cmd.centre.id, TicketEvent.device_id == device_id,
                TicketEvent.type.in_((E.TICKET_REPRINT, E.TICKET_REPRINTED)),
                TicketEvent.at >= cmd.now - REPRINT_WAIT).order_by(TicketEvent.seq)).scalars().all()
            asked: dict[int, TicketEvent] = {}
            for ev in rows:  # an answer settles every earlier request for its ticket
                if ev.type == E.TICKET_REPRINT:
                    asked[ev.ticket_id] = ev
                else:
                    asked.pop(ev.ticket_id, None)
            return [{"seq": ev.seq, "ticket": cmd.ticket_dict(cmd.s.get(Ticket, ev.ticket_id)), "device_id": device_id}
                    for ev in asked.values()]

        return self._read(centre_id, run, base_url)

    def track(self, centre_id: int, token, base_url=None) -> dict:
        def run(cmd: Command):
            t = self._by_track(cmd, token)
            d = cmd.ticket_dict(t, public=True)
            r = cmd.s.execute(select(Rating).where(Rating.ticket_id == t.id)).scalar_one_or_none()
            d["rating"] = {"score": r.score, "at": cmd.iso(r.at)} if r else None
            d["can_rate"] = (r is None and t.status == TicketStatus.DONE and t.completed_at is not None
                             and rating.within_window(t.completed_at, cmd.now, RatingSource.LINK, cmd.cfg.rating))
            d["centre_name"] = cmd.centre.name
            return d

        return self._read(centre_id, run, base_url)

    def ticket(self, centre_id: int, ticket_id, base_url=None) -> dict:
        return self._read(centre_id, lambda cmd: cmd.ticket_dict(self._ticket(cmd, ticket_id)), base_url)
