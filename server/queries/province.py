"""The province overview: every centre in one answer, and the alerts a province office acts on.

For each centre: open now (its opening hours, not suspended), tickets waiting, the longest wait now,
open counters, devices offline, printer faults, and today's satisfaction (ratings of the tickets of
the centre's local day, the dashboard's definition). A fixed number of grouped queries answers for
every centre at once — one per figure, each filtered by `centre_id IN (…)` so it uses the existing
(centre_id, …) indexes — never one query per centre.

Alerts: a field whose longest wait is past its target (the field's `target_wait_min`, else the
centre's `queue.target_wait_min`), a kiosk out of paper, a lobby screen offline. Suspended centres
are listed (greyed) but raise no alerts. `current_alerts` gives the same alerts with what identifies
each one (`key`: kind, centre, field or device), for the notifier (`notify.alerts`).
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from layso.server import clock
from layso.server.domain.hours import Hours
from layso.server.domain.rating import satisfied_count
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Device, Field, Rating, Ticket
from layso.server.turns import taking_turns
from sqlalchemy import func, select

_HOURS: dict[tuple, Hours] = {}  # parsed opening hours by (centre, timezone, hours text)
ALERT_ORDER = {"wait_over_target": 0, "paper_out": 1, "display_offline": 2}
POLL_S = 1.5  # the overview page asks again this often, start to start: a change shows within 2 s


def _hours(centre_id: int, tz: str, hours_json: str) -> Hours:
    """A centre's opening hours from their JSON text, parsed once per distinct text."""
    key = (centre_id, tz, hours_json)
    hit = _HOURS.get(key)
    if hit is None:
        if len(_HOURS) > 2000:
            _HOURS.clear()
        hit = _HOURS[key] = Hours(json.loads(hours_json), tz)
    return hit


@dataclass
class Waiting:
    """Tickets waiting now, per centre: how many, the longest wait, the fields past their target."""

    count: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    longest: dict[int, tuple[int, str]] = field(default_factory=dict)  # (seconds, oldest issued_at ISO)
    over_target: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))


def _centres(s) -> list:
    """Every centre, with the three parts of its settings the overview reads: its opening hours, its
    queue's wait target and its rating's "satisfied" threshold, picked out by the database (a centre's
    whole settings, decoded 152 times, were a third of the overview's CPU on the event loop)."""
    settings = Centre.settings
    return s.execute(select(Centre.id, Centre.code, Centre.name, Centre.area, Centre.timezone,
                            settings["hours"].as_string().label("hours_json"),  # parsed when it changes
                            settings[("queue", "target_wait_min")].label("target_wait_min"),
                            settings[("rating", "satisfied_min")].label("satisfied_min"),
                            Centre.suspended_at).order_by(Centre.area, Centre.code)).all()


def _is_open(c, now: datetime) -> bool:
    return (c.suspended_at is None and c.hours_json is not None
            and _hours(c.id, c.timezone, c.hours_json).is_open(now))


def _waiting(s, centres: list, now: datetime) -> Waiting:
    """One query: waiting tickets grouped by centre and field, with the field's code, name and target
    (the fields with someone waiting only: reading every field of 150 centres to pick these out held
    the event loop ~10 ms each time the page asked)."""
    ids = [c.id for c in centres]
    rows = s.execute(select(Ticket.centre_id, Ticket.field_id, func.count(), func.min(Ticket.issued_at),
                            Field.code, Field.name, Field.target_wait_min)
                     .outerjoin(Field, Field.id == Ticket.field_id)
                     .where(Ticket.centre_id.in_(ids), Ticket.status == "waiting")
                     .group_by(Ticket.centre_id, Ticket.field_id, Field.code, Field.name, Field.target_wait_min))
    default_target = {c.id: 30 if c.target_wait_min is None else c.target_wait_min for c in centres}
    out = Waiting()
    for cid, fid, n, oldest, code, name, target_min in taking_turns(rows):  # fetched as they are read
        out.count[cid] += n
        wait_s = max(0, int((now - oldest).total_seconds()))
        if wait_s > out.longest.get(cid, (-1, None))[0]:
            out.longest[cid] = (wait_s, oldest.isoformat())
        target_s = 60 * (target_min or default_target[cid])
        if wait_s > target_s:
            out.over_target[cid].append({"field": code or str(fid), "field_name": name or "",
                                         "longest_wait_s": wait_s, "target_s": target_s, "waiting": n,
                                         "since": (oldest + timedelta(seconds=target_s)).isoformat()})
    return out


def _alert_devices(s, ids: list[int]) -> list:
    return s.execute(select(Device.id, Device.centre_id, Device.name, Device.role, Device.online, Device.printer)
                     .where(Device.centre_id.in_(ids), Device.revoked_at.is_(None),
                            ((Device.role == "kiosk") & (Device.printer == "paper_out"))
                            | ((Device.role == "display") & Device.online.is_(False)))
                     .order_by(Device.centre_id, Device.name)).all()


def _alerts(centres: list, waiting: Waiting, devices: list) -> list[dict]:
    """The alerts of the centres in service, most urgent first; each with its `key`, `centre_id` and
    `subject` (the field's code or the device's id) besides what the page shows."""
    names = {c.id: c for c in centres}
    out = []
    for c in taking_turns(centres):
        if c.suspended_at is not None:
            continue
        for o in sorted(waiting.over_target.get(c.id, []), key=lambda o: -o["longest_wait_s"]):
            out.append({"centre": c.code, "centre_name": c.name, "area": c.area or "", "kind": "wait_over_target",
                        **o, "centre_id": c.id, "subject": o["field"]})
    for device_id, cid, name, role, _online, printer in taking_turns(devices):
        c = names[cid]
        if c.suspended_at is not None:
            continue
        kind = "paper_out" if role == "kiosk" and printer == "paper_out" else "display_offline"
        out.append({"centre": c.code, "centre_name": c.name, "area": c.area or "", "kind": kind, "device": name,
                    "centre_id": cid, "subject": str(device_id)})
    for a in out:
        a["key"] = f"{a['kind']}:{a['centre_id']}:{a['subject']}"
    out.sort(key=lambda a: (ALERT_ORDER[a["kind"]], -(a.get("longest_wait_s") or 0), a["centre"]))
    return out


def current_alerts(s, now: datetime) -> tuple[dict[int, dict], list[dict]]:
    """In session `s` (three queries): ({centre id: {code, name, area, open, suspended}}, the alerts with
    their identity) — what the notifier compares with the alerts it has already raised."""
    centres = _centres(s)
    if not centres:
        return {}, []
    alerts = _alerts(centres, _waiting(s, centres, now), _alert_devices(s, [c.id for c in centres]))
    return {c.id: {"code": c.code, "name": c.name, "area": c.area or "", "open": _is_open(c, now),
                   "suspended": c.suspended_at is not None} for c in taking_turns(centres)}, alerts


def _figures(s, centres: list, now: datetime) -> tuple[dict, dict, dict]:
    """Open counters, device counts and today's ratings per centre (three kinds of grouped queries)."""
    ids = [c.id for c in centres]
    open_counters = dict(s.execute(
        select(Counter.centre_id, func.count()).where(Counter.centre_id.in_(ids), Counter.status == "open",
                                                      Counter.active.is_(True))
        .group_by(Counter.centre_id)).all())
    devices = defaultdict(lambda: {"total": 0, "offline": 0, "printer_faults": 0})
    for cid, role, online, printer, n in s.execute(
            select(Device.centre_id, Device.role, Device.online, Device.printer, func.count())
            .where(Device.centre_id.in_(ids), Device.revoked_at.is_(None))
            .group_by(Device.centre_id, Device.role, Device.online, Device.printer)):
        d = devices[cid]
        d["total"] += n
        d["offline"] += 0 if online else n
        d["printer_faults"] += n if role == "kiosk" and printer not in (None, "ok") else 0
    # today's ratings: tickets of each centre's local day (usually one day for the whole province)
    by_day: dict = defaultdict(list)
    for c in centres:
        by_day[now.astimezone(ZoneInfo(c.timezone)).date()].append(c.id)
    ratings: dict[int, dict[int, int]] = defaultdict(dict)
    for day, cids in by_day.items():
        for cid, score, n in s.execute(
                select(Ticket.centre_id, Rating.score, func.count()).join(Rating, Rating.ticket_id == Ticket.id)
                .where(Ticket.centre_id.in_(cids), Ticket.day == day).group_by(Ticket.centre_id, Rating.score)):
            ratings[cid][score] = n
    return open_counters, devices, ratings


def _row(c, now: datetime, waiting: Waiting, open_counters: dict, devices: dict, ratings: dict) -> dict:
    satisfied_min = 1 if c.satisfied_min is None else c.satisfied_min
    counts = ratings.get(c.id, {})
    rated = sum(counts.values())
    satisfied = satisfied_count(counts, satisfied_min)
    wait_s, oldest_at = waiting.longest.get(c.id, (None, None))
    d = devices[c.id]
    return {
        "code": c.code, "name": c.name, "area": c.area or "", "open": _is_open(c, now),
        "waiting": waiting.count.get(c.id, 0), "longest_wait_s": wait_s,
        "open_counters": open_counters.get(c.id, 0), "devices_offline": d["offline"],
        "printer_faults": d["printer_faults"], "satisfied_share_today": satisfied / rated if rated else None,
        # beyond the contract: what the page needs to keep ticking and to explain itself
        "suspended": c.suspended_at is not None, "oldest_waiting_at": oldest_at, "devices": d["total"],
        "rated_today": rated, "over_target": bool(waiting.over_target.get(c.id)),
    }


PRIVATE = ("centre_id", "subject", "key", "since")  # an alert's identity, for the notifier only


def overview(db: Database, now: datetime | None = None) -> dict:
    """{generated_at, centres: [...], alerts: [...]} (CONTRACT.md, "Province"); centres by area and code."""
    now = now or clock.now()
    with db.read() as s:
        centres = _centres(s)
        ids = [c.id for c in centres]
        waiting = _waiting(s, centres, now)
        alerts = _alerts(centres, waiting, _alert_devices(s, ids))
        open_counters, devices, ratings = _figures(s, centres, now)
    rows = [_row(c, now, waiting, open_counters, devices, ratings) for c in taking_turns(centres)]
    alerts = [{k: v for k, v in a.items() if k not in PRIVATE} for a in alerts]
    tz = ZoneInfo(centres[0].timezone) if centres else ZoneInfo("Asia/Ho_Chi_Minh")  # the province's clock
    return {"generated_at": now.astimezone(tz).isoformat(timespec="seconds"), "centres": rows, "alerts": alerts}
