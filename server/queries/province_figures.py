"""The dashboard's statistics for many centres at once, for the province's tables and month report.

The figures are `queries.stats`'s own (`_figures`: counts, mean / median / p90 of waits and
services by the nearest rank, the share within the target wait, rating counts) with each centre's
own target wait and satisfied score — equal to what `compute_groups(…, ("field",))` gives centre by
centre (a test compares them), without what the province does not show (tickets by channel) and
without one round of queries per centre:

- `exact`: per centre and field, and per centre. PostgreSQL computes it in one aggregate query for
  every centre (GROUPING SETS, percentile_disc); SQLite has no percentile aggregate, so it fetches
  the range's tickets as plain numbers with their ratings' scores — one centre at a time, so the
  memory stays that of one centre — and Python aggregates them.
- `counts`: what adds up across centres (issued, served, no-show, rating counts) per centre and
  field or day, counted by the database in two grouped queries for all centres.
"""
from __future__ import annotations

from collections import Counter as Tally
from collections import defaultdict
from datetime import date

from layso.server.domain import figures as rules
from layso.server.domain.statuses import TicketStatus
from layso.server.engine import Settings
from layso.server.queries.stats import SCORES, SERVICE_PG, SERVICE_SQLITE, US, WAIT_PG, WAIT_SQLITE, _figures
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Field, Rating, Ticket
from sqlalchemy import case, func, select, text

DONE, NO_SHOW = TicketStatus.DONE, TicketStatus.NO_SHOW


def settings_of(s, ids: list[int]) -> dict[int, tuple[int, int]]:
    """{centre id: (satisfied_min, default target wait in minutes)}."""
    out = {}
    for c in s.execute(select(Centre).where(Centre.id.in_(ids))).scalars():
        cfg = Settings.of(c)
        out[c.id] = (cfg.rating.satisfied_min, cfg.queue.target_wait_min)
    return out


# ---- exact figures per centre and field ------------------------------------------------------------
def exact(db: Database, ids: list[int], d_from: date, d_to: date) -> tuple[dict, dict]:
    """({centre id: {"total": figures, "field": {field id: figures}}}, {centre id: satisfied_min})."""
    if not ids:
        return {}, {}
    with db.read() as s:
        conf = settings_of(s, ids)
        targets = {fid: (t or conf[cid][1]) * 60 * US for fid, cid, t in s.execute(
            select(Field.id, Field.centre_id, Field.target_wait_min).where(Field.centre_id.in_(ids)))}
        if db.sqlite:
            out = {cid: _sqlite_centre(s, cid, d_from, d_to, targets, conf[cid]) for cid in ids}
        else:
            out = _pg_all(s, ids, d_from, d_to, conf)
    return out, {cid: conf[cid][0] for cid in ids}


_TICKETS_SQLITE = f"""
SELECT t.field_id, t.status, {WAIT_SQLITE}, {SERVICE_SQLITE}, r.score
FROM tickets t LEFT JOIN ratings r ON r.ticket_id = t.id WHERE t.centre_id = ? AND t.day >= ? AND t.day <= ?
"""


def _sqlite_centre(s, cid: int, d_from: date, d_to: date, targets: dict, conf: tuple) -> dict:
    """One centre's tickets of the range as plain numbers (durations exact in SQL, each with its rating's
    score), aggregated by field and in all."""
    satisfied_min, default_target = conf
    cur = s.connection().connection.driver_connection.cursor()
    try:
        rows = cur.execute(_TICKETS_SQLITE, (cid, d_from.isoformat(), d_to.isoformat())).fetchall()
    finally:
        cur.close()
    by_field: dict[int, list] = defaultdict(list)
    for r in rows:
        by_field[r[0]].append(r)
    default_us = default_target * 60 * US
    parts = {fid: _part(rs, targets.get(fid, default_us)) for fid, rs in by_field.items()}
    whole = [sum(p[i] for p in parts.values()) for i in range(4)] + \
        [[w for p in parts.values() for w in p[4]], [v for p in parts.values() for v in p[5]],
         sum((p[6] for p in parts.values()), Tally())]
    return {"total": _part_figures(whole, satisfied_min) if rows else _empty(satisfied_min),
            "field": {fid: _part_figures(p, satisfied_min) for fid, p in parts.items()}}


def _part(rows: list, target_us: int) -> list:
    """[issued, served, no-show, within target, waits, services, rating counts] of some tickets."""
    waits = [r[2] for r in rows if r[2] is not None]
    statuses = [r[1] for r in rows]
    scores = Tally([r[4] for r in rows])
    scores.pop(None, None)
    return [len(rows), statuses.count(DONE), statuses.count(NO_SHOW), sum(1 for w in waits if w <= target_us),
            waits, [r[3] for r in rows if r[3] is not None], scores]


def _part_figures(p: list, satisfied_min: int) -> dict:
    issued, served, no_show, within, waits, services, tally = p
    return _figures(issued, served, no_show, (len(waits), *rules.summary(waits)), within,
                    (len(services), *rules.summary(services)), dict(tally), satisfied_min)


def _empty(satisfied_min: int) -> dict:
    return _figures(0, 0, 0, (0, None, None, None), 0, (0, None, None, None), {}, satisfied_min)


_PG_ALL = f"""
WITH b AS (
  SELECT t.centre_id, t.field_id, t.status,
         {WAIT_PG} AS w, {SERVICE_PG} AS sv,
         COALESCE(f.target_wait_min, d.target_min) * CAST(60000000 AS BIGINT) AS target, r.score
  FROM tickets t JOIN fields f ON f.id = t.field_id
  JOIN unnest(%(ids)s::int[], %(targets)s::int[]) AS d(centre_id, target_min) ON d.centre_id = t.centre_id
  LEFT JOIN ratings r ON r.ticket_id = t.id
  WHERE t.centre_id = ANY(%(ids)s) AND t.day >= %(d_from)s AND t.day <= %(d_to)s
)
SELECT centre_id, field_id, GROUPING(field_id),
       count(*), count(*) FILTER (WHERE status = '{DONE}'), count(*) FILTER (WHERE status = '{NO_SHOW}'),
       count(w), sum(w), percentile_disc(0.5) WITHIN GROUP (ORDER BY w), percentile_disc(0.9) WITHIN GROUP (ORDER BY w),
       count(*) FILTER (WHERE w <= target),
       count(sv), sum(sv), percentile_disc(0.5) WITHIN GROUP (ORDER BY sv), percentile_disc(0.9) WITHIN GROUP (ORDER BY sv),
       {", ".join(f"count(*) FILTER (WHERE score = {n})" for n in SCORES)}
FROM b GROUP BY GROUPING SETS ((centre_id, field_id), (centre_id))
"""


def _pg_all(s, ids: list[int], d_from: date, d_to: date, conf: dict) -> dict:
    """Every centre's figures by field and in all, in one aggregate query."""
    cur = s.connection().connection.driver_connection.cursor()
    try:
        cur.execute(_PG_ALL, {"ids": ids, "targets": [conf[cid][1] for cid in ids], "d_from": d_from, "d_to": d_to})
        rows = cur.fetchall()
    finally:
        cur.close()
    out = {cid: {"total": _empty(conf[cid][0]), "field": {}} for cid in ids}
    for cid, fid, by_centre, issued, served, no_show, w_n, w_sum, w50, w90, within, s_n, s_sum, s50, s90, *scores in rows:
        waits = (w_n, rules.mean_seconds(int(w_sum), w_n), rules.seconds(w50), rules.seconds(w90)) \
            if w_n else (0, None, None, None)
        services = (s_n, rules.mean_seconds(int(s_sum), s_n), rules.seconds(s50), rules.seconds(s90)) \
            if s_n else (0, None, None, None)
        row = _figures(issued, served, no_show, waits, within, services,
                       {score: n for score, n in zip(SCORES, scores) if n}, conf[cid][0])
        if by_centre:
            out[cid]["total"] = row
        else:
            out[cid]["field"][fid] = row
    return out


# ---- what adds up, per centre and field or day --------------------------------------------------------
def counts(db: Database, ids: list[int], d_from: date, d_to: date, key: str) -> tuple[dict, dict]:
    """({centre id: {field id or day: {issued, served, no_show, rated, rating_counts}}}, {centre id:
    satisfied_min}), in two grouped queries for all centres."""
    if not ids:
        return {}, {}
    column = {"field": Ticket.field_id, "day": Ticket.day}[key]
    in_range = (Ticket.centre_id.in_(ids), Ticket.day >= d_from, Ticket.day <= d_to)
    out: dict = defaultdict(dict)
    with db.read() as s:
        conf = settings_of(s, ids)
        for cid, k, issued, served, no_show in s.execute(
                select(Ticket.centre_id, column, func.count(),
                       func.sum(case((Ticket.status == DONE, 1), else_=0)),
                       func.sum(case((Ticket.status == NO_SHOW, 1), else_=0)))
                .where(*in_range).group_by(Ticket.centre_id, column)):
            out[cid][k] = {"issued": issued, "served": served or 0, "no_show": no_show or 0, "rated": 0,
                           "rating_counts": {}}
        for cid, k, score, n in s.execute(
                select(Ticket.centre_id, column, Rating.score, func.count()).join(Rating, Rating.ticket_id == Ticket.id)
                .where(*in_range).group_by(Ticket.centre_id, column, Rating.score)):
            row = out[cid][k]
            row["rated"] += n
            row["rating_counts"][str(score)] = n
    return dict(out), {cid: conf[cid][0] for cid in ids}


# ---- the whole province as one group ----------------------------------------------------------------
def whole(db: Database, ids: list[int], d_from: date, d_to: date) -> dict:
    """The wait and service figures of all these centres' tickets taken together (the province's total
    row): {n, mean, median, p90 of waits, within target, and of services}, exact — the nearest-rank
    values are read by their rank from the sorted durations in the database, so no centre's tickets
    are held in memory."""
    if not ids:
        return {"waits": (0, None, None, None), "within": 0, "services": (0, None, None, None)}
    with db.read() as s:
        conf = settings_of(s, ids)
        wait, service = (WAIT_SQLITE, SERVICE_SQLITE) if db.sqlite else (WAIT_PG, SERVICE_PG)
        default_target = " ".join(f"WHEN :c{i} THEN :t{i}" for i in range(len(ids)))
        params = {"d_from": d_from, "d_to": d_to, **{f"c{i}": cid for i, cid in enumerate(ids)},
                  **{f"t{i}": conf[cid][1] for i, cid in enumerate(ids)}}
        if db.sqlite:
            params = {**params, "d_from": d_from.isoformat(), "d_to": d_to.isoformat()}
        base = (f"SELECT {wait} AS w, {service} AS sv, "
                f"COALESCE(f.target_wait_min, CASE t.centre_id {default_target} END) * CAST(60000000 AS BIGINT) AS target "
                f"FROM tickets t JOIN fields f ON f.id = t.field_id "
                f"WHERE t.centre_id IN ({', '.join(f':c{i}' for i in range(len(ids)))}) "
                f"AND t.day >= :d_from AND t.day <= :d_to")
        w_n, w_sum, within, s_n, s_sum = s.execute(text(
            f"SELECT count(w), sum(w), sum(CASE WHEN w <= target THEN 1 ELSE 0 END), count(sv), sum(sv) "
            f"FROM ({base}) b"), params).one()

        def at_rank(column: str, n: int, p: int) -> int:
            return s.execute(text(f"SELECT {column} FROM ({base}) b WHERE {column} IS NOT NULL "
                                  f"ORDER BY {column} LIMIT 1 OFFSET :k"),
                             {**params, "k": rules.nearest_rank(n, p) - 1}).scalar_one()

        def summary(column: str, n: int, total) -> tuple:
            if not n:
                return 0, None, None, None
            median, p90 = (at_rank(column, n, p) for p in rules.PERCENTILES)
            return n, rules.mean_seconds(int(total), n), rules.seconds(median), rules.seconds(p90)

        return {"waits": summary("w", w_n, w_sum), "within": int(within or 0),
                "services": summary("sv", s_n, s_sum)}
