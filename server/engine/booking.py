"""Commands of the remote channel: book an online number, check it in, cancel, lapse unused ones.

Each command is a unit of work inside the queue engine's transaction (the centre row locked), so
an online number and a walk-in number come from one daily sequence without colliding, and the
online caps and the per-citizen limit are checked and taken atomically. The rules themselves live
in `server/domain/booking.py`.

An online number (kind `number`) is a ticket from the moment it is booked: it holds its number of
the field's daily sequence and its place in the queue (channel `online`, the same tracking token as
the booking). Checking in at a kiosk or with the staff prints it and stops it lapsing.

Appointments (kind `appointment`, a place in a time slot) have their commands in
`server/engine/appointments.py`; what the channel shows (options, a booking's page, the day's
summary) is in `server/engine/booking_views.py`. `BookingCommands` puts them together behind
`QueueEngine.booking`.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime, timedelta

from layso.server.domain.booking import (
    LapseRule,
    bookable_day,
    booking_open,
    check_in_window,
    new_code,
    online_cap,
    read_code,
)
from layso.server.engine.appointments import AppointmentCommands
from layso.server.engine.booking_views import BookingViews
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.models import AuditEntry, Booking, Field, Ticket
from sqlalchemy import func, or_, select


def lapse_due_at(cfg, day: date, first_called_at: datetime | None) -> datetime | None:
    """When a booking of `day` lapses under a centre's settings `cfg` (None: never on its own)."""
    return LapseRule.of(cfg.booking).due(day, cfg.hours.tz, cfg.hours.closing_time(day), first_called_at)


class BookingCommands(AppointmentCommands, BookingViews):
    """The remote channel's commands, reached as `QueueEngine.booking`."""

    def __init__(self, engine):
        self.engine = engine

    # ---- serialisation ------------------------------------------------------------------------
    def booking_dict(self, cmd, b: Booking) -> dict:
        """The contract's Booking object (nothing personal in it)."""
        due = self.lapse_due(cmd, b, b.ticket.first_called_at if b.ticket is not None else None)
        if b.kind == "appointment" and b.slot_start is not None:  # to keep its place in the queue
            cfg = cmd.cfg.booking
            due = check_in_window(b.slot_start, cfg.check_in_before_min, cfg.check_in_after_min)[1]
        return {
            "code": b.code, "kind": b.kind, "number": b.ticket.number if b.ticket is not None else None,
            "field": b.field.code, "field_name": b.field.name, "day": b.day.isoformat(),
            "slot": {"start": cmd.iso(b.slot_start), "end": cmd.iso(b.slot_end)} if b.slot_start else None,
            "status": b.status, "check_in_by": cmd.iso(due), "track_url": self.track_url(cmd, b),
        }

    @staticmethod
    def track_url(cmd, b: Booking) -> str:
        """A ticket's tracking page once there is a ticket; before that the booking's own page."""
        if b.ticket_id is None:
            return f"{cmd.base_url}/book/{b.track_token}"
        return f"{cmd.base_url}/t/{b.track_token}"

    @staticmethod
    def lapse_due(cmd, b: Booking, first_called_at: datetime | None) -> datetime | None:
        return lapse_due_at(cmd.cfg, b.day, first_called_at)

    # ---- what can be booked -------------------------------------------------------------------
    def _today_closed(self, cmd, f: Field) -> str | None:
        """Why today can no longer be booked for `f` (None: it can)."""
        hours = cmd.cfg.hours
        closing = hours.closing_time(cmd.today)
        if closing is None or cmd.now >= closing:
            return "day_over"
        local = hours.local(cmd.now)
        if f.cutoff and local.strftime("%H:%M") >= f.cutoff:
            return "day_over"
        rule = LapseRule.of(cmd.cfg.booking)
        if rule.at is not None and local.time() >= rule.at:
            return "day_over"
        return None

    def _why_closed(self, cmd, f: Field, day: date) -> str | None:
        cfg = cmd.cfg.booking
        if not cfg.enabled:
            return "disabled"
        if not f.accepting or f.code in cfg.closed_fields:
            return "field_closed"
        if not booking_open(cfg, cmd.cfg.hours.local(cmd.now)):
            return "outside_booking_hours"
        why = bookable_day(day, cmd.today, cfg, lambda d: bool(cmd.cfg.hours.intervals_on(d)))
        if why is None and day == cmd.today:
            why = self._today_closed(cmd, f)
        return why

    def _online_taken(self, cmd, field_ids: list[int], days: list[date]) -> dict[tuple[int, date], int]:
        """Online numbers taken per (field, day), not counting cancelled ones."""
        rows = cmd.s.execute(
            select(Booking.field_id, Booking.day, func.count(Booking.id))
            .outerjoin(Ticket, Ticket.id == Booking.ticket_id)
            .where(Booking.centre_id == cmd.centre.id, Booking.kind == "number", Booking.field_id.in_(field_ids),
                   Booking.day.in_(days), Booking.status != "cancelled", _not_cancelled_by_citizen())
            .group_by(Booking.field_id, Booking.day)).all()
        return {(fid, d): n for fid, d, n in rows}

    # ---- online numbers -----------------------------------------------------------------------
    def book(self, centre_id: int, field_code, day=None, slot=None, citizen_key: str | None = None,
             request_id=None, base_url: str | None = None):
        """Book an online number for `day` (default today): its number comes from the field's daily
        sequence, shared with the kiosks; with `slot`, an appointment (`AppointmentCommands`).
        → Result(Booking dict), `created` False on a replay."""
        day = _book_day(day)
        _check_book_args(slot, request_id)
        body_hash = hashlib.sha256(json.dumps([field_code, str(day), slot, citizen_key]).encode()).hexdigest()

        def run(cmd):
            prior = self._replay(cmd, request_id, body_hash)
            if prior is not None:
                return prior, False
            f = self.engine._field(cmd, field_code)
            the_day = day or cmd.today
            why = self._why_closed(cmd, f, the_day)
            if why is not None:
                raise Conflict("this field cannot be booked online for that day now", "booking_closed", reason=why)
            if slot is not None:
                return self._book_slot(cmd, f, the_day, slot, citizen_key, request_id, body_hash)
            return self._book_number(cmd, f, the_day, citizen_key, request_id, body_hash)

        return self.engine._run(centre_id, run, base_url)

    def _replay(self, cmd, request_id, body_hash: str) -> dict | None:
        """The booking an earlier request with the same `request_id` made (None: there was none);
        409 when that id came with another request."""
        if request_id is None:
            return None
        prior = cmd.s.execute(select(Booking).where(Booking.centre_id == cmd.centre.id,
                                                    Booking.request_id == request_id)).scalar_one_or_none()
        if prior is None:
            return None
        if prior.request_hash != body_hash:
            raise Conflict("request_id was used with another request", "request_id_reused")
        return self.booking_dict(cmd, prior)

    def _book_number(self, cmd, f: Field, day: date, citizen_key, request_id, body_hash) -> dict:
        """An online number: the next of the field's daily sequence, a waiting ticket from now on."""
        n = self._take_number(cmd, f, day, citizen_key)
        t = self._online_ticket(cmd, f, day, n)
        b = Booking(centre_id=cmd.centre.id, code=self._free_code(cmd), kind="number", field_id=f.id,
                    day=day, status="booked", ticket_id=t.id, track_token=t.track_token, citizen_key=citizen_key,
                    request_id=request_id, request_hash=body_hash, created_at=cmd.now)
        b.field, b.ticket = f, t
        cmd.s.add(b)
        cmd.s.flush()
        bd = self.booking_dict(cmd, b)
        cmd.emit("ticket.issued", {"ticket": cmd.ticket_dict(t), "device_id": None},
                 log={"ticket": t, "data": {"channel": "online", "number": t.number, "booking": b.code}})
        cmd.emit("booking.created", {"booking": bd})
        if day == cmd.today:
            self.engine._queue_changed(cmd, f.id)
        return bd

    def _take_number(self, cmd, f: Field, day: date, citizen_key) -> int:
        """The field's next number of `day`, once the online cap and the citizen's limit allow it."""
        cap = self.engine.daily_cap(f)
        if self._online_taken(cmd, [f.id], [day]).get((f.id, day), 0) >= online_cap(cap, f.code, cmd.cfg.booking):
            raise Conflict("no online numbers left for this field that day", "daily_cap_reached",
                           reason="online_cap_reached")
        self._check_citizen(cmd, day, citizen_key)
        n = self.engine._next_number(cmd, f, day)
        if n > cap:  # the transaction rolls back, so the count stays at the cap
            raise Conflict("no numbers left that day for this field", "daily_cap_reached",
                           reason="daily_cap_reached")
        return n

    @staticmethod
    def _online_ticket(cmd, f: Field, day: date, n: int) -> Ticket:
        """The waiting ticket of an online number `n` (channel `online`, a new tracking token)."""
        issued_at = cmd.now
        if day > cmd.today:  # valid from the day's opening (waits are measured from there)
            issued_at = cmd.cfg.hours.intervals_on(day)[0][0]
        t = Ticket(centre_id=cmd.centre.id, field_id=f.id, issue_field_id=f.id, day=day, seq_in_day=n,
                   number=f.format_number(n), priority=None, channel="online", status="waiting",
                   issued_at=issued_at, queue_pos=cmd.next_pos(), track_token=secrets.token_urlsafe(18))
        t.field = f
        cmd.s.add(t)
        cmd.s.flush()
        return t

    @staticmethod
    def _check_citizen(cmd, day: date, citizen_key: str | None, but: int | None = None) -> None:
        """The per-citizen daily limit (bookings given back do not count; `but`: one being moved)."""
        if citizen_key is None:
            return
        cfg = cmd.cfg.booking
        q = (select(func.count(Booking.id)).outerjoin(Ticket, Ticket.id == Booking.ticket_id)
             .where(Booking.centre_id == cmd.centre.id, Booking.day == day, Booking.citizen_key == citizen_key,
                    Booking.status != "cancelled", _not_cancelled_by_citizen()))
        if but is not None:
            q = q.where(Booking.id != but)
        if cmd.s.execute(q).scalar() >= cfg.per_citizen_daily:
            raise Conflict(f"at most {cfg.per_citizen_daily} online bookings per citizen and day", "booking_limit")

    @staticmethod
    def _free_code(cmd) -> str:
        for _ in range(20):
            code = new_code()
            if cmd.s.execute(select(Booking.id).where(Booking.code == code)).first() is None:
                return code
        raise RuntimeError("no free booking code after 20 tries")  # 23^7 codes: never in practice

    def check_in(self, centre_id: int, code, device_id: int | None = None, officer_id: int | None = None,
                 base_url: str | None = None):
        """The citizen is here (kiosk scan or code, or the staff): the booking is checked in and its
        ticket is returned for printing. 409 `lapsed`, `too_early`, `already_checked_in`."""
        wanted = read_code(code)
        if wanted is None:
            raise NotFound("unknown booking code", "booking_not_found")

        def run(cmd):
            b = cmd.s.execute(select(Booking).where(Booking.code == wanted,
                                                    Booking.centre_id == cmd.centre.id)).scalar_one_or_none()
            if b is None:
                raise NotFound("unknown booking code", "booking_not_found")
            if b.status == "checked_in":
                raise Conflict("this booking is already checked in", "already_checked_in")
            if b.status == "lapsed":
                raise Conflict("this booking has lapsed", "lapsed")
            if b.status == "cancelled":
                raise Conflict("this booking was cancelled", "booking_cancelled")
            if b.day > cmd.today:
                raise Conflict("this booking is for a later day", "too_early", day=b.day.isoformat())
            if b.kind == "appointment":
                return self._check_in_appointment(cmd, b, device_id, officer_id)
            t = b.ticket
            if t.status == "done":
                raise Conflict("this number has already been served", "already_checked_in")
            if t.status == "cancelled" and t.cancel_reason == "citizen":
                raise Conflict("this booking was cancelled", "booking_cancelled")
            due = self.lapse_due(cmd, b, t.first_called_at)
            if b.day < cmd.today or t.status not in ("waiting", "called") or (
                    t.status == "waiting" and due is not None and cmd.now >= due):
                raise Conflict("this booking has lapsed", "lapsed")
            b.status = "checked_in"
            b.checked_in_at = cmd.now
            b.checked_in_by = "kiosk" if device_id is not None else "staff"
            if device_id is not None:
                t.device_id = device_id  # the kiosk that printed it (reprints go there)
            cmd.s.flush()
            td = cmd.ticket_dict(t)
            bd = self.booking_dict(cmd, b)
            cmd.emit("booking.checked_in", {"booking": bd, "ticket": td, "device_id": device_id},
                     log={"ticket": t, "device_id": device_id, "officer_id": officer_id,
                          "data": {"booking": b.code, "by": b.checked_in_by}})
            return {**td, "booking": bd}

        return self.engine._run(centre_id, run, base_url)

    # ---- given back, lapsed, settings ---------------------------------------------------------
    def cancel(self, centre_id: int, token, base_url: str | None = None):
        """The citizen gives a booking back (its page): a booked appointment, or an online number
        whose ticket still waits (the ticket is cancelled too)."""
        def run(cmd):
            b = self._by_token(cmd, token)
            if b.status != "booked" or (b.ticket is not None and b.ticket.status != "waiting"):
                raise Conflict("this booking can no longer be cancelled", "ticket_not_waiting")
            b.status, b.cancelled_at = "cancelled", cmd.now
            t = b.ticket
            if t is not None:
                t.status, t.cancel_reason, t.ended_at = "cancelled", "citizen", cmd.now
                cmd.emit("ticket.cancelled", {"ticket": cmd.ticket_dict(t), "reason": "citizen"},
                         log={"ticket": t, "data": {"reason": "citizen", "booking": b.code}})
            bd = self.booking_dict(cmd, b)
            cmd.emit("booking.cancelled", {"booking": bd})
            if t is not None and t.day == cmd.today:
                self.engine._queue_changed(cmd, t.field_id)
            return bd

        return self.engine._run(centre_id, run, base_url)

    @staticmethod
    def _by_token(cmd, token) -> Booking:
        b = None
        if isinstance(token, str) and len(token) <= 64:
            b = cmd.s.execute(select(Booking).where(Booking.track_token == token,
                                                    Booking.centre_id == cmd.centre.id)).scalar_one_or_none()
        if b is None:
            raise NotFound("unknown booking", "booking_not_found")
        return b

    def lapse(self, centre_id: int):
        """Lapse the online numbers whose rule time has come without a check-in (the janitor runs
        this): a waiting ticket is cancelled with reason `lapsed` at exactly the rule's time; a ticket
        that ended otherwise (no-show, the day's closing) marks its booking lapsed too. → Result(count)"""
        def run(cmd):
            rows = cmd.s.execute(
                select(Booking, Ticket).join(Ticket, Ticket.id == Booking.ticket_id)
                .where(Booking.centre_id == cmd.centre.id, Booking.status == "booked", Booking.kind == "number",
                       Booking.day <= cmd.today, Ticket.status.in_(("waiting", "cancelled", "no_show")))
                .order_by(Booking.id)).all()
            fields, n = set(), 0
            for b in cmd.s.execute(select(Booking).where(
                    Booking.centre_id == cmd.centre.id, Booking.status == "booked", Booking.kind == "appointment",
                    Booking.day <= cmd.today, Booking.ticket_id.is_(None)).order_by(Booking.id)).scalars():
                due = self.lapse_due(cmd, b, None)
                if due is not None and cmd.now >= due:
                    b.status, b.lapsed_at = "lapsed", due
                    b.lapse_reason = "hour" if cmd.cfg.booking.lapse_at else "closing"
                    n += 1
                    cmd.emit("booking.lapsed", {"booking": self.booking_dict(cmd, b), "reason": b.lapse_reason})
            for b, t in rows:
                if t.status == "cancelled" and t.cancel_reason == "citizen":
                    b.status, b.cancelled_at = "cancelled", t.ended_at
                    continue
                if t.status == "waiting":
                    due = self.lapse_due(cmd, b, t.first_called_at)
                    if due is None or cmd.now < due:
                        continue
                    called_rule = t.first_called_at is not None and cmd.cfg.booking.lapse_after_call_min and \
                        due == t.first_called_at + timedelta(minutes=cmd.cfg.booking.lapse_after_call_min)
                    reason = "after_call" if called_rule else ("hour" if cmd.cfg.booking.lapse_at else "closing")
                    t.status, t.cancel_reason, t.ended_at = "cancelled", "lapsed", due
                    fields.add(t.field_id)
                    cmd.emit("ticket.cancelled", {"ticket": cmd.ticket_dict(t), "reason": "lapsed"},
                             log={"ticket": t, "data": {"reason": "lapsed", "booking": b.code}})
                    at = due
                else:
                    reason = "no_show" if t.status == "no_show" else (t.cancel_reason or "closing")
                    at = t.ended_at or cmd.now
                b.status, b.lapsed_at, b.lapse_reason = "lapsed", at, reason
                n += 1
                cmd.emit("booking.lapsed", {"booking": self.booking_dict(cmd, b), "reason": reason})
            if fields:
                self.engine._queue_changed(cmd, *fields)
            return n

        return self.engine._run(centre_id, run)

    def save_settings(self, centre_id: int, booking: dict, user_id: int | None = None):
        """New online booking settings (validated `BookingConfig.model_dump(mode="json")`), audited."""
        def run(cmd):
            codes = set(cmd.s.execute(select(Field.code).where(Field.centre_id == cmd.centre.id)).scalars())
            named = set(booking.get("closed_fields", [])) | set(booking.get("appointment_fields", [])) | \
                set(booking.get("field_caps", {})) | set(booking.get("slot_capacity", {}))
            if named - codes:
                raise BadRequest(f"unknown fields {sorted(named - codes)}", "field_not_found")
            before = cmd.centre.settings.get("booking", {})
            if before == booking:
                return None
            cmd.centre.settings = {**cmd.centre.settings, "booking": booking}  # a new dict: the change is saved
            cmd.s.add(AuditEntry(centre_id=cmd.centre.id, at=cmd.now, user_id=user_id, action="booking.change",
                                 target="booking", data={k: [before.get(k), v] for k, v in booking.items()
                                                          if before.get(k) != v}))
            return None

        return self.engine._run(centre_id, run)


def _not_cancelled_by_citizen():
    """Bookings whose number the citizen gave back (tracking page) no longer count."""
    return or_(Ticket.id.is_(None), Ticket.status != "cancelled", Ticket.cancel_reason.is_(None),
               Ticket.cancel_reason != "citizen")


def _book_day(day) -> date | None:
    """The day a booking asks for ("YYYY-MM-DD"; None: today)."""
    if day is None:
        return None
    if not isinstance(day, str):
        raise BadRequest("day must be a date YYYY-MM-DD", "invalid_day")
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise BadRequest("day must be a date YYYY-MM-DD", "invalid_day") from None


def _check_book_args(slot, request_id) -> None:
    """A slot's start and a request id, if given, are strings of a sensible length."""
    if slot is not None and (not isinstance(slot, str) or not 4 <= len(slot) <= 40):
        raise BadRequest("slot must be a slot's start time HH:MM", "invalid_slot")
    if request_id is not None and (not isinstance(request_id, str) or not 1 <= len(request_id) <= 100):
        raise BadRequest("request_id must be a string of 1 to 100 characters", "invalid_request_id")
