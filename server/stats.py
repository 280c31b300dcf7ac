"""Statistics by field, counter, officer, hour of day and day (CONTRACT.md, "Definitions").

- wait = first called_at − issued_at; service = completed_at − last called_at.
- no-show = a ticket that ended the day `no_show`.
- satisfaction rate = share of ratings with score ≥ the scale's `satisfied_min`, over rated tickets.
- percentiles by the nearest-rank method; days are local days in the centre's time zone.
- Tickets count in the field they ended in (after any transfer); by counter and officer, a ticket
  counts where it was last called; by hour, the local hour it was issued.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from .db import Database
from .models import Centre, Counter, Field, Rating, Ticket, User

GROUPS = ("field", "counter", "officer", "hour", "day")
COLUMNS = ("issued", "served", "no_show", "wait_mean_s", "wait_median_s", "wait_p90_s", "service_mean_s",
           "service_median_s", "service_p90_s", "within_target_share", "rated", "satisfied_share")


def nearest_rank(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _summary(values: list[float]) -> tuple[int | None, int | None, int | None]:
    if not values:
        return None, None, None
    values.sort()
    return (round(sum(values) / len(values)), round(nearest_rank(values, 50)), round(nearest_rank(values, 90)))


def compute_stats(db: Database, centre_id: int, d_from: date, d_to: date, group: str) -> dict:
    if group not in GROUPS:
        raise ValueError(group)
    with db.read() as s:
        centre = s.get(Centre, centre_id)
        tz = ZoneInfo(centre.timezone)
        settings = centre.settings
        satisfied_min = settings["rating"]["satisfied_min"]
        default_target = settings.get("queue", {}).get("target_wait_min", 30) * 60
        fields = {f.id: f for f in s.execute(select(Field).where(Field.centre_id == centre_id)).scalars()}
        counters = {c.id: c for c in s.execute(select(Counter).where(Counter.centre_id == centre_id)).scalars()}
        users = {u.id: u for u in s.execute(select(User).where(User.centre_id == centre_id)).scalars()}
        rows = s.execute(select(Ticket.id, Ticket.field_id, Ticket.counter_id, Ticket.officer_id, Ticket.day,
                                Ticket.status, Ticket.issued_at, Ticket.first_called_at, Ticket.called_at,
                                Ticket.completed_at)
                         .where(Ticket.centre_id == centre_id, Ticket.day >= d_from, Ticket.day <= d_to)).all()
        ratings = dict(s.execute(select(Rating.ticket_id, Rating.score).join(Ticket, Ticket.id == Rating.ticket_id)
                                 .where(Ticket.centre_id == centre_id, Ticket.day >= d_from, Ticket.day <= d_to)).all())

    def key_of(r):
        if group == "field":
            return r.field_id
        if group == "counter":
            return r.counter_id
        if group == "officer":
            return r.officer_id
        if group == "hour":
            return r.issued_at.astimezone(tz).hour
        return r.day

    acc = defaultdict(lambda: {"issued": 0, "served": 0, "no_show": 0, "wait": [], "service": [], "within": 0,
                               "rated": 0, "satisfied": 0})
    for r in rows:
        k = key_of(r)
        if k is None:  # by counter or officer: tickets never called there are not counted
            continue
        a = acc[k]
        a["issued"] += 1
        if r.status == "done":
            a["served"] += 1
        elif r.status == "no_show":
            a["no_show"] += 1
        if r.first_called_at is not None:
            w = (r.first_called_at - r.issued_at).total_seconds()
            a["wait"].append(w)
            f = fields.get(r.field_id)
            target = (f.target_wait_min * 60) if f is not None and f.target_wait_min else default_target
            if w <= target:
                a["within"] += 1
        if r.status == "done" and r.completed_at is not None and r.called_at is not None:
            a["service"].append((r.completed_at - r.called_at).total_seconds())
        score = ratings.get(r.id)
        if score is not None:
            a["rated"] += 1
            if score >= satisfied_min:
                a["satisfied"] += 1

    def label(k):
        if group == "field":
            return fields[k].name if k in fields else str(k)
        if group == "counter":
            return counters[k].name if k in counters else str(k)
        if group == "officer":
            u = users.get(k)
            return (u.full_name or u.username) if u else str(k)
        if group == "hour":
            return f"{k:02d}:00–{k:02d}:59"
        return k.strftime("%d/%m/%Y")

    def out_key(k):
        if group == "field":
            return fields[k].code if k in fields else str(k)
        if group == "counter":
            return counters[k].number if k in counters else k
        if group == "officer":
            return users[k].username if k in users else str(k)
        if group == "day":
            return k.isoformat()
        return k

    def order(k):
        if group == "field":
            return (fields[k].position if k in fields else 1_000_000, str(k))
        if group == "counter":
            return (counters[k].number if k in counters else 1_000_000, 0)
        if group == "officer":
            return (0, label(k))
        return (0, k)

    out = []
    for k in sorted(acc, key=order):
        a = acc[k]
        wm, wmed, wp90 = _summary(a["wait"])
        sm, smed, sp90 = _summary(a["service"])
        out.append({"key": out_key(k), "label": label(k), "issued": a["issued"], "served": a["served"],
                    "no_show": a["no_show"], "wait_mean_s": wm, "wait_median_s": wmed, "wait_p90_s": wp90,
                    "service_mean_s": sm, "service_median_s": smed, "service_p90_s": sp90,
                    "within_target_share": round(a["within"] / len(a["wait"]), 4) if a["wait"] else None,
                    "rated": a["rated"],
                    "satisfied_share": round(a["satisfied"] / a["rated"], 4) if a["rated"] else None})
    return {"from": d_from.isoformat(), "to": d_to.isoformat(), "group": group, "rows": out}
