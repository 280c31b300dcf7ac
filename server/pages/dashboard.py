"""The managers' pages: the live view of the centre and the statistics with their downloads.

GET /manage            the live view: per field how many wait and the longest current wait; counters
                       open, paused or serving and by whom; devices online and their faults. The page
                       listens to Socket.IO with the session cookie and reloads its body
                       (GET /manage/live/body) when an event of the centre arrives.
GET /manage/stats      statistics for a range of local days by field, counter, officer, hour or day,
                       with charts (server-side SVG) beside the table, the definitions and the
                       priority rule; downloads through GET /manage/stats/export and
                       GET /manage/stats/tickets.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    g,
    render_template,
    request,
    stream_with_context,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server import clock
from layso.server.auth import Principal, role_required
from layso.server.domain.rating import is_satisfied
from layso.server.domain.statuses import CounterStatus
from layso.server.pages import wording
from layso.server.pages.signin import add_page_link
from layso.server.queries.export import (
    FIGURES,
    GROUP_PLURALS,
    definitions,
    export_stats,
    export_tickets,
    priority_rule_text,
    stats_table,
    ticket_csv_chunks,
    tickets_file_name,
)
from layso.server.queries.stats import GROUPS, compute_groups
from layso.server.queries import centre as centre_queries
from layso.server.queries.dashboard import live_figures
from layso.server.services import services

if TYPE_CHECKING:
    from layso.server.storage.models import Centre

bp = Blueprint("dashboard", __name__)
add_page_link("manager", "dashboard.live", _l("Live view of the centre"))
add_page_link("manager", "dashboard.stats", _l("Statistics and exports"))

MAX_RANGE_DAYS = 731
MAX_TICKET_XLSX_DAYS = 92  # a quarter; building a year's XLSX would hold a request for a minute
COUNTER_STATUS = {"open": _l("Open"), "paused": _l("Paused"), "closed": _l("Closed")}
PRINTER_FAULTS = {"paper_out": _l("Printer out of paper"), "cover_open": _l("Printer cover open"),
                  "offline": _l("Printer not connected")}
CLOSED_REASONS = {"field_closed": _l("Stopped by the administrator"), "outside_hours": _l("Outside working hours"),
                  "daily_cap_reached": _l("No numbers left today")}


def _centre(who: Principal) -> Centre:
    return centre_queries.centre(services().db, who.centre_id)


# ---- live view ----------------------------------------------------------------------------------------
def live_snapshot(who: Principal) -> dict:
    """What the live view shows, from the engine's state plus the longest waits and the devices."""
    svc = services()
    state = svc.engine.state(who.centre_id)
    tz = ZoneInfo(state["centre"]["timezone"])
    today = date.fromisoformat(state["centre"]["day"])
    now = datetime.fromisoformat(state["now"])
    live = live_figures(svc.db, who.centre_id, today, tz)
    fields = []
    for f in state["fields"]:
        since = live.oldest.get(f["code"])
        longest = int((now - since).total_seconds()) if since and f["waiting"] else None
        fields.append({**f, "longest_wait_s": longest, "oldest_at": since.isoformat() if longest is not None else None,
                       "over_target": longest is not None and longest > live.targets_s.get(f["code"],
                                                                                          live.default_target_s)})
    device_rows = live.devices
    for d in device_rows:
        d["faults"] = _device_faults(d)
    counters = state["counters"]
    return {
        "centre": state["centre"], "now": now, "fields": fields, "counters": counters, "devices": device_rows,
        "summary": {
            "waiting": sum(f["waiting"] for f in fields),
            "longest_wait_s": max((f["longest_wait_s"] or 0 for f in fields), default=0) or None,
            "serving": sum(1 for c in counters if c["ticket"]),
            **{str(status): sum(1 for c in counters if c["status"] == status) for status in CounterStatus},
            "devices_online": sum(1 for d in device_rows if d["online"]),
            "devices": len(device_rows),
            "faults": sum(1 for d in device_rows if d["faults"]),
        },
    }


def _device_faults(d: dict) -> list[str]:
    """What is wrong with a device, as the manager reads it."""
    faults = [] if d["online"] else [_("Not connected") if d["last_seen"] else _("Never connected yet")]
    if d["printer"] in PRINTER_FAULTS:
        faults.append(str(PRINTER_FAULTS[d["printer"]]))
    return faults


@bp.app_template_filter("layso_duration")
def duration(seconds: int | None) -> str:
    """"1 giờ 05 phút" / "12 phút" style, for waits people read at a glance."""
    if seconds is None:
        return "—"
    if 0 < seconds < 60:
        return _("under 1 min")  # "0 phút" would read as nobody waiting
    m = max(0, seconds) // 60
    if m >= 60:
        return _("%(h)s h %(m)02d min", h=m // 60, m=m % 60)
    return _("%(m)s min", m=m)


@bp.get("/manage")
@role_required("manager")
def live():
    who = g.who
    snap = live_snapshot(who)
    js_texts = {"h": _("%(h)s h %(m)02d min"), "m": _("%(m)s min"), "under": _("under 1 min")}  # formatted by live.js
    return render_template("dashboard_live.html", who=who, snap=snap, labels=_live_labels(), js_texts=js_texts,
                           rule=priority_rule_text(_centre(who).settings))


@bp.get("/manage/live/body")
@role_required("manager")
def live_body():
    return render_template("dashboard_live_body.html", snap=live_snapshot(g.who), labels=_live_labels())


def _live_labels() -> dict:
    return {"status": {k: str(v) for k, v in COUNTER_STATUS.items()},
            "roles": {k: str(v) for k, v in wording.DEVICE_ROLE_NAMES.items()},
            "closed": {k: str(v) for k, v in CLOSED_REASONS.items()}}


# ---- statistics ---------------------------------------------------------------------------------------
@dataclass
class StatsQuery:
    d_from: date
    d_to: date
    group: str
    error: str | None = None


def stats_query(today: date) -> StatsQuery:
    group = request.args.get("group", "field")
    if group not in GROUPS:
        group = "field"
    d_from, d_to = today.replace(day=1), today
    error = None
    try:
        if request.args.get("from"):
            d_from = date.fromisoformat(request.args["from"])
        if request.args.get("to"):
            d_to = date.fromisoformat(request.args["to"])
    except ValueError:
        error = _("Dates must be written as YYYY-MM-DD.")
        d_from, d_to = today.replace(day=1), today
    if d_from.year < 1970 or d_to.year > 2999:  # local days at the calendar's edges overflow
        error = _("Choose dates between 1970 and 2999, the end on or after the start, at most two years apart.")
        d_from, d_to = today.replace(day=1), today
    if d_to < d_from:
        error, d_from, d_to = _("The end of the range is before its start."), today.replace(day=1), today
    if (d_to - d_from).days > MAX_RANGE_DAYS:
        error, d_from = _("A range can cover at most two years."), d_to - timedelta(days=MAX_RANGE_DAYS)
    return StatsQuery(d_from, d_to, group, error)


def _today(centre: Centre) -> date:
    return clock.now().astimezone(ZoneInfo(centre.timezone)).date()  # the server's one clock


def quick_ranges(today: date) -> list[tuple[str, date, date]]:
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    week_start = today - timedelta(days=today.weekday())
    return [(_("Today"), today, today), (_("This week"), week_start, today), (_("This month"), month_start, today),
            (_("Last month"), last_month_end.replace(day=1), last_month_end),
            (_("This year"), today.replace(month=1, day=1), today)]


def number(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind in ("min", "pct"):
        return format_decimal(value, format="#,##0.0")
    return format_decimal(value, format="#,##0")


def charts(result: dict, group: str) -> dict:
    """Bars for the SVG charts: counts, waits (median and p90) and the satisfaction distribution."""
    rows = result["groups"][group]

    def short(r) -> str:
        if group == "hour":
            return f"{r['key']:02d}h"
        if group == "day":
            return date.fromisoformat(r["key"]).strftime("%d/%m")
        return r["label"]

    counts = [{"label": r["label"], "short": short(r), "values": [r["issued"], r["served"], r["no_show"]]}
              for r in rows]
    waits = [{"label": r["label"], "short": short(r),
              "values": [round((r["wait_median_s"] or 0) / 60, 1), round((r["wait_p90_s"] or 0) / 60, 1)]}
             for r in rows]
    total_counts = result["total"]["rating_counts"]
    rated = result["total"]["rated"]
    satisfaction = [{"label": lv["label"], "score": lv["score"], "n": total_counts.get(str(lv["score"]), 0),
                     "share": (total_counts.get(str(lv["score"]), 0) / rated) if rated else 0,
                     "satisfied": is_satisfied(lv["score"], result["satisfied_min"])} for lv in result["rating_levels"]]
    return {"counts": counts, "counts_max": max([v for r in counts for v in r["values"]] or [0]),
            "waits": waits, "waits_max": max([v for r in waits for v in r["values"]] or [0]),
            "satisfaction": satisfaction, "vertical": group in ("hour", "day")}


@bp.get("/manage/stats")
@role_required("manager")
def stats():
    who = g.who
    centre = _centre(who)
    today = _today(centre)
    q = stats_query(today)
    result = compute_groups(services().db, who.centre_id, q.d_from, q.d_to, (q.group,))
    headers, rows = stats_table(result, q.group)
    kinds = ["key", "label"] + [k for _k, _h, k in FIGURES] + ["n"] * len(result["rating_levels"])
    table = [[v if i < 2 else number(v, kinds[i]) for i, v in enumerate(r)] for r in rows]
    remote = remote_section(who.centre_id, q)
    return render_template(
        "dashboard_stats.html", who=who, q=q, result=result, headers=headers, table=table,
        total_row=result["total"], charts=charts(result, q.group),
        groups=[(g_, str(GROUP_PLURALS[g_])) for g_ in GROUPS], quick=quick_ranges(today),
        definitions=definitions(result, centre.timezone) + remote["definitions"],
        rule=priority_rule_text(centre.settings), number=number, centre=centre, remote=remote)


def remote_section(centre_id: int, q: StatsQuery) -> dict:
    """The remote channel's table (online numbers, appointments) of the range; empty without bookings."""
    from layso.server.queries.remote_stats import remote_definitions, remote_figures, remote_kinds, remote_table
    figures = remote_figures(services().db, centre_id, q.d_from, q.d_to)
    if not figures["total"]["booked"]:
        return {"headers": [], "table": [], "definitions": []}
    headers, rows = remote_table(figures)
    kinds = remote_kinds()
    return {"headers": headers, "table": [[v if i < 2 else number(v, kinds[i]) for i, v in enumerate(r)] for r in rows],
            "definitions": remote_definitions(figures["check_in_after_min"])}


def _range_or_400() -> StatsQuery | Response:
    q = stats_query(_today(_centre(g.who)))
    if q.error:
        return Response(q.error, status=400, mimetype="text/plain")
    return q


def _file(name: str, content, fmt: str) -> Response:
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _download(default_format: str):
    """A download view, called with the range and the format (csv | xlsx) it asks for; a bad range or
    format is a 400 before it."""
    def deco(view):
        @wraps(view)
        def wrapper():
            q = _range_or_400()
            if isinstance(q, Response):
                return q
            fmt = request.args.get("format", default_format)
            return view(q, fmt) if fmt in ("csv", "xlsx") else _unknown_format()
        return wrapper
    return deco


def _unknown_format() -> Response:
    return Response(_("Unknown format or group."), status=400, mimetype="text/plain")


@bp.get("/manage/stats/export")
@role_required("manager")
@_download("xlsx")
def stats_export(q: StatsQuery, fmt: str):
    group = request.args.get("group", "all")
    if group not in ("all", "remote", *GROUPS):
        return _unknown_format()
    name, content = export_stats(services().db, g.who.centre_id, q.d_from, q.d_to, fmt, group)
    return _file(name, content, fmt)


@bp.get("/manage/stats/tickets")
@role_required("manager")
@_download("csv")
def tickets_export(q: StatsQuery, fmt: str):
    if fmt == "csv":  # streamed: a year's list is tens of megabytes
        chunks = ticket_csv_chunks(services().db, g.who.centre_id, q.d_from, q.d_to)
        return _file(tickets_file_name(q.d_from, q.d_to, fmt), stream_with_context(chunks), fmt)
    if (q.d_to - q.d_from).days >= MAX_TICKET_XLSX_DAYS:
        return Response(_("The ticket list in XLSX covers at most %(n)s days; use CSV for longer ranges.",
                          n=MAX_TICKET_XLSX_DAYS), status=400, mimetype="text/plain")
    name, content = export_tickets(services().db, g.who.centre_id, q.d_from, q.d_to, fmt)
    return _file(name, content, fmt)
