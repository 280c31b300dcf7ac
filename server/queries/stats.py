"""Statistics by field, counter, officer, hour of day and day (CONTRACT.md, "Definitions").

- wait = first called_at − issued_at; service = completed_at − last called_at (served tickets).
- no-show = a ticket that ended the day `no_show`.
- within target = share of called tickets whose wait is at most the target wait (the field's
  `target_wait_min`, else the centre's `queue.target_wait_min`).
- satisfaction rate = share of ratings with score ≥ the scale's `satisfied_min`, over rated tickets;
  `rating_counts` gives the number of ratings per score.
- percentiles by the nearest-rank method (the value at rank ⌈p/100 · n⌉); days are local days in
  the centre's time zone (a ticket's `day`), hours the local hour a ticket was issued.
- Tickets count in the field they ended in (after any transfer); by counter and officer, a ticket
  counts where it was last called (tickets never called are left out there, not in the total).
- Durations are exact whole microseconds; figures are seconds rounded half up to the millisecond
  (`domain.figures`: never each duration rounded before the median).

Two ways to the same figures: on PostgreSQL one aggregate query (GROUPING SETS, percentile_disc,
which is the nearest rank) does the work; on SQLite one query fetches the range's tickets as plain
numbers (durations computed exactly in SQL) and Python aggregates them (SQLite has no percentile
aggregate).
"""
from __future__ import annotations

import sqlite3
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from layso.server.domain import figures as rules
from layso.server.domain import rating
from layso.server.domain.statuses import TicketStatus
from layso.server.engine import Settings
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Field, Ticket, User
from sqlalchemy import func, select

GROUPS = ("field", "counter", "officer", "hour", "day")
COLUMNS = ("issued", "served", "no_show", "wait_mean_s", "wait_median_s", "wait_p90_s", "service_mean_s",
           "service_median_s", "service_p90_s", "within_target_share", "rated", "satisfied_share")
US = rules.US
SCORES = range(1, 11)  # a rating scale's scores (RatingLevel: 1 … 10)


def _figures(issued: int, served: int, no_show: int, waits: tuple, within: int, services: tuple,
             rating_counts: dict[int, int], satisfied_min: int) -> dict:
    """A row's figures; `waits` and `services` are (n, mean_s, median_s, p90_s)."""
    rated = sum(rating_counts.values())
    return {"issued": issued, "served": served, "no_show": no_show,
            "wait_mean_s": waits[1], "wait_median_s": waits[2], "wait_p90_s": waits[3],
            "service_mean_s": services[1], "service_median_s": services[2], "service_p90_s": services[3],
            "within_target_share": round(within / waits[0], 4) if waits[0] else None,
            "rated": rated, "satisfied_share": rating.satisfied_share(rating_counts, satisfied_min),
            "rating_counts": {str(s): rating_counts[s] for s in sorted(rating_counts, reverse=True)
                              if rating_counts[s]}}


# ---- SQLite: fetch plain values, aggregate in Python -------------------------------------------------
# Exact µs between two of SQLite's 'YYYY-MM-DD HH:MM:SS.ffffff' texts (unixepoch() is faster, from 3.38).
_EPOCH = "unixepoch({})" if sqlite3.sqlite_version_info >= (3, 38) else "CAST(strftime('%s', {}) AS INTEGER)"
# Whole seconds from the text without its fraction: SQLite rounds a fraction of .9995 or more up to the
# next second, which would count that second twice.
_SQLITE_US = (f"(({_EPOCH.format('substr({a}, 1, 19)')} - {_EPOCH.format('substr({b}, 1, 19)')}) * 1000000"
              " + (substr({a}, 21, 6) - substr({b}, 21, 6)))")


def durations(us: str) -> tuple[str, str]:
    """The SQL of a ticket's (`t`) wait and of its service (done tickets only) in microseconds, in the
    dialect of `us` (`_SQLITE_US` or `_PG_US`): the one definition of both that every statistics query
    (here and in `province_figures`) uses."""
    return (us.format(a="t.first_called_at", b="t.issued_at"),
            f"CASE WHEN t.status = '{TicketStatus.DONE}' THEN {us.format(a='t.completed_at', b='t.called_at')} END")


WAIT_SQLITE, SERVICE_SQLITE = durations(_SQLITE_US)
_TICKETS_SQLITE = f"""
SELECT t.id, t.field_id, t.counter_id, t.officer_id, t.day, t.status, {{hour}}, {WAIT_SQLITE}, {SERVICE_SQLITE}
FROM tickets t WHERE t.centre_id = ? AND t.day >= ? AND t.day <= ?
"""
# Ratings come after their ticket was issued, within the link window (at most 14 days).
_RATINGS_SQLITE = "SELECT ticket_id, score FROM ratings WHERE centre_id = ? AND at >= ? AND at < ?"


class _LocalHour:
    """Local hour of a naive-UTC text time, cached per UTC hour (per quarter hour where the zone's
    offset in the range is not a whole number of hours)."""

    def __init__(self, tz: ZoneInfo, d_from: date, d_to: date):
        self.tz = tz
        self.cache: dict[str, int] = {}
        days = (d_to - d_from).days + 2
        self.whole_hours = all(
            datetime.combine(d_from + timedelta(days=i), datetime.min.time(), tz).utcoffset().total_seconds() % 3600 == 0
            for i in range(-1, days + 1))

    def __call__(self, utc_text: str) -> int:
        key = utc_text[:13] if self.whole_hours else utc_text[:14] + str(int(utc_text[14:16]) // 15)
        h = self.cache.get(key)
        if h is None:
            at = datetime.fromisoformat(utc_text).replace(tzinfo=timezone.utc)
            h = self.cache[key] = at.astimezone(self.tz).hour
        return h


def _sqlite_rows(s, centre_id: int, d_from: date, d_to: date, tz: ZoneInfo, local_hour: _LocalHour,
                 groups) -> tuple[list, dict]:
    """The range's tickets as plain values, and their ratings' scores by ticket id."""
    start = datetime.combine(d_from, datetime.min.time(), tz).astimezone(timezone.utc).replace(tzinfo=None)
    end = start + timedelta(days=(d_to - d_from).days + 16)
    hour_sql = ("substr(t.issued_at, 1, 13)" if local_hour.whole_hours else "substr(t.issued_at, 1, 16)") \
        if "hour" in groups else "NULL"
    cur = s.connection().connection.driver_connection.cursor()
    try:
        cur.execute(_TICKETS_SQLITE.format(hour=hour_sql), (centre_id, d_from.isoformat(), d_to.isoformat()))
        rows = cur.fetchall()
        cur.execute(_RATINGS_SQLITE, (centre_id, start.isoformat(sep=" "), end.isoformat(sep=" ")))
        return rows, dict(cur.fetchall())
    finally:
        cur.close()


def _python_aggregate(s, centre_id: int, d_from: date, d_to: date, tz: ZoneInfo, groups, target_us: dict,
                      default_target_us: int, satisfied_min: int) -> tuple[dict, dict]:
    local_hour = _LocalHour(tz, d_from, d_to)
    rows, ratings = _sqlite_rows(s, centre_id, d_from, d_to, tz, local_hour, groups)
    status = [r[5] for r in rows]
    wait = [r[7] for r in rows]
    service = [r[8] for r in rows]
    get_target = target_us.get
    within = [w is not None and w <= get_target(r[1], default_target_us) for r, w in zip(rows, wait)]
    get_score = ratings.get
    score = [get_score(r[0]) for r in rows]
    columns = (status, wait, service, within, score)

    def figures(status, wait, service, within, score) -> dict:
        waits = [w for w in wait if w is not None]
        services = [v for v in service if v is not None]
        counts = Tally([v for v in score if v is not None])
        return _figures(len(status), status.count(TicketStatus.DONE), status.count(TicketStatus.NO_SHOW),
                        (len(waits), *rules.summary(waits)), within.count(True),
                        (len(services), *rules.summary(services)), dict(counts), satisfied_min)

    out = {}
    for g in groups:
        if g == "hour":
            keys = [local_hour(r[6]) for r in rows]
        else:
            i = {"field": 1, "counter": 2, "officer": 3, "day": 4}[g]
            keys = [r[i] for r in rows]
        buckets: dict = {}
        for n, k in enumerate(keys):
            if k is None:  # by counter or officer: tickets never called are not counted
                continue
            b = buckets.get(k)
            if b is None:
                buckets[k] = [n]
            else:
                b.append(n)
        out[g] = {(_day(k) if g == "day" else k): figures(*[[col[n] for n in idx] for col in columns])
                  for k, idx in buckets.items()}
    return out, figures(*columns)


# ---- PostgreSQL: one aggregate query -----------------------------------------------------------------
_PG_KEYS = {"field": "t.field_id", "counter": "t.counter_id", "officer": "t.officer_id", "day": "t.day",
            "hour": "CAST(EXTRACT(HOUR FROM ((t.issued_at AT TIME ZONE 'UTC') AT TIME ZONE %(tz)s)) AS INTEGER)"}
_PG_US = "CAST(EXTRACT(EPOCH FROM ({a} - {b})) * 1000000 AS BIGINT)"
WAIT_PG, SERVICE_PG = durations(_PG_US)


def _pg_sql(groups) -> str:
    keys = ", ".join(f"{_PG_KEYS[g]} AS k_{g}" for g in groups)
    scores = ", ".join(f"count(*) FILTER (WHERE score = {n})" for n in SCORES)
    sets = ", ".join([f"(k_{g})" for g in groups] + ["()"])
    grouping = ", ".join(f"GROUPING(k_{g})" for g in groups)
    return f"""
WITH b AS (
  SELECT {keys}, t.status,
         {WAIT_PG} AS w, {SERVICE_PG} AS sv,
         COALESCE(f.target_wait_min, %(target_min)s) * CAST(60000000 AS BIGINT) AS target,
         r.score
  FROM tickets t JOIN fields f ON f.id = t.field_id LEFT JOIN ratings r ON r.ticket_id = t.id
  WHERE t.centre_id = %(centre)s AND t.day >= %(d_from)s AND t.day <= %(d_to)s
)
SELECT {", ".join(f"k_{g}" for g in groups)}, {grouping},
       count(*), count(*) FILTER (WHERE status = '{TicketStatus.DONE}'), count(*) FILTER (WHERE status = '{TicketStatus.NO_SHOW}'),
       count(w), sum(w), percentile_disc(0.5) WITHIN GROUP (ORDER BY w), percentile_disc(0.9) WITHIN GROUP (ORDER BY w),
       count(*) FILTER (WHERE w <= target),
       count(sv), sum(sv), percentile_disc(0.5) WITHIN GROUP (ORDER BY sv), percentile_disc(0.9) WITHIN GROUP (ORDER BY sv),
       {scores}
FROM b GROUP BY GROUPING SETS ({sets})
"""


def _pg_aggregate(s, centre_id: int, d_from: date, d_to: date, tz: ZoneInfo, groups, default_target_min: int,
                  satisfied_min: int) -> tuple[dict, dict]:
    cur = s.connection().connection.driver_connection.cursor()
    try:
        cur.execute(_pg_sql(groups), {"tz": tz.key, "target_min": default_target_min, "centre": centre_id,
                                      "d_from": d_from, "d_to": d_to})
        rows = cur.fetchall()
    finally:
        cur.close()
    g_n = len(groups)
    out: dict = {g: {} for g in groups}
    total = None
    for r in rows:
        keys, grouping, v = r[:g_n], r[g_n:2 * g_n], r[2 * g_n:]
        issued, served, no_show, w_n, w_sum, w50, w90, within, s_n, s_sum, s50, s90 = v[:12]
        waits = (w_n, rules.mean_seconds(int(w_sum), w_n), rules.seconds(w50), rules.seconds(w90)) \
            if w_n else (0, None, None, None)
        services = (s_n, rules.mean_seconds(int(s_sum), s_n), rules.seconds(s50), rules.seconds(s90)) \
            if s_n else (0, None, None, None)
        counts = {score: n for score, n in zip(SCORES, v[12:]) if n}
        figures = _figures(issued, served, no_show, waits, within, services, counts, satisfied_min)
        active = [i for i in range(g_n) if grouping[i] == 0]
        if not active:
            total = figures
        elif keys[active[0]] is not None:  # by counter or officer: tickets never called are not counted
            out[groups[active[0]]][keys[active[0]]] = figures
    if total is None:  # no tickets at all
        total = _figures(0, 0, 0, (0, None, None, None), 0, (0, None, None, None), {}, satisfied_min)
    return out, total


# ---- tickets by channel (kiosk, staff, online, appointment) -------------------------------------------
CHANNELS = ("kiosk", "staff", "online", "appointment")
_CHANNEL_KEYS = {"field": Ticket.field_id, "counter": Ticket.counter_id, "officer": Ticket.officer_id, "day": Ticket.day}


def _no_channels() -> dict:
    return dict.fromkeys(CHANNELS, 0)


def _by_channel(s, centre_id: int, d_from: date, d_to: date, tz: ZoneInfo, groups) -> tuple[dict, dict]:
    """Issued tickets per group key and channel (GET /stats rows' `by_channel`), and the total."""
    in_range = (Ticket.centre_id == centre_id, Ticket.day >= d_from, Ticket.day <= d_to)
    out: dict = {}
    for g in groups:
        counts: dict = {}
        if g == "hour":
            for at, channel in s.execute(select(Ticket.issued_at, Ticket.channel).where(*in_range)):
                c = counts.setdefault(at.astimezone(tz).hour, _no_channels())
                c[channel] = c.get(channel, 0) + 1
        else:
            key = _CHANNEL_KEYS[g]
            for k, channel, n in s.execute(select(key, Ticket.channel, func.count(Ticket.id)).where(*in_range)
                                           .group_by(key, Ticket.channel)):
                c = counts.setdefault(k, _no_channels())
                c[channel] = c.get(channel, 0) + n
        out[g] = counts
    total = _no_channels()
    for channel, n in s.execute(select(Ticket.channel, func.count(Ticket.id)).where(*in_range).group_by(Ticket.channel)):
        total[channel] = total.get(channel, 0) + n
    return out, total


# ---- both -----------------------------------------------------------------------------------------
@dataclass
class _Names:
    fields: dict
    counters: dict
    users: dict


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def compute_groups(db: Database, centre_id: int, d_from: date, d_to: date,
                   groups: tuple[str, ...] | list[str] = GROUPS) -> dict:
    """Statistics of the local days d_from..d_to for several groups at once.

    → {"from", "to", "total": row, "groups": {group: [row, …]}, "rating_levels": [{score, label}, …]
       (best first), "satisfied_min", "target_wait_min"}
    """
    groups = tuple(groups)
    for g in groups:
        if g not in GROUPS:
            raise ValueError(g)
    with db.read() as s:
        centre = s.get(Centre, centre_id)
        cfg = Settings.of(centre)
        tz = cfg.tz
        satisfied_min = cfg.rating.satisfied_min
        default_target_min = cfg.queue.target_wait_min
        names = _Names(
            fields={f.id: f for f in s.execute(select(Field).where(Field.centre_id == centre_id)).scalars()},
            counters={c.id: c for c in s.execute(select(Counter).where(Counter.centre_id == centre_id)).scalars()},
            users={u.id: u for u in s.execute(select(User).where(User.centre_id == centre_id)).scalars()})
        if db.sqlite:
            target_us = {fid: (f.target_wait_min or default_target_min) * 60 * US for fid, f in names.fields.items()}
            by_group, total = _python_aggregate(s, centre_id, d_from, d_to, tz, groups, target_us,
                                                default_target_min * 60 * US, satisfied_min)
        else:
            by_group, total = _pg_aggregate(s, centre_id, d_from, d_to, tz, groups, default_target_min,
                                            satisfied_min)
        channels, channels_total = _by_channel(s, centre_id, d_from, d_to, tz, groups)
    out_groups = {}
    for g in groups:
        found = by_group[g]
        out_groups[g] = [{"key": _out_key(g, k, names), "label": _label(g, k, names), **found[k],
                          "by_channel": channels[g].get(k, _no_channels())}
                         for k in sorted(found, key=lambda k: _order(g, k, names))]
    total = {**total, "by_channel": channels_total}
    levels = [lv.model_dump() for lv in sorted(cfg.rating.levels, key=lambda lv: -lv.score)]
    return {"from": d_from.isoformat(), "to": d_to.isoformat(), "total": {"key": None, "label": None, **total},
            "groups": out_groups, "rating_levels": levels, "satisfied_min": satisfied_min,
            "target_wait_min": default_target_min}


def compute_stats(db: Database, centre_id: int, d_from: date, d_to: date, group: str) -> dict:
    """The body of GET /api/v1/stats: {from, to, group, rows, total}."""
    if group not in GROUPS:
        raise ValueError(group)
    res = compute_groups(db, centre_id, d_from, d_to, (group,))
    return {"from": res["from"], "to": res["to"], "group": group, "rows": res["groups"][group],
            "total": res["total"]}


def _label(group: str, k, names: _Names) -> str:
    if group == "field":
        return names.fields[k].name if k in names.fields else str(k)
    if group == "counter":
        c = names.counters.get(k)
        return (c.name or str(c.number)) if c else str(k)
    if group == "officer":
        u = names.users.get(k)
        return (u.full_name or u.username) if u else str(k)
    if group == "hour":
        return f"{k:02d}:00–{k:02d}:59"
    return k.strftime("%d/%m/%Y")


def _out_key(group: str, k, names: _Names):
    if group == "field":
        return names.fields[k].code if k in names.fields else str(k)
    if group == "counter":
        return names.counters[k].number if k in names.counters else k
    if group == "officer":
        return names.users[k].username if k in names.users else str(k)
    if group == "day":
        return k.isoformat()
    return k


def _order(group: str, k, names: _Names):
    if group == "field":
        f = names.fields.get(k)
        return (f.position if f else 1_000_000, str(k))
    if group == "counter":
        c = names.counters.get(k)
        return (c.number if c else 1_000_000, 0)
    if group == "officer":
        return (0, _label(group, k, names))
    return (0, k)
