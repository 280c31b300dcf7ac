"""Statistics across the centres of a province, and the month's report a province office sends upward.

Every figure comes from the dashboard's own `queries.stats.compute_groups`, run once per centre (so
each centre's time zone, targets and rating scale apply exactly as on its own statistics page), and
is written with `queries.export` (`FIGURES`, `cell`, `_sheet`-style XLSX). Groupings:

- by centre: each centre's totals — every figure exact;
- by field: one row per centre and field — every figure exact;
- by agency and by day, across centres: counts (issued, served, no-show, rated) are summed and the
  satisfaction rate recomputed from the summed rating counts, all exact; a mean, median or
  percentile cannot be added up from other groups' figures, so those columns are left empty there
  (the page says so) rather than shown approximately.

The month's report (XLSX): per centre and field, issued, served, mean and p90 wait, share served
within the target wait, satisfaction rate and no-shows, with each centre's total row.
"""
from __future__ import annotations

import io
from collections import defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server import clock
from layso.server.domain.rating import satisfied_count
from layso.server.queries.export import FIGURES, cell, safe_cell, safe_row
from layso.server.queries.stats import compute_groups
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Field
from sqlalchemy import select

PROVINCE_GROUPS = ("centre", "field", "agency", "day")
GROUP_LABELS = {"centre": _l("By centre"), "field": _l("By centre and field"), "agency": _l("By agency"),
                "day": _l("By day")}
EXACT_GROUPS = ("centre", "field")  # every figure; the others only what adds up
ADDITIVE = ("issued", "served", "no_show", "rated")
REPORT_FIGURES = (("issued", _l("Issued"), "n"), ("served", _l("Served"), "n"),
                  ("wait_mean_s", _l("Wait, mean (min)"), "min"), ("wait_p90_s", _l("Wait, 90th percentile (min)"), "min"),
                  ("within_target_share", _l("Served within the target wait (%)"), "pct"),
                  ("satisfied_share", _l("Satisfied (%)"), "pct"), ("no_show", _l("No-show"), "n"))


def province_centres(db: Database, area: str | None = None) -> list[dict]:
    """The centres in service (not suspended), optionally of one area: [{id, code, name, area}]."""
    with db.read() as s:
        q = select(Centre.id, Centre.code, Centre.name, Centre.area).where(Centre.suspended_at.is_(None))
        if area:
            q = q.where(Centre.area == area)
        return [dict(r._mapping) for r in s.execute(q.order_by(Centre.area, Centre.code))]


def centre_results(db: Database, centres: list[dict], d_from: date, d_to: date, groups=("field",)) -> list[tuple]:
    """[(centre, compute_groups result)] for each centre."""
    return [(c, compute_groups(db, c["id"], d_from, d_to, groups)) for c in centres]


def _satisfied(counts: dict[str, int], satisfied_min: int) -> tuple[int, int]:
    rated = sum(counts.values())
    return rated, satisfied_count({int(score): n for score, n in counts.items()}, satisfied_min)


def province_rows(db: Database, centres: list[dict], d_from: date, d_to: date, group: str) -> dict:
    """{group, exact, rows: [{key, centre, label, figures…}], total: {figures}} for the page and its XLSX."""
    if group not in PROVINCE_GROUPS:
        raise ValueError(group)
    sub = {"centre": ("field",), "field": ("field",), "agency": ("field",), "day": ("day",)}[group]
    results = centre_results(db, centres, d_from, d_to, sub)
    rows: list[dict] = []
    if group == "centre":
        rows = [{**r["total"], "key": c["code"], "centre": c["name"], "label": c["area"] or ""} for c, r in results]
    elif group == "field":
        for c, r in results:
            rows += [{**row, "key": f"{c['code']}/{row['key']}", "centre": c["name"]} for row in r["groups"]["field"]]
    else:
        agencies = _agencies(db, centres) if group == "agency" else {}
        acc: dict = defaultdict(lambda: {**{k: 0 for k in ADDITIVE}, "satisfied": 0})
        for c, r in results:
            smin = r["satisfied_min"]
            for row in r["groups"][sub[0]]:
                key = agencies.get((c["id"], row["key"]), "") if group == "agency" else row["key"]
                a = acc[key]
                for k in ADDITIVE:
                    a[k] += row[k] or 0
                a["satisfied"] += _satisfied(row.get("rating_counts", {}), smin)[1]
                a["label"] = row["label"] if group == "day" else (key or str(_("(no agency)")))
        for key in sorted(acc):
            a = acc[key]
            rows.append({"key": key, "centre": "", "label": a["label"], **{k: a[k] for k in ADDITIVE},
                         "satisfied_share": a["satisfied"] / a["rated"] if a["rated"] else None})
    total = {k: sum(r["total"][k] or 0 for _c, r in results) for k in ADDITIVE}
    satisfied = sum(_satisfied(r["total"].get("rating_counts", {}), r["satisfied_min"])[1] for _c, r in results)
    total["satisfied_share"] = satisfied / total["rated"] if total["rated"] else None
    return {"group": group, "exact": group in EXACT_GROUPS, "rows": rows, "total": total,
            "from": d_from.isoformat(), "to": d_to.isoformat(), "centres": len(centres)}


def _agencies(db: Database, centres: list[dict]) -> dict[tuple[int, str], str]:
    """(centre id, field code) → the field's agency (its current name; old names are its aliases)."""
    with db.read() as s:
        return {(cid, code): agency or "" for cid, code, agency in s.execute(
            select(Field.centre_id, Field.code, Field.agency).where(Field.centre_id.in_([c["id"] for c in centres])))}


def table(data: dict) -> tuple[list[str], list[str], list[list]]:
    """(headers, kinds, rows) of `province_rows`, figures as on the dashboard (minutes, percent)."""
    first = {"centre": [_("Code"), _("Centre"), _("Area")], "field": [_("Centre"), _("Field"), _("Field code")],
             "agency": [_("Agency")], "day": [_("Day")]}[data["group"]]
    figures = [f for f in FIGURES if data["exact"] or f[0] in (*ADDITIVE, "satisfied_share")]
    headers = first + [str(h) for _k, h, _kind in figures]
    kinds = ["text"] * len(first) + [kind for _k, _h, kind in figures]

    def lead(r):
        if data["group"] == "centre":
            return [r["key"], r["centre"], r["label"]]
        if data["group"] == "field":  # the row's key is centre/field
            return [r["centre"], r["label"], r["key"].split("/", 1)[-1]]
        return [r["label"]]
    rows = [lead(r) + [cell(kind, r.get(k)) for k, _h, kind in figures] for r in data["rows"]]
    total = [_("Province total")] + [""] * (len(first) - 1) + \
        [cell(kind, data["total"].get(k)) if k in data["total"] else None for k, _h, kind in figures]
    return headers, kinds, rows + [total]


# ---- files ----------------------------------------------------------------------------------------
# openpyxl is imported where a file is written: a server that never exports does not carry it.


def _write(ws, headers: list[str], kinds: list[str], rows: list[list], bold_rows: set[int] = frozenset()) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    _BOLD, _TOTAL = Font(bold=True), PatternFill("solid", fgColor="EEF3F9")
    ws.append(safe_row(headers))  # names typed by people: never a formula, nothing Excel cannot hold
    for c in ws[ws.max_row]:
        c.font = _BOLD
        c.alignment = Alignment(wrap_text=True, vertical="top")
    head = ws.max_row
    ws.freeze_panes = ws.cell(head + 1, 1)
    for i, r in enumerate(rows):
        ws.append(safe_row(r))
        if i in bold_rows:
            for c in ws[ws.max_row]:
                c.font, c.fill = _BOLD, _TOTAL
    for i, kind in enumerate(kinds, start=1):
        if kind in ("min", "pct"):
            for (c,) in ws.iter_rows(min_row=head + 1, min_col=i, max_col=i):
                c.number_format = "0.0"
        ws.column_dimensions[get_column_letter(i)].width = 34 if kind == "text" else 14
    ws.row_dimensions[head].height = 48


def table_workbook(data: dict, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    headers, kinds, rows = table(data)
    wb = Workbook()
    ws = wb.active
    ws.title = str(GROUP_LABELS[data["group"]])[:31]
    ws.append([safe_cell(title)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([_("Statistics from %(start)s to %(end)s", start=_dmy(data["from"]), end=_dmy(data["to"]))])
    if not data["exact"]:
        ws.append([_("Means, medians and percentiles are not added up across centres: see the tables by centre.")])
    ws.append([])
    _write(ws, headers, kinds, rows, {len(rows) - 1})
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def month_range(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start, end


def month_report(db: Database, year: int, month: int, area: str | None = None, title: str = "") -> tuple[str, bytes]:
    """(file name, XLSX) of the month's report: per centre and field, with each centre's total."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    d_from, d_to = month_range(year, month)
    centres = province_centres(db, area)
    results = centre_results(db, centres, d_from, d_to, ("field",))
    headers = [_("Centre"), _("Area"), _("Field"), _("Agency")] + [str(h) for _k, h, _kind in REPORT_FIGURES]
    kinds = ["text"] * 4 + [kind for _k, _h, kind in REPORT_FIGURES]
    agencies = _agencies(db, centres)
    rows, bold = [], set()
    for c, r in results:
        for row in r["groups"]["field"]:
            rows.append([c["name"], c["area"], row["label"], agencies.get((c["id"], row["key"]), "")] +
                        [cell(kind, row[k]) for k, _h, kind in REPORT_FIGURES])
        bold.add(len(rows))
        rows.append([c["name"], c["area"], _("Centre total"), ""] +
                    [cell(kind, r["total"][k]) for k, _h, kind in REPORT_FIGURES])
    wb = Workbook()
    ws = wb.active
    ws.title = _("Monthly report")[:31]
    ws.append([safe_cell(title or _("Queue numbers: report of the month"))])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([_("Month %(month)02d/%(year)s (from %(start)s to %(end)s)", month=month, year=year,
                 start=d_from.strftime("%d/%m/%Y"), end=d_to.strftime("%d/%m/%Y"))])
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    ws.append([_("Made at %(at)s", at=clock.now().astimezone(tz).strftime("%d/%m/%Y %H:%M"))])
    ws.append([safe_cell(_("%(n)s centres", n=len(centres)) + (f" — {area}" if area else ""))])
    ws.append([])
    _write(ws, headers, kinds, rows, bold)
    buf = io.BytesIO()
    wb.save(buf)
    return f"layso-bao-cao-thang-{year}-{month:02d}.xlsx", buf.getvalue()


def _dmy(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")
