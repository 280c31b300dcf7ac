"""Commands of the remote channel: book an online number, check it in, lapse unused ones.

Each command is a unit of work inside the queue engine's transaction (the centre row locked), so
an online number and a walk-in number come from one daily sequence without colliding, and the
online caps and the per-citizen limit are checked and taken atomically. The rules themselves live
in `server/domain/booking.py`.

An online number (kind `number`) is a ticket from the moment it is booked: it holds its number of
the field's daily sequence and its place in the queue (channel `online`, the same tracking token as
the booking). Checking in at a kiosk or with the staff prints it and stops it lapsing.

An appointment (kind `appointment`) is a place in a time slot; its ticket (channel `appointment`,
the booking's tracking token) is made at check-in. Within the check-in window it joins the queue
ahead of walk-ins issued after the slot's start (or after its check-in, if earlier:
`domain.booking.appointment_queue_pos`); a late
arrival gets an ordinary place at the end. The citizen may cancel or move it until then.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime, time, timedelta

from layso.server.domain.booking import (
    LapseRule,
    appointment_queue_pos,
    bookable_day,
    booking_open,
    check_in_window,
    new_code,
    online_cap,
    read_code,
    slot_capacity,
    slots_of,
)
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.models import AuditEntry, Booking, DaySequence, Field, Ticket
from sqlalchemy import func, or_, select

BOOKING_STATUSES = ("booked", "checked_in", "lapsed", "cancelled")


class BookingCommands:
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
        hours = cmd.cfg.hours
        return LapseRule.of(cmd.cfg.booking).due(b.day, hours.tz, hours.closing_time(b.day), first_called_at)

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

    def options(self, centre_id: int) -> dict:
        """GET /booking/options: every active field, whether it takes online bookings now, and the
        days it can be booked for with the online numbers still free."""
        def run(cmd):
            cfg = cmd.cfg.booking
            fields = cmd.s.execute(select(Field).where(Field.centre_id == cmd.centre.id, Field.active.is_(True))
                                   .order_by(Field.position, Field.id)).scalars().all()
            days = [cmd.today + timedelta(days=i) for i in range(cfg.horizon_days + 1)]
            days = [d for d in days if cmd.cfg.hours.intervals_on(d)]
            ids = [f.id for f in fields]
            taken = self._online_taken(cmd, ids, days) if ids and days else {}
            issued = dict(((fid, d), n) for fid, d, n in cmd.s.execute(
                select(DaySequence.field_id, DaySequence.day, DaySequence.last)
                .where(DaySequence.field_id.in_(ids), DaySequence.day.in_(days)))) if ids and days else {}
            out = []
            for f in fields:
                cap = self.engine.daily_cap(f)
                online = online_cap(cap, f.code, cfg)
                entries = []
                for d in days:
                    if self._why_closed(cmd, f, d) is not None:
                        continue
                    free = max(0, min(online - taken.get((f.id, d), 0), cap - issued.get((f.id, d), 0)))
                    slots = self.free_slots(cmd, f, d) if f.code in cfg.appointment_fields else None
                    entries.append({"day": d.isoformat(), "slots": slots, "free": free})
                out.append({"code": f.code, "name": f.name, "online_open": any(e["free"] > 0 for e in entries),
                            "days": entries})
            return {"fields": out, "centre": {"code": cmd.centre.code, "name": cmd.centre.name},
                    "appointment_rule": {"check_in_before_min": cfg.check_in_before_min,
                                         "check_in_after_min": cfg.check_in_after_min},
                    "per_citizen_daily": cfg.per_citizen_daily, "today": cmd.today.isoformat()}

        return self.engine._read(centre_id, run)

    # ---- appointment slots ----------------------------------------------------------------------
    def slot_capacity(self, cmd, f: Field) -> int:
        cfg = cmd.cfg.booking
        counters = len(self.engine._counter_map(cmd).get(f.id, []))
        mean = self.engine.service_times.mean(cmd.s, f.id, cmd.now - timedelta(days=7))
        minutes = (mean / 60) if mean else cmd.cfg.queue.default_service_min
        return slot_capacity(counters, cfg.slot_minutes, minutes, cfg.slot_capacity.get(f.code))

    def _slot_taken(self, cmd, f: Field, day: date) -> dict[datetime, int]:
        rows = cmd.s.execute(select(Booking.slot_start, func.count(Booking.id))
                             .where(Booking.centre_id == cmd.centre.id, Booking.field_id == f.id, Booking.day == day,
                                    Booking.kind == "appointment", Booking.status != "cancelled")
                             .group_by(Booking.slot_start)).all()
        return {start: n for start, n in rows}

    def free_slots(self, cmd, f: Field, day: date) -> list[dict]:
        """The day's slots still to come, with the places left in each."""
        cfg = cmd.cfg.booking
        cap = self.slot_capacity(cmd, f)
        taken = self._slot_taken(cmd, f, day)
        out = []
        for start, end in slots_of(cmd.cfg.hours.intervals_on(day), cfg.slot_minutes):
            if check_in_window(start, cfg.check_in_before_min, cfg.check_in_after_min)[1] <= cmd.now:
                continue
            out.append({"start": cmd.iso(start), "end": cmd.iso(end), "free": max(0, cap - taken.get(start, 0))})
        return out

    def _slot(self, cmd, f: Field, day: date, slot) -> tuple[datetime, datetime]:
        """The slot a citizen asked for ("HH:MM" of the day, or its ISO start), checked."""
        cfg = cmd.cfg.booking
        if f.code not in cfg.appointment_fields:
            raise Conflict("this field takes no appointments", "booking_closed", reason="no_appointments")
        try:
            start = datetime.combine(day, time.fromisoformat(slot), cmd.cfg.tz) if len(slot) <= 5 \
                else datetime.fromisoformat(slot)
        except ValueError:
            raise BadRequest("slot must be a slot's start time HH:MM", "invalid_slot") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=cmd.cfg.tz)
        for s_start, s_end in slots_of(cmd.cfg.hours.intervals_on(day), cfg.slot_minutes):
            if s_start == start:
                if check_in_window(s_start, cfg.check_in_before_min, cfg.check_in_after_min)[1] <= cmd.now:
                    raise Conflict("this slot is over", "booking_closed", reason="slot_over")
                if self._slot_taken(cmd, f, day).get(s_start, 0) >= self.slot_capacity(cmd, f):
                    raise Conflict("this slot is full", "slot_full")
                return s_start, s_end
        raise BadRequest("there is no such slot that day", "invalid_slot")

    # ---- commands -----------------------------------------------------------------------------
    def book(self, centre_id: int, field_code, day=None, slot=None, citizen_key: str | None = None,
             request_id=None, base_url: str | None = None):
        """Book an online number for `day` (default today): its number comes from the field's daily
        sequence, shared with the kiosks. → Result(Booking dict), `created` False on a replay."""
        if day is not None:
            if not isinstance(day, str):
                raise BadRequest("day must be a date YYYY-MM-DD", "invalid_day")
            try:
                day = date.fromisoformat(day)
            except ValueError:
                raise BadRequest("day must be a date YYYY-MM-DD", "invalid_day") from None
        if slot is not None and (not isinstance(slot, str) or not 4 <= len(slot) <= 40):
            raise BadRequest("slot must be a slot's start time HH:MM", "invalid_slot")
        if request_id is not None and (not isinstance(request_id, str) or not 1 <= len(request_id) <= 100):
            raise BadRequest("request_id must be a string of 1 to 100 characters", "invalid_request_id")
        body_hash = hashlib.sha256(json.dumps([field_code, str(day), slot, citizen_key]).encode()).hexdigest()

        def run(cmd):
            if request_id is not None:
                prior = cmd.s.execute(select(Booking).where(Booking.centre_id == cmd.centre.id,
                                                            Booking.request_id == request_id)).scalar_one_or_none()
                if prior is not None:
                    if prior.request_hash != body_hash:
                        raise Conflict("request_id was used with another request", "request_id_reused")
                    return self.booking_dict(cmd, prior), False
            f = self.engine._field(cmd, field_code)
            the_day = day or cmd.today
            why = self._why_closed(cmd, f, the_day)
            if why is not None:
                raise Conflict("this field cannot be booked online for that day now", "booking_closed", reason=why)
            cfg = cmd.cfg.booking
            cap = self.engine.daily_cap(f)
            if slot is not None:
                return self._book_slot(cmd, f, the_day, slot, citizen_key, request_id, body_hash)
            if self._online_taken(cmd, [f.id], [the_day]).get((f.id, the_day), 0) >= online_cap(cap, f.code, cfg):
                raise Conflict("no online numbers left for this field that day", "daily_cap_reached",
                               reason="online_cap_reached")
            self._check_citizen(cmd, the_day, citizen_key)
            n = self.engine._next_number(cmd, f, the_day)
            if n > cap:  # the transaction rolls back, so the count stays at the cap
                raise Conflict("no numbers left that day for this field", "daily_cap_reached",
                               reason="daily_cap_reached")
            token = secrets.token_urlsafe(18)
            issued_at = cmd.now
            if the_day > cmd.today:  # valid from the day's opening (waits are measured from there)
                issued_at = cmd.cfg.hours.intervals_on(the_day)[0][0]
            t = Ticket(centre_id=cmd.centre.id, field_id=f.id, issue_field_id=f.id, day=the_day, seq_in_day=n,
                       number=f.format_number(n), priority=None, channel="online", status="waiting",
                       issued_at=issued_at, queue_pos=cmd.next_pos(), track_token=token)
            t.field = f
            cmd.s.add(t)
            cmd.s.flush()
            b = Booking(centre_id=cmd.centre.id, code=self._free_code(cmd), kind="number", field_id=f.id,
                        day=the_day, status="booked", ticket_id=t.id, track_token=token, citizen_key=citizen_key,
                        request_id=request_id, request_hash=body_hash, created_at=cmd.now)
            b.field, b.ticket = f, t
            cmd.s.add(b)
            cmd.s.flush()
            bd = self.booking_dict(cmd, b)
            cmd.emit("ticket.issued", {"ticket": cmd.ticket_dict(t), "device_id": None},
                     log={"ticket": t, "data": {"channel": "online", "number": t.number, "booking": b.code}})
            cmd.emit("booking.created", {"booking": bd})
            if the_day == cmd.today:
                self.engine._queue_changed(cmd, f.id)
            return bd

        return self.engine._run(centre_id, run, base_url)

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

    def _book_slot(self, cmd, f: Field, day: date, slot: str, citizen_key, request_id, body_hash) -> dict:
        start, end = self._slot(cmd, f, day, slot)
        self._check_citizen(cmd, day, citizen_key)
        b = Booking(centre_id=cmd.centre.id, code=self._free_code(cmd), kind="appointment", field_id=f.id, day=day,
                    slot_start=start, slot_end=end, status="booked", track_token=secrets.token_urlsafe(18),
                    citizen_key=citizen_key, request_id=request_id, request_hash=body_hash, created_at=cmd.now)
        b.field = f
        cmd.s.add(b)
        cmd.s.flush()
        bd = self.booking_dict(cmd, b)
        cmd.emit("booking.created", {"booking": bd})
        return bd

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

    def _check_in_appointment(self, cmd, b: Booking, device_id, officer_id) -> dict:
        """An appointment's ticket is made now: within the window ahead of later walk-ins, late at the end."""
        cfg = cmd.cfg.booking
        opens, closes = check_in_window(b.slot_start, cfg.check_in_before_min, cfg.check_in_after_min)
        if cmd.now < opens:
            raise Conflict("it is too early to check in for this appointment", "too_early", day=b.day.isoformat())
        due = self.lapse_due(cmd, b, None)
        if b.day < cmd.today or (due is not None and cmd.now >= due):
            raise Conflict("this booking has lapsed", "lapsed")
        f = b.field
        n = self.engine._next_number(cmd, f)
        if n > self.engine.daily_cap(f):
            raise Conflict("no numbers left today for this field", "daily_cap_reached", reason="daily_cap_reached")
        on_time = cmd.now <= closes
        pos = cmd.next_pos()
        if on_time:
            waiting = cmd.s.execute(select(Ticket.issued_at, Ticket.queue_pos, Ticket.channel).where(
                Ticket.centre_id == cmd.centre.id, Ticket.status == "waiting", Ticket.day == cmd.today,
                Ticket.field_id == f.id, Ticket.priority.is_(None), Ticket.transferred.is_(False),
                Ticket.transfer_counter_id.is_(None))).all()
            pos = appointment_queue_pos(b.slot_start, cmd.now, [tuple(r) for r in waiting], pos)
        t = Ticket(centre_id=cmd.centre.id, field_id=f.id, issue_field_id=f.id, day=cmd.today, seq_in_day=n,
                   number=f.format_number(n), priority=None, channel="appointment", status="waiting",
                   issued_at=cmd.now, queue_pos=pos, track_token=b.track_token, device_id=device_id)
        t.field = f
        cmd.s.add(t)
        cmd.s.flush()
        b.ticket_id, b.ticket = t.id, t
        b.status = "checked_in"
        b.checked_in_at = cmd.now
        b.checked_in_by = "kiosk" if device_id is not None else "staff"
        cmd.s.flush()
        td = cmd.ticket_dict(t)
        bd = self.booking_dict(cmd, b)
        data = {"channel": "appointment", "number": t.number, "booking": b.code, "on_time": on_time}
        cmd.emit("ticket.issued", {"ticket": td, "device_id": device_id},
                 log={"ticket": t, "device_id": device_id, "officer_id": officer_id, "data": data})
        cmd.emit("booking.checked_in", {"booking": bd, "ticket": td, "device_id": device_id, "on_time": on_time})
        self.engine._queue_changed(cmd, f.id)
        return {**td, "booking": bd, "on_time": on_time}

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

    def reschedule(self, centre_id: int, token, day=None, slot=None, base_url: str | None = None):
        """Move a booked appointment to another slot (same field; the citizen's limit still holds)."""
        if not isinstance(slot, str) or not 4 <= len(slot) <= 40:
            raise BadRequest("slot must be a slot's start time HH:MM", "invalid_slot")
        try:
            new_day = date.fromisoformat(day) if day else None
        except (TypeError, ValueError):
            raise BadRequest("day must be a date YYYY-MM-DD", "invalid_day") from None

        def run(cmd):
            b = self._by_token(cmd, token)
            if b.kind != "appointment" or b.status != "booked":
                raise Conflict("only a booked appointment can be moved", "ticket_not_waiting")
            the_day = new_day or b.day
            why = self._why_closed(cmd, b.field, the_day)
            if why is not None:
                raise Conflict("this field cannot be booked for that day now", "booking_closed", reason=why)
            old = (b.day, b.slot_start)
            b.slot_start = b.slot_end = None  # not counted in its old slot while checking the new one
            cmd.s.flush()
            start, end = self._slot(cmd, b.field, the_day, slot)
            self._check_citizen(cmd, the_day, b.citizen_key, but=b.id)
            b.day, b.slot_start, b.slot_end = the_day, start, end
            bd = self.booking_dict(cmd, b)
            cmd.emit("booking.rescheduled", {"booking": bd, "from": {"day": old[0].isoformat(),
                                                                     "start": cmd.iso(old[1])}})
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

    # ---- reads --------------------------------------------------------------------------------
    def by_token(self, centre_id: int, token: str, base_url: str | None = None) -> dict | None:
        """The booking behind a tracking token (None when the token is a plain ticket's)."""
        def run(cmd):
            b = cmd.s.execute(select(Booking).where(Booking.track_token == token,
                                                    Booking.centre_id == cmd.centre.id)).scalar_one_or_none()
            if b is None:
                return None
            d = self.booking_dict(cmd, b)
            d["centre_name"] = cmd.centre.name
            d["today"] = cmd.today.isoformat()
            d["can_cancel"] = b.status == "booked" and (b.ticket is None or b.ticket.status == "waiting")
            d["other_slots"] = self.free_slots(cmd, b.field, b.day) if (
                b.kind == "appointment" and b.status == "booked" and self._why_closed(cmd, b.field, b.day) is None) else []
            d["ticket"] = cmd.ticket_dict(b.ticket, public=True) if b.ticket is not None else None
            return d

        if not isinstance(token, str) or len(token) > 64:
            return None
        return self.engine._read(centre_id, run, base_url)

    def day_summary(self, centre_id: int, day: date | None = None) -> dict:
        """Bookings of a day per field and status (the manager's view), with the online lapse rate."""
        def run(cmd):
            the_day = day or cmd.today
            rows = cmd.s.execute(select(Field.code, Field.name, Booking.kind, Booking.status, func.count(Booking.id))
                                 .join(Field, Field.id == Booking.field_id)
                                 .where(Booking.centre_id == cmd.centre.id, Booking.day == the_day)
                                 .group_by(Field.code, Field.name, Booking.kind, Booking.status)
                                 .order_by(Field.code)).all()
            fields: dict[str, dict] = {}
            for code, name, kind, status, n in rows:
                f = fields.setdefault(code, {"code": code, "name": name, "number": dict.fromkeys(BOOKING_STATUSES, 0),
                                             "appointment": dict.fromkeys(BOOKING_STATUSES, 0)})
                f[kind][status] += n
            total = {k: sum(f["number"][k] + f["appointment"][k] for f in fields.values()) for k in BOOKING_STATUSES}
            decided = total["checked_in"] + total["lapsed"]
            cfg = cmd.cfg.booking
            on_time = late = 0  # appointments' punctuality: checked in within their window, or later
            for start, at in cmd.s.execute(select(Booking.slot_start, Booking.checked_in_at).where(
                    Booking.centre_id == cmd.centre.id, Booking.day == the_day, Booking.kind == "appointment",
                    Booking.status == "checked_in")):
                if at <= check_in_window(start, cfg.check_in_before_min, cfg.check_in_after_min)[1]:
                    on_time += 1
                else:
                    late += 1
            return {"day": the_day.isoformat(), "fields": list(fields.values()), "total": total,
                    "lapse_rate": round(total["lapsed"] / decided, 3) if decided else None,
                    "appointments": {"on_time": on_time, "late": late,
                                     "on_time_share": round(on_time / (on_time + late), 3) if on_time + late else None}}

        return self.engine._read(centre_id, run)

    def centre_of_token(self, token) -> int | None:
        if not isinstance(token, str) or len(token) > 64:
            return None
        with self.engine.db.read() as s:
            return s.execute(select(Booking.centre_id).where(Booking.track_token == token)).scalar_one_or_none()


def _not_cancelled_by_citizen():
    """Bookings whose number the citizen gave back (tracking page) no longer count."""
    return or_(Ticket.id.is_(None), Ticket.status != "cancelled", Ticket.cancel_reason.is_(None),
               Ticket.cancel_reason != "citizen")
