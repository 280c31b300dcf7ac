"""Statistics of the remote channel over a range of local days, by field and in total: online numbers
(booked, checked in, lapsed, cancelled; lapse rate; no-show rate of their tickets) and appointments
(booked, on time, late, lapsed, cancelled; punctuality). The manager's statistics page and its
exports show them; /manage/remote shows one day of the same (engine/booking_views.day_summary).

Definitions (written once here, shown with the other statistic definitions):
- a booking counts in the day it was booked for (`Booking.day`), whatever day it was made;
- lapse rate = lapsed online numbers ÷ (checked in + lapsed) — cancelled and still booked ones are
  left out, as they were neither used nor lost;
- online no-show rate = online tickets (channel `online`) that ended the day `no_show` ÷ online
  tickets of the range — the contract's no-show, on the online channel;
- punctuality = appointments checked in within their slot's window (up to `check_in_after_min`
  after the slot's start, `domain/booking.check_in_window`) ÷ appointments checked in.
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.domain.booking import check_in_window
from layso.server.engine.context import Settings
from layso.server.storage.database import Database
from layso.server.storage.models import Booking, Centre, Field, Ticket
from sqlalchemy import func, select

STATUSES = ("booked", "checked_in", "lapsed", "cancelled")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _empty(code: str | None, name: str) -> dict:
    return {"key": code, "label": name, "number": dict.fromkeys(STATUSES, 0), "online_tickets": 0,
            "online_no_show": 0, "appointment": dict.fromkeys(STATUSES, 0), "on_time": 0, "late": 0}


def _finish(row: dict) -> dict:
    n, a = row["number"], row["appointment"]
    row["lapse_rate"] = _share(n["lapsed"], n["checked_in"] + n["lapsed"])
    row["online_no_show_rate"] = _share(row["online_no_show"], row["online_tickets"])
    row["punctuality"] = _share(row["on_time"], row["on_time"] + row["late"])
    row["booked"] = sum(n.values()) + sum(a.values())
    return row


def remote_figures(db: Database, centre_id: int, d_from: date, d_to: date) -> dict:
    """{"fields": [row per field with bookings], "total": row}; each row: counts of online numbers and
    appointments by status, online tickets and their no-shows, appointments on time and late, and the
    rates (shares from 0 to 1, None when there is nothing to divide)."""
    with db.read() as s:
        cfg = Settings.of(s.get(Centre, centre_id)).booking
        names = dict(s.execute(select(Field.id, Field.code).where(Field.centre_id == centre_id)).all())
        labels = dict(s.execute(select(Field.code, Field.name).where(Field.centre_id == centre_id)).all())
        rows: dict[str, dict] = {}

        def row(field_id: int) -> dict:
            code = names[field_id]
            return rows.setdefault(code, _empty(code, labels[code]))

        in_range = (Booking.centre_id == centre_id, Booking.day >= d_from, Booking.day <= d_to)
        for field_id, kind, status, n in s.execute(
                select(Booking.field_id, Booking.kind, Booking.status, func.count(Booking.id))
                .where(*in_range).group_by(Booking.field_id, Booking.kind, Booking.status)):
            row(field_id)[kind][status] += n
        for field_id, start, at in s.execute(select(Booking.field_id, Booking.slot_start, Booking.checked_in_at).where(
                *in_range, Booking.kind == "appointment", Booking.status == "checked_in")):
            on_time = at <= check_in_window(start, cfg.check_in_before_min, cfg.check_in_after_min)[1]
            row(field_id)["on_time" if on_time else "late"] += 1
        for field_id, no_show, n in s.execute(
                select(Ticket.field_id, Ticket.status == "no_show", func.count(Ticket.id))
                .where(Ticket.centre_id == centre_id, Ticket.channel == "online", Ticket.day >= d_from,
                       Ticket.day <= d_to).group_by(Ticket.field_id, Ticket.status == "no_show")):
            r = row(field_id)
            r["online_tickets"] += n
            r["online_no_show"] += n if no_show else 0
    total = _empty(None, "")
    for r in rows.values():
        for kind in ("number", "appointment"):
            for k in STATUSES:
                total[kind][k] += r[kind][k]
        for k in ("online_tickets", "online_no_show", "on_time", "late"):
            total[k] += r[k]
    return {"fields": [_finish(rows[k]) for k in sorted(rows)], "total": _finish(total),
            "check_in_after_min": cfg.check_in_after_min}


# ---- the table on the statistics page and in its files -------------------------------------------------
# (path in a row, header, kind): kind "n" a count, "pct" a share shown as a percentage
REMOTE_FIGURES = (
    (("number", "checked_in"), _l("Online numbers checked in"), "n"),
    (("number", "lapsed"), _l("Online numbers lapsed"), "n"),
    (("number", "cancelled"), _l("Online numbers cancelled"), "n"),
    (("lapse_rate",), _l("Online lapse rate (%)"), "pct"),
    (("online_tickets",), _l("Online tickets"), "n"),
    (("online_no_show_rate",), _l("Online no-show rate (%)"), "pct"),
    (("appointment", "checked_in"), _l("Appointments checked in"), "n"),
    (("on_time",), _l("Appointments on time"), "n"),
    (("late",), _l("Appointments late"), "n"),
    (("appointment", "lapsed"), _l("Appointments lapsed"), "n"),
    (("punctuality",), _l("Appointment punctuality (%)"), "pct"),
)
REMOTE_DEFINITIONS = (
    _l("Remote channel: a booking counts in the day it was booked for."),
    _l("Online lapse rate: online numbers that lapsed (not checked in by the set hour, or not there when "
       "called), over those checked in or lapsed."),
    _l("Online no-show rate: online tickets that ended the day as absent, over all online tickets."),
    _l("Appointment punctuality: appointments checked in by the end of their check-in window (%(after)s min "
       "after the slot's start), over appointments checked in; later ones became ordinary tickets."),
)


def _value(row: dict, path: tuple):
    for p in path:
        row = row[p]
    return row


def remote_table(remote: dict) -> tuple[list[str], list[list]]:
    """Headers and rows (per field, then the total) of the remote channel's figures."""
    from layso.server.queries.export import cell
    headers = [_("Code"), _("Field")] + [str(h) for _p, h, _k in REMOTE_FIGURES]
    rows = [[r["key"], r["label"]] + [cell(kind, _value(r, path)) for path, _h, kind in REMOTE_FIGURES]
            for r in remote["fields"]]
    total = remote["total"]
    rows.append([None, _("All bookings")] + [cell(kind, _value(total, path)) for path, _h, kind in REMOTE_FIGURES])
    return headers, rows


def remote_kinds() -> list[str]:
    return ["key", "label"] + [k for _p, _h, k in REMOTE_FIGURES]


def remote_definitions(after_min: int) -> list[str]:
    return [str(d) % {"after": after_min} if "%(" in str(d) else str(d) for d in REMOTE_DEFINITIONS]
