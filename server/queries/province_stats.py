"""Statistics across the centres of a province, and the month's report a province office sends upward.

Every figure is the dashboard's own (`queries.province_figures`: `queries.stats`'s figures with each
centre's time zone, targets and rating scale, as on its own statistics page, for all centres in a
few queries), written with `queries.export` (`FIGURES`, `cell`, `_sheet`-style XLSX). Groupings:

- by centre: each centre's totals — every figure exact;
- by field: one row per centre and field — every figure exact;
- by agency and by day, across centres: counts (issued, served, no-show, rated) are summed and the
  satisfaction rate recomputed from the summed rating counts, all exact; a mean, median or
  percentile cannot be added up from other groups' figures, so those columns are left empty there
  (the page says so) rather than shown approximately;
- the total row: the counts summed, and — where the table shows them — the province's mean, median
  and p90 of all its tickets taken together (`province_figures.whole`), exact as well.

The month's report (XLSX): per centre and field, issued, served, mean and p90 wait, share served
within the target wait, satisfaction rate and no-shows, with each centre's total row.
"""
from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server import clock
from layso.server.domain.rating import satisfied_count
from layso.server.queries import province_figures
from layso.server.queries.export import FIGURES, cell, safe_cell, safe_row
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


@dataclass(frozen=True)
class FieldInfo:
    centre_id: int
    code: str
    name: str
    agency: str
    position: int


def _fields(db: Database, ids: list[int]) -> dict[int, FieldInfo]:
    """Every field of these centres (active or not: a past ticket may be of a field no longer used)."""
    with db.read() as s:
        return {fid: FieldInfo(cid, code, name, agency or "", position) for fid, cid, code, name, agency, position in
                s.execute(select(Field.id, Field.centre_id, Field.code, Field.name, Field.agency, Field.position)
                          .where(Field.centre_id.in_(ids)))}


def _satisfied(counts: dict[str, int], satisfied_min: int) -> tuple[int, int]:
    rated = sum(counts.values())
    return rated, satisfied_count({int(score): n for score, n in counts.items()}, satisfied_min)


def _field_rows(figs: dict, fields: dict[int, FieldInfo]) -> list[tuple[int, dict]]:
    """A centre's (field id, figures) in the order of its field list (as the dashboard)."""
    return sorted(figs["field"].items(), key=lambda kv: (fields[kv[0]].position, str(kv[0])) if kv[0] in fields
                  else (1_000_000, str(kv[0])))


def province_rows(db: Database, centres: list[dict], d_from: date, d_to: date, group: str) -> dict:
    """{group, exact, rows: [{key, centre, label, figures…}], total: {figures}} for the page and its XLSX."""
    if group not in PROVINCE_GROUPS:
        raise ValueError(group)
    ids = [c["id"] for c in centres]
    fields = _fields(db, ids)
    if group in EXACT_GROUPS:
        figs, smin = province_figures.exact(db, ids, d_from, d_to)
        totals = {cid: figs[cid]["total"] for cid in ids}
        if group == "centre":
            rows = [{**figs[c["id"]]["total"], "key": c["code"], "centre": c["name"], "label": c["area"] or ""}
                    for c in centres]
        else:
            rows = [{**row, "key": f"{c['code']}/{fields[fid].code}", "centre": c["name"], "label": fields[fid].name}
                    for c in centres for fid, row in _field_rows(figs[c["id"]], fields)]
    else:
        counted, smin = province_figures.counts(db, ids, d_from, d_to, "field" if group == "agency" else "day")
        rows, totals = _added_up(counted, smin, fields, group)
    total = {k: sum(t[k] or 0 for t in totals.values()) for k in ADDITIVE}
    satisfied = sum(_satisfied(t.get("rating_counts", {}), smin[cid])[1] for cid, t in totals.items())
    total["satisfied_share"] = satisfied / total["rated"] if total["rated"] else None
    if group in EXACT_GROUPS:  # the total row of a table that shows means and percentiles shows them too
        total.update(_whole_figures(province_figures.whole(db, ids, d_from, d_to)))
    return {"group": group, "exact": group in EXACT_GROUPS, "rows": rows, "total": total,
            "from": d_from.isoformat(), "to": d_to.isoformat(), "centres": len(centres)}


def _whole_figures(w: dict) -> dict:
    """The province's wait and service figures (`province_figures.whole`) under the table's keys."""
    w_n, w_mean, w_median, w_p90 = w["waits"]
    s_mean, s_median, s_p90 = w["services"][1:]
    return {"wait_mean_s": w_mean, "wait_median_s": w_median, "wait_p90_s": w_p90,
            "service_mean_s": s_mean, "service_median_s": s_median, "service_p90_s": s_p90,
            "within_target_share": round(w["within"] / w_n, 4) if w_n else None}


def _added_up(counted: dict, smin: dict, fields: dict[int, FieldInfo], group: str) -> tuple[list[dict], dict]:
    """Rows by agency or by day across centres (what adds up), and each centre's totals."""
    acc: dict = defaultdict(lambda: {**{k: 0 for k in ADDITIVE}, "satisfied": 0})
    totals: dict = {}
    for cid, by_key in counted.items():
        t = totals.setdefault(cid, {**{k: 0 for k in ADDITIVE}, "rating_counts": Counter()})
        for k, row in by_key.items():
            key = (fields[k].agency if k in fields else "") if group == "agency" else k.isoformat()
            a = acc[key]
            for name in ADDITIVE:
                a[name] += row[name]
                t[name] += row[name]
            t["rating_counts"].update(row["rating_counts"])
            a["satisfied"] += _satisfied(row["rating_counts"], smin[cid])[1]
            a["label"] = k.strftime("%d/%m/%Y") if group == "day" else (key or str(_("(no agency)")))
    rows = [{"key": key, "centre": "", "label": acc[key]["label"], **{k: acc[key][k] for k in ADDITIVE},
             "satisfied_share": acc[key]["satisfied"] / acc[key]["rated"] if acc[key]["rated"] else None}
            for key in sorted(acc)]
    return rows, totals


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
    ids = [c["id"] for c in centres]
    fields = _fields(db, ids)
    figs, _smin = province_figures.exact(db, ids, d_from, d_to)
    headers = [_("Centre"), _("Area"), _("Field"), _("Agency")] + [str(h) for _k, h, _kind in REPORT_FIGURES]
    kinds = ["text"] * 4 + [kind for _k, _h, kind in REPORT_FIGURES]
    rows, bold = [], set()
    for c in centres:
        for fid, row in _field_rows(figs[c["id"]], fields):
            f = fields.get(fid)
            rows.append([c["name"], c["area"], f.name if f else str(fid), f.agency if f else ""] +
                        [cell(kind, row[k]) for k, _h, kind in REPORT_FIGURES])
        bold.add(len(rows))
        rows.append([c["name"], c["area"], _("Centre total"), ""] +
                    [cell(kind, figs[c["id"]]["total"][k]) for k, _h, kind in REPORT_FIGURES])
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
