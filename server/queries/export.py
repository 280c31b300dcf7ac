"""Exports for managers and the province: the statistics as CSV or XLSX (the same figures as the
statistics page, from `stats_table`), and the raw ticket-level list.

Durations are minutes with one decimal and shares percentages with one decimal, on the page and in
the files alike. CSV is UTF-8 with a byte-order mark (so spreadsheet programs read Vietnamese
right) and '.' as the decimal mark; XLSX has a summary sheet (range, totals, definitions, priority
rule) and one sheet per group. Texts are translated with Flask-Babel: inside a request the page's
language applies; elsewhere (the `layso export` command) `translated(lang)` provides one.
"""
from __future__ import annotations

import csv
import re
import io
from contextlib import contextmanager
from datetime import date, datetime
from importlib import resources
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

from flask import Flask, has_app_context
from flask_babel import Babel, force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server import clock
from layso.server.queries.stats import GROUPS, compute_groups
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Field, Rating, Ticket, User
from sqlalchemy import select
from sqlalchemy.orm import aliased

GROUP_NAMES = {"field": _l("Field"), "counter": _l("Counter"), "officer": _l("Officer"), "hour": _l("Hour of day"),
               "day": _l("Day")}
GROUP_PLURALS = {"field": _l("By field"), "counter": _l("By counter"), "officer": _l("By officer"),
                 "hour": _l("By hour of day"), "day": _l("By day")}
# (row key, header, kind): kind "n" a count, "min" seconds shown as minutes, "pct" a share shown as %
FIGURES = (
    ("issued", _l("Issued"), "n"), ("served", _l("Served"), "n"), ("no_show", _l("No-show"), "n"),
    ("wait_mean_s", _l("Wait, mean (min)"), "min"), ("wait_median_s", _l("Wait, median (min)"), "min"),
    ("wait_p90_s", _l("Wait, 90th percentile (min)"), "min"),
    ("service_mean_s", _l("Service, mean (min)"), "min"), ("service_median_s", _l("Service, median (min)"), "min"),
    ("service_p90_s", _l("Service, 90th percentile (min)"), "min"),
    ("within_target_share", _l("Served within the target wait (%)"), "pct"),
    ("rated", _l("Rated"), "n"), ("satisfied_share", _l("Satisfied (%)"), "pct"),
)
DEFINITIONS = (
    _l("Wait: from the time the ticket was issued to its first call."),
    _l("Service: from the last call to the completion (served tickets)."),
    _l("No-show: a ticket that ended the day as absent after being called."),
    _l("Served within the target wait: share of called tickets whose wait was at most the target "
       "(the field's own target, else the centre's)."),
    _l("Satisfaction rate: share of ratings in the scale's top levels (score %(min)s or more), over rated tickets."),
    _l("Median and 90th percentile by the nearest-rank method: the value at rank ⌈p/100 × n⌉ of the sorted values."),
    _l("Days are local days in the centre's time zone (%(tz)s); hours are the local hour a ticket was issued."),
    _l("A transferred ticket counts in the field it ended in; by counter and officer, where it was last called "
       "(tickets never called are not counted there)."),
)


def minutes(seconds: int | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def cell(kind: str, value):
    if kind == "min":
        return minutes(value)
    if kind == "pct":
        return percent(value)
    return value


def level_header(level: dict) -> str:
    return f"{level['label']} ({level['score']})"


def stats_table(result: dict, group: str) -> tuple[list[str], list[list]]:
    """Headers and rows of one group, as shown on the page and written to the files.

    `result` is compute_groups' answer; the last row is the total over all tickets in the range.
    """
    levels = result["rating_levels"]
    headers = [_("Code"), str(GROUP_NAMES[group])] + [str(h) for _k, h, _kind in FIGURES] + \
        [level_header(lv) for lv in levels]

    def line(key, label, row):
        counts = row.get("rating_counts", {})
        return [key, label] + [cell(kind, row[k]) for k, _h, kind in FIGURES] + \
            [counts.get(str(lv["score"]), 0) for lv in levels]

    rows = [line(r["key"], r["label"], r) for r in result["groups"][group]]
    rows.append(line(None, _("All tickets"), result["total"]))
    return headers, rows


def definitions(result: dict, timezone: str) -> list[str]:
    return [str(d) % {"min": result["satisfied_min"], "tz": timezone} if "%(" in str(d) else str(d)
            for d in DEFINITIONS]


def priority_rule_text(settings: dict) -> str:
    p = settings.get("priority", {})
    names = ", ".join(c["name"] for c in p.get("categories", []))
    if p.get("rule", "interleave") == "strict":
        rule = _("Priority tickets are always called first, in the order they were issued.")
    else:
        rule = _("At each counter, one priority ticket is called after every %(n)s normal tickets while both wait, "
                 "so nobody waits forever; priority tickets keep their own order.",
                 n=p.get("normal_per_priority", 2))
    parts = [_("Transferred tickets addressed to a counter or its fields are called first."), rule]
    if names:
        parts.append(_("Priority groups: %(names)s.", names=names))
    parts.append(_("A dedicated priority counter calls only priority tickets."))
    return " ".join(parts)


# ---- files ------------------------------------------------------------------------------------------
# Text that Excel cannot hold (control characters: openpyxl refuses the whole file) is dropped, and a
# text cell that a spreadsheet would read as a formula (=, +, -, @, tab, carriage return first) is
# kept as text by a leading apostrophe (OWASP "CSV injection"), in XLSX and CSV alike.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """`value` as a spreadsheet may hold it safely: text without control characters, never a formula."""
    if not isinstance(value, str):
        return value
    value = _CONTROL.sub("", value)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_row(values: Iterable) -> list:
    return [safe_cell(v) for v in values]


def csv_bytes(headers: list[str], rows: Iterable[list], leading: list[list] | None = None) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    for line in leading or []:
        w.writerow(safe_row(line))
    w.writerow(safe_row(headers))
    for r in rows:
        w.writerow(safe_row("" if v is None else v for v in r))
    return out.getvalue().encode("utf-8-sig")


def _sheet(ws, headers: list[str], rows: Iterable[list], kinds: list[str] | None = None) -> None:
    from openpyxl.styles import Alignment, Font  # loaded on the first export, not by every server process
    from openpyxl.utils import get_column_letter
    ws.append(safe_row(headers))
    for c in ws[1]:
        c.font = Font(bold=True)
        c.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "C2"
    for r in rows:
        ws.append(safe_row(r))
    if kinds:
        for i, kind in enumerate(kinds, start=1):
            if kind in ("min", "pct"):
                for (c,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                    c.number_format = "0.0"
    widths = [max(10, min(40, len(str(h)) // 2 + 4)) for h in headers]
    widths[1] = 34
    for i, wdt in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = wdt
    ws.row_dimensions[1].height = 48


def stats_workbook(result: dict, groups: list[str], centre_name: str, timezone: str, settings: dict,
                   remote: dict | None = None) -> bytes:
    """The statistics workbook: a summary sheet, one sheet per group, and the remote channel's sheet
    when `remote` (remote_stats.remote_figures) has bookings."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from layso.server.queries.remote_stats import remote_definitions, remote_kinds, remote_table
    with_remote = remote is not None and remote["total"]["booked"] > 0
    wb = Workbook()
    summary = wb.active
    summary.title = _("Summary")[:31]
    summary.append([safe_cell(centre_name)])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([_("Statistics from %(start)s to %(end)s", start=_dmy(result["from"]), end=_dmy(result["to"]))])
    summary.append([_("Made at %(at)s", at=clock.now().astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y %H:%M"))])
    summary.append([])
    tables = ([stats_table(result, groups[0])] if groups else []) + ([remote_table(remote)] if with_remote else [])
    for headers, rows in tables:  # the totals, one a line
        for h, v in list(zip(headers, rows[-1]))[2:]:
            summary.append(safe_row([h, v]))
    summary.append([])
    summary.append([_("Definitions")])
    summary.cell(summary.max_row, 1).font = Font(bold=True)
    for d in definitions(result, timezone) + (remote_definitions(remote["check_in_after_min"]) if with_remote else []):
        summary.append([d])
    summary.append([_("Priority rule")])
    summary.cell(summary.max_row, 1).font = Font(bold=True)
    summary.append([priority_rule_text(settings)])
    summary.column_dimensions["A"].width = 48
    summary.column_dimensions["B"].width = 14
    kinds = ["key", "label"] + [k for _k, _h, k in FIGURES] + ["n"] * len(result["rating_levels"])
    for g in groups:
        ws = wb.create_sheet(str(GROUP_PLURALS[g])[:31])
        h, r = stats_table(result, g)
        _sheet(ws, h, r, kinds)
    if with_remote:
        _sheet(wb.create_sheet(_("Remote channel")[:31]), *remote_table(remote), remote_kinds())
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _dmy(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def export_stats(db: Database, centre_id: int, d_from: date, d_to: date, fmt: str,
                 group: str = "all") -> tuple[str, bytes]:
    """(file name, content) of the statistics: one group, or every group ("all": XLSX sheets, or one
    CSV with a first column naming the group), or "remote" (the remote channel by field); every
    XLSX also has the remote channel's sheet when the range has bookings."""
    from layso.server.queries.remote_stats import remote_figures, remote_table
    groups = list(GROUPS) if group == "all" else [] if group == "remote" else [group]
    result = compute_groups(db, centre_id, d_from, d_to, groups)
    remote = remote_figures(db, centre_id, d_from, d_to)
    with db.read() as s:
        centre = s.get(Centre, centre_id)
        name, tz, settings = centre.name, centre.timezone, centre.settings
    stem = f"layso-thong-ke-{group}-{d_from.isoformat()}-{d_to.isoformat()}"
    if fmt == "xlsx":
        return f"{stem}.xlsx", stats_workbook(result, groups, name, tz, settings, remote)
    if fmt != "csv":
        raise ValueError(fmt)
    if group == "remote":  # the remote channel's figures by field
        return f"{stem}.csv", csv_bytes(*remote_table(remote))
    if len(groups) == 1:
        headers, rows = stats_table(result, group)
        return f"{stem}.csv", csv_bytes(headers, rows)
    lines, headers = [], []
    for g in groups:
        headers, rows = stats_table(result, g)
        lines += [[g, *r] for r in rows]
    headers = [_("Grouped by")] + [_("Code"), _("Name")] + headers[2:]
    return f"{stem}.csv", csv_bytes(headers, lines)


# ---- ticket-level export ------------------------------------------------------------------------------
# The ticket list names codes as people read them (a manager's spreadsheet shows "Vắng mặt", not no_show).
TICKET_STATUSES = {"waiting": _l("Waiting"), "called": _l("Called"), "done": _l("Served"),
                   "no_show": _l("Absent (no-show)"), "cancelled": _l("Cancelled")}
CHANNELS = {"kiosk": _l("Kiosk"), "staff": _l("At the counter"), "online": _l("Online number"),
            "appointment": _l("Appointment")}
CANCEL_REASONS = {"day_closed": _l("Still waiting at closing time"), "citizen": _l("Cancelled by the citizen"),
                  "lapsed": _l("Not used in time")}
RATING_SOURCES = {"panel": _l("Counter panel"), "link": _l("Phone (tracking link)")}


def named(table: dict, code) -> str | None:
    """The people's name of a code from `table`; the code itself when unknown, None for None."""
    if code is None:
        return None
    text = table.get(code)
    return str(text) if text is not None else str(code)


def ticket_headers() -> list[str]:
    return [_("Ticket id"), _("Day"), _("Number"), _("Field code"), _("Field"), _("Agency"), _("Issued in field"),
            _("Priority"), _("Channel"), _("Status"), _("Cancel reason"), _("Issued at"), _("First called at"),
            _("Last called at"), _("Completed at"), _("Wait (s)"), _("Service (s)"), _("Counter"),
            _("Officer (username)"), _("Officer"), _("Skips"), _("Calls"), _("Dossier code"), _("Rating"),
            _("Rated through")]


def ticket_rows(db: Database, centre_id: int, d_from: date, d_to: date, batch: int = 5000) -> Iterator[list]:
    """One list per ticket of the range, in order of issue; times are local (the centre's zone).

    Pages through the tickets by id, each page in a short read of its own: a slow download never
    holds a database snapshot open (SQLite's WAL could not checkpoint; PostgreSQL would keep it)."""
    with db.read() as s:
        centre = s.get(Centre, centre_id)
        tz = ZoneInfo(centre.timezone)
        from layso.server.engine.context import Settings
        categories = Settings.of(centre).categories  # priority codes by their names
        fields = {f.id: f for f in s.execute(select(Field).where(Field.centre_id == centre_id)).scalars()}
        counters = {c.id: c.number for c in s.execute(select(Counter).where(Counter.centre_id == centre_id)).scalars()}
        users = {u.id: u for u in s.execute(select(User).where(User.centre_id == centre_id)).scalars()}
    r = aliased(Rating)
    q = (select(Ticket.id, Ticket.day, Ticket.number, Ticket.field_id, Ticket.issue_field_id, Ticket.priority,
                Ticket.channel, Ticket.status, Ticket.cancel_reason, Ticket.issued_at, Ticket.first_called_at,
                Ticket.called_at, Ticket.completed_at, Ticket.counter_id, Ticket.officer_id, Ticket.skips,
                Ticket.calls, Ticket.dossier_code, r.score, r.source)
         .outerjoin(r, r.ticket_id == Ticket.id)
         .where(Ticket.centre_id == centre_id, Ticket.day >= d_from, Ticket.day <= d_to).order_by(Ticket.id)
         .limit(batch))

    def local(dt):
        return dt.astimezone(tz).replace(tzinfo=None) if dt else None

    last_id = 0
    while True:
        with db.read() as s:
            page = s.execute(q.where(Ticket.id > last_id)).all()
        for t in page:
            f = fields.get(t.field_id)
            u = users.get(t.officer_id)
            wait = round((t.first_called_at - t.issued_at).total_seconds()) if t.first_called_at else None
            service = round((t.completed_at - t.called_at).total_seconds()) \
                if t.status == "done" and t.completed_at and t.called_at else None
            yield [t.id, t.day, t.number, f.code if f else None, f.name if f else None, f.agency if f else None,
                   fields[t.issue_field_id].code if t.issue_field_id in fields else None,
                   named(categories, t.priority), named(CHANNELS, t.channel), named(TICKET_STATUSES, t.status),
                   named(CANCEL_REASONS, t.cancel_reason), local(t.issued_at), local(t.first_called_at), local(t.called_at),
                   local(t.completed_at), wait, service, counters.get(t.counter_id),
                   u.username if u else None, (u.full_name or u.username) if u else None, t.skips, t.calls,
                   t.dossier_code, t.score, named(RATING_SOURCES, t.source)]
        if len(page) < batch:
            return
        last_id = page[-1].id


def tickets_file_name(d_from: date, d_to: date, fmt: str) -> str:
    return f"layso-phieu-{d_from.isoformat()}-{d_to.isoformat()}.{fmt}"


def ticket_csv_chunks(db: Database, centre_id: int, d_from: date, d_to: date, rows_per_chunk: int = 2000) -> Iterator[bytes]:
    """The ticket list as CSV (UTF-8 with BOM), in chunks: a year streams without being held in memory."""
    def text(v):
        if isinstance(v, datetime):
            return v.isoformat(sep=" ", timespec="seconds")
        if isinstance(v, date):
            return v.isoformat()
        return "" if v is None else v

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(safe_row(ticket_headers()))
    first = True
    for n, r in enumerate(ticket_rows(db, centre_id, d_from, d_to), start=1):
        w.writerow(safe_row(text(v) for v in r))
        if n % rows_per_chunk == 0:
            yield out.getvalue().encode("utf-8-sig" if first else "utf-8")
            first = False
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8-sig" if first else "utf-8")


def export_tickets(db: Database, centre_id: int, d_from: date, d_to: date, fmt: str) -> tuple[str, bytes]:
    name = tickets_file_name(d_from, d_to, fmt)
    if fmt == "csv":
        return name, b"".join(ticket_csv_chunks(db, centre_id, d_from, d_to))
    if fmt != "xlsx":
        raise ValueError(fmt)
    headers = ticket_headers()
    rows = ticket_rows(db, centre_id, d_from, d_to)
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Tickets")[:31])
    ws.append(safe_row(headers))
    for r in rows:
        ws.append(safe_row(r))
    buf = io.BytesIO()
    wb.save(buf)
    return name, buf.getvalue()


# ---- translations outside a request ------------------------------------------------------------------
@contextmanager
def translated(lang: str = "vi"):
    """Flask-Babel texts in `lang` for code that runs outside the web application (the CLI)."""
    if has_app_context():
        with force_locale(lang):
            yield
        return
    app = Flask("layso.export")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(resources.files("layso").joinpath("translations"))
    Babel(app, locale_selector=lambda: lang)
    with app.app_context(), app.test_request_context(), force_locale(lang):
        yield
