"""The province overview: every centre in one answer, and the alerts a province office acts on.

For each centre: open now (its opening hours, not suspended), tickets waiting, the longest wait now,
open counters, devices offline, printer faults, and today's satisfaction (ratings of the tickets of
the centre's local day, the dashboard's definition). A fixed number of grouped queries answers for
every centre at once — one per figure, each filtered by `centre_id IN (…)` so it uses the existing
(centre_id, …) indexes — never one query per centre.

Alerts: a field whose longest wait is past its target (the field's `target_wait_min`, else the
centre's `queue.target_wait_min`), a kiosk out of paper, a lobby screen offline. Suspended centres
are listed (greyed) but raise no alerts.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from layso.server import clock
from layso.server.domain.hours import Hours
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Device, Field, Rating, Ticket
from sqlalchemy import func, select

_HOURS: dict[tuple, Hours] = {}  # parsed opening hours by (centre, timezone, hours text)


def _hours(centre_id: int, tz: str, hours: dict) -> Hours:
    key = (centre_id, tz, repr(hours))
    hit = _HOURS.get(key)
    if hit is None:
        if len(_HOURS) > 2000:
            _HOURS.clear()
        hit = _HOURS[key] = Hours(hours, tz)
    return hit


def overview(db: Database, now: datetime | None = None) -> dict:
    """{generated_at, centres: [...], alerts: [...]} (CONTRACT.md, "Province"); centres by area and code."""
    now = now or clock.now()
    with db.read() as s:
        centres = s.execute(select(Centre.id, Centre.code, Centre.name, Centre.area, Centre.timezone, Centre.settings,
                                   Centre.suspended_at).order_by(Centre.area, Centre.code)).all()
        ids = [c.id for c in centres]
        days = {}
        for c in centres:
            days[c.id] = now.astimezone(ZoneInfo(c.timezone)).date()
        waiting = s.execute(
            select(Ticket.centre_id, Ticket.field_id, func.count(), func.min(Ticket.issued_at))
            .where(Ticket.centre_id.in_(ids), Ticket.status == "waiting")
            .group_by(Ticket.centre_id, Ticket.field_id)).all()
        fields = {f.id: f for f in s.execute(select(Field.id, Field.centre_id, Field.code, Field.name,
                                                     Field.target_wait_min).where(Field.centre_id.in_(ids))).all()}
        open_counters = dict(s.execute(
            select(Counter.centre_id, func.count()).where(Counter.centre_id.in_(ids), Counter.status == "open",
                                                          Counter.active.is_(True))
            .group_by(Counter.centre_id)).all())
        device_rows = s.execute(
            select(Device.centre_id, Device.role, Device.online, Device.printer, func.count())
            .where(Device.centre_id.in_(ids), Device.revoked_at.is_(None))
            .group_by(Device.centre_id, Device.role, Device.online, Device.printer)).all()
        alert_devices = s.execute(
            select(Device.centre_id, Device.name, Device.role, Device.online, Device.printer)
            .where(Device.centre_id.in_(ids), Device.revoked_at.is_(None),
                   ((Device.role == "kiosk") & (Device.printer == "paper_out"))
                   | ((Device.role == "display") & Device.online.is_(False)))
            .order_by(Device.centre_id, Device.name)).all()
        # today's ratings: tickets of each centre's local day (usually one day for the whole province)
        ratings: dict[int, dict[int, int]] = defaultdict(dict)
        by_day: dict = defaultdict(list)
        for cid, day in days.items():
            by_day[day].append(cid)
        for day, cids in by_day.items():
            for cid, score, n in s.execute(
                    select(Ticket.centre_id, Rating.score, func.count()).join(Rating, Rating.ticket_id == Ticket.id)
                    .where(Ticket.centre_id.in_(cids), Ticket.day == day)
                    .group_by(Ticket.centre_id, Rating.score)):
                ratings[cid][score] = n
    devices = defaultdict(lambda: {"total": 0, "offline": 0, "printer_faults": 0})
    for cid, role, online, printer, n in device_rows:
        d = devices[cid]
        d["total"] += n
        if not online:
            d["offline"] += n
        if role == "kiosk" and printer not in (None, "ok"):
            d["printer_faults"] += n
    longest: dict[int, tuple[int, str | None]] = {}
    waiting_by_centre: dict[int, int] = defaultdict(int)
    over_target: dict[int, list[dict]] = defaultdict(list)
    settings = {c.id: c.settings or {} for c in centres}
    for cid, fid, n, oldest in waiting:
        waiting_by_centre[cid] += n
        wait_s = max(0, int((now - oldest).total_seconds()))
        if wait_s > longest.get(cid, (-1, None))[0]:
            longest[cid] = (wait_s, oldest.isoformat())
        f = fields.get(fid)
        default_target = settings[cid].get("queue", {}).get("target_wait_min", 30)
        target_s = 60 * ((f.target_wait_min if f is not None else None) or default_target)
        if wait_s > target_s:
            over_target[cid].append({"field": f.code if f else None, "field_name": f.name if f else "",
                                     "longest_wait_s": wait_s, "target_s": target_s, "waiting": n})
    rows, alerts = [], []
    for c in centres:
        suspended = c.suspended_at is not None
        hours = settings[c.id].get("hours")
        is_open = not suspended and hours is not None and _hours(c.id, c.timezone, hours).is_open(now)
        satisfied_min = settings[c.id].get("rating", {}).get("satisfied_min", 1)
        counts = ratings.get(c.id, {})
        rated = sum(counts.values())
        satisfied = sum(n for score, n in counts.items() if score >= satisfied_min)
        wait_s, oldest_at = longest.get(c.id, (None, None))
        d = devices[c.id]
        rows.append({
            "code": c.code, "name": c.name, "area": c.area or "", "open": is_open,
            "waiting": waiting_by_centre.get(c.id, 0), "longest_wait_s": wait_s,
            "open_counters": open_counters.get(c.id, 0), "devices_offline": d["offline"],
            "printer_faults": d["printer_faults"], "satisfied_share_today": satisfied / rated if rated else None,
            # beyond the contract: what the page needs to keep ticking and to explain itself
            "suspended": suspended, "oldest_waiting_at": oldest_at, "devices": d["total"], "rated_today": rated,
            "over_target": bool(over_target.get(c.id)),
        })
        if suspended:
            continue
        for o in sorted(over_target.get(c.id, []), key=lambda o: -o["longest_wait_s"]):
            alerts.append({"centre": c.code, "centre_name": c.name, "area": c.area or "", "kind": "wait_over_target",
                           **o})
    names = {c.id: (c.code, c.name, c.area or "", c.suspended_at is not None) for c in centres}
    for cid, name, role, online, printer in alert_devices:
        code, cname, area, suspended = names[cid]
        if suspended:
            continue
        kind = "paper_out" if role == "kiosk" and printer == "paper_out" else "display_offline"
        alerts.append({"centre": code, "centre_name": cname, "area": area, "kind": kind, "device": name})
    order = {"wait_over_target": 0, "paper_out": 1, "display_offline": 2}
    alerts.sort(key=lambda a: (order[a["kind"]], -(a.get("longest_wait_s") or 0), a["centre"]))
    tz = ZoneInfo(centres[0].timezone) if centres else ZoneInfo("Asia/Ho_Chi_Minh")  # the province's clock
    return {"generated_at": now.astimezone(tz).isoformat(timespec="seconds"), "centres": rows, "alerts": alerts}
