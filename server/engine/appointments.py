"""Appointments of the remote channel: a place in a time slot, booked, checked in, moved.

A mixin of `BookingCommands` (`server/engine/booking.py`), which gives it `engine`, `booking_dict`,
`lapse_due`, `_why_closed`, `_check_citizen`, `_free_code` and `_by_token`.

An appointment (kind `appointment`) is a place in a time slot; its ticket (channel `appointment`,
the booking's tracking token) is made at check-in. Within the check-in window it joins the queue
ahead of walk-ins issued after the slot's start (or after its check-in, if earlier:
`domain.booking.appointment_queue_pos`); a late
arrival gets an ordinary place at the end. The citizen may cancel or move it until then.
"""
from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta

from layso.server.domain.booking import appointment_queue_pos, check_in_window, slot_capacity, slots_of
from layso.server.errors import BadRequest, Conflict
from layso.server.storage.models import Booking, Field, Ticket
from sqlalchemy import func, select


class AppointmentCommands:
    """Slots and the commands on appointments, reached through `QueueEngine.booking`."""

    # ---- appointment slots ----------------------------------------------------------------------
    def slot_capacity(self, cmd, f: Field) -> int:
        cfg = cmd.cfg.booking
        counters = len(self.engine._counters_of(cmd, f.id))
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

    # ---- commands on appointments -------------------------------------------------------------
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
