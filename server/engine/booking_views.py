"""What the remote channel shows: the fields and days that can be booked, a booking's page, and the
manager's summary of a day.

A mixin of `BookingCommands` (`server/engine/booking.py`), which gives it `engine`, `booking_dict`,
`_why_closed`, `_online_taken` and, through `AppointmentCommands`, `free_slots`.
"""
from __future__ import annotations

from datetime import date, timedelta

from layso.server.domain.booking import check_in_window, online_cap
from layso.server.storage.models import Booking, DaySequence, Field
from sqlalchemy import func, select

BOOKING_STATUSES = ("booked", "checked_in", "lapsed", "cancelled")


class BookingViews:
    """The remote channel's reads, reached through `QueueEngine.booking`."""

    # ---- what can be booked -------------------------------------------------------------------
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

    # ---- a booking, a day -----------------------------------------------------------------------
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
