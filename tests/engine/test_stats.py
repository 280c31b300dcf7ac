"""Statistics checked against an independent computation over the raw event log, on generated data
(SQLite and PostgreSQL), and the definitions on a hand-played day around local midnight."""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest
from conftest import HCM, make_engine, seat_officers, small_config_data
from layso.server.queries.stats import COLUMNS, GROUPS, compute_groups, compute_stats
from layso.server.storage.models import (
    Centre,
    Counter,
    Field,
    Rating,
    Ticket,
    TicketEvent,
    User,
)
from sqlalchemy import select


def stats_config() -> dict:
    data = small_config_data()
    for f in data["fields"]:
        if f["code"] == "bhxh":
            f["target_wait_min"] = 10  # a field's own target beside the centre's 30 minutes
    return data


# ---- the independent computation: plain Python over the event log ------------------------------------
def nearest_rank(values: list, p: int):
    ordered = sorted(values)
    return ordered[math.ceil(Fraction(p, 100) * len(ordered)) - 1]


def half_up(x: Fraction) -> float:
    """Seconds rounded half up to the millisecond (the statistics' precision)."""
    return math.floor(x * 1000 + Fraction(1, 2)) / 1000


def seconds(td: timedelta) -> Fraction:
    return Fraction((td.days * 86400 + td.seconds) * 10**6 + td.microseconds, 10**6)


def independent(db, centre_id: int, d_from: date, d_to: date) -> dict:
    """{group: {key: row}} and the total, from ticket_events, the tickets' issue field and ratings."""
    with db.read() as s:
        centre = s.get(Centre, centre_id)
        fields = {f.id: f for f in s.execute(select(Field)).scalars()}
        by_code = {f.code: f for f in fields.values()}
        counters = {c.id: c.number for c in s.execute(select(Counter)).scalars()}
        users = {u.id: u.username for u in s.execute(select(User)).scalars()}
        issue_field = dict(s.execute(select(Ticket.id, Ticket.issue_field_id)).all())
        events = s.execute(select(TicketEvent).order_by(TicketEvent.seq)).scalars().all()
        scores = dict(s.execute(select(Rating.ticket_id, Rating.score)).all())
        settings = centre.settings
    default_target = settings["queue"]["target_wait_min"]
    satisfied_min = settings["rating"]["satisfied_min"]
    tickets: dict[int, dict] = {}
    for ev in events:
        t = tickets.setdefault(ev.ticket_id, {"calls": [], "status": "waiting"})
        if ev.type == "ticket.issued":
            t["issued"] = ev.at
            t["field"] = fields[issue_field[ev.ticket_id]].code
        elif ev.type in ("ticket.called", "ticket.recalled"):
            t["calls"].append(ev.at)
            if ev.type == "ticket.called":
                t.setdefault("first_called", ev.at)
                t["counter"], t["officer"] = counters[ev.counter_id], users.get(ev.officer_id)
                t["calls"] = [ev.at]
            t["status"] = "called"
        elif ev.type == "ticket.transferred" and "to_field" in ev.data:
            t["field"] = ev.data["to_field"]
        elif ev.type == "ticket.skipped":
            t["status"] = ev.data["outcome"]
        elif ev.type == "ticket.completed":
            t["status"], t["completed"] = "done", ev.at
        elif ev.type == "ticket.cancelled":
            t["status"] = "cancelled"
    groups: dict[str, dict] = {g: defaultdict(list) for g in GROUPS}
    everything = []
    for tid, t in tickets.items():
        local = t["issued"].astimezone(HCM)
        if not d_from <= local.date() <= d_to:
            continue
        t["score"] = scores.get(tid)
        everything.append(t)
        groups["field"][t["field"]].append(t)
        groups["hour"][local.hour].append(t)
        groups["day"][local.date().isoformat()].append(t)
        if "counter" in t:
            groups["counter"][t["counter"]].append(t)
        if t.get("officer") is not None:
            groups["officer"][t["officer"]].append(t)

    def row(ts: list[dict]) -> dict:
        waits = [(seconds(t["first_called"] - t["issued"]), t["field"]) for t in ts if "first_called" in t]
        services = [seconds(t["completed"] - t["calls"][-1]) for t in ts if t["status"] == "done"]
        rated = [t["score"] for t in ts if t["score"] is not None]
        within = sum(1 for w, f in waits if w <= 60 * (by_code[f].target_wait_min or default_target))
        w = [x for x, _f in waits]

        def figures(values):
            if not values:
                return None, None, None
            return half_up(sum(values) / len(values)), half_up(nearest_rank(values, 50)), half_up(nearest_rank(values, 90))

        wm, wmed, wp90 = figures(w)
        sm, smed, sp90 = figures(services)
        return {"issued": len(ts), "served": sum(t["status"] == "done" for t in ts),
                "no_show": sum(t["status"] == "no_show" for t in ts),
                "wait_mean_s": wm, "wait_median_s": wmed, "wait_p90_s": wp90,
                "service_mean_s": sm, "service_median_s": smed, "service_p90_s": sp90,
                "within_target_share": round(within / len(w), 4) if w else None,
                "rated": len(rated),
                "satisfied_share": round(sum(x >= satisfied_min for x in rated) / len(rated), 4) if rated else None,
                "rating_counts": {str(k): rated.count(k) for k in sorted(set(rated), reverse=True)}}

    return {"total": row(everything), **{g: {k: row(v) for k, v in groups[g].items()} for g in GROUPS}}


def check_against_independent(db, centre_id: int, d_from: date, d_to: date) -> dict:
    expected = independent(db, centre_id, d_from, d_to)
    got = compute_groups(db, centre_id, d_from, d_to)
    total = dict(got["total"])
    total.pop("key"), total.pop("label")
    assert sum(total.pop("by_channel").values()) == total["issued"]  # channels: tests/booking
    assert total == expected["total"]
    for g in GROUPS:
        assert all(sum(r["by_channel"].values()) == r["issued"] for r in got["groups"][g]), g
        rows = {r["key"]: {k: v for k, v in r.items() if k not in ("key", "label", "by_channel")}
                for r in got["groups"][g]}
        assert rows == expected[g], g
    return got


def generated(db_url: str, tmp_path, days: int = 5, tickets: int = 1400):
    from layso.bench import year as gen
    e, cid = make_engine(tmp_path, stats_config(), url=db_url)
    summary = gen.generate(e.db, cid, date(2026, 3, 2), days=days, tickets=tickets, seed=7)
    return e, cid, summary


def test_figures_equal_an_independent_computation_on_generated_data(tmp_path):
    e, cid, summary = generated(f"sqlite:///{tmp_path / 'gen.db'}", tmp_path)
    try:
        assert summary.tickets > 1000 and summary.ratings > 200
        got = check_against_independent(e.db, cid, date(2026, 3, 3), date(2026, 3, 5))
        t = got["total"]
        # the generated days have what the definitions must cope with
        assert 0 < t["no_show"] < t["issued"] and t["served"] < t["issued"]
        assert len(t["rating_counts"]) >= 3
        hours = [r["key"] for r in got["groups"]["hour"]]
        assert 0 in hours and 23 in hours  # open all hours: local-midnight boundaries are exercised
        with e.db.read() as s:
            assert s.execute(select(TicketEvent.id).where(TicketEvent.type == "ticket.transferred")).first()
        check_against_independent(e.db, cid, date(2026, 3, 2), date(2026, 3, 2))
    finally:
        e.db.dispose()


@pytest.mark.postgres
def test_figures_on_postgresql_equal_the_independent_computation(tmp_path, pg_url):
    e, cid, _summary = generated(pg_url, tmp_path, days=3, tickets=700)
    try:
        check_against_independent(e.db, cid, date(2026, 3, 3), date(2026, 3, 4))
    finally:
        e.db.dispose()


def test_generated_ratings_chain_like_the_engine(tmp_path):
    from layso.server.domain import rating
    e, cid, _summary = generated(f"sqlite:///{tmp_path / 'gen.db'}", tmp_path, days=2, tickets=300)
    try:
        with e.db.read() as s:
            ratings = s.execute(select(Rating).order_by(Rating.id)).scalars().all()
            tickets = {t.id: t for t in s.execute(select(Ticket)).scalars()}
        prev = rating.GENESIS
        for r in ratings:
            t = tickets[r.ticket_id]
            assert t.status == "done" and r.at > t.completed_at and r.prev_hash == prev
            body = rating.body(t.id, r.score, r.reasons, r.comment, t.officer_id, t.counter_id, t.field_id,
                               t.dossier_code, r.source, r.at)
            assert r.hash == rating.chain_hash(prev, body)
            prev = r.hash
    finally:
        e.db.dispose()


# ---- the definitions, on a day played through the engine ------------------------------------------------
def test_definitions_on_a_day_around_local_midnight(tmp_path, frozen_clock):
    from layso.server.engine.accounts import add_user
    e, cid = make_engine(tmp_path, stats_config(), officers=False)
    lan = add_user(e.db, "lan", "staff", "password-123", full_name="Nguyễn Thị Lan")
    minh = add_user(e.db, "minh", "staff", "password-123", full_name="Trần Văn Minh")
    frozen_clock.set(datetime(2026, 11, 23, 23, 50, tzinfo=HCM))
    e.sign_in(cid, 1, lan)
    late = e.issue(cid, "dat-dai").value  # 23:50 local on the 23rd (16:50 UTC)
    frozen_clock.advance(minutes=5)
    e.call_next(cid, 1)  # wait 5 min
    frozen_clock.advance(minutes=1)
    e.recall(cid, 1)  # service counts from this last call
    frozen_clock.advance(minutes=3)
    e.complete(cid, 1)  # service 3 min
    e.rate(cid, 4, ticket_id=late["id"], counter_number=1)
    frozen_clock.set(datetime(2026, 11, 24, 0, 10, tzinfo=HCM))  # the next local day
    a = e.issue(cid, "dat-dai").value
    e.issue(cid, "dat-dai")  # b: still waiting at the end of the day
    frozen_clock.advance(minutes=20)
    e.call_next(cid, 1)  # a: wait 20 min, then sent to bhxh (target 10 min there)
    e.transfer(cid, 1, to_field="bhxh")
    frozen_clock.advance(minutes=1)
    e.sign_in(cid, 2, minh)
    e.call_next(cid, 2)  # a again, at counter 2, by another officer
    frozen_clock.advance(minutes=7)
    e.complete(cid, 2)
    e.rate(cid, 1, reasons=["Chờ lâu"], ticket_id=a["id"], counter_number=2)
    e.call_next(cid, 1)  # b: absent twice → no-show
    e.skip(cid, 1)
    e.call_next(cid, 1)
    e.skip(cid, 1)
    e.issue(cid, "tu-phap-ho-tich")  # waits; never called

    day1 = compute_stats(e.db, cid, date(2026, 11, 23), date(2026, 11, 23), "field")
    assert [r["key"] for r in day1["rows"]] == ["dat-dai"]
    r = day1["rows"][0]
    assert (r["issued"], r["served"], r["wait_mean_s"], r["service_mean_s"]) == (1, 1, 300, 180)
    assert (r["rated"], r["satisfied_share"], r["rating_counts"]) == (1, 1.0, {"4": 1})

    day2 = compute_stats(e.db, cid, date(2026, 11, 24), date(2026, 11, 24), "field")
    rows = {r["key"]: r for r in day2["rows"]}
    assert set(rows) == {"dat-dai", "bhxh", "tu-phap-ho-tich"}
    assert rows["bhxh"]["issued"] == 1 and rows["bhxh"]["served"] == 1  # counted where it ended
    assert rows["bhxh"]["wait_mean_s"] == 1200 and rows["bhxh"]["within_target_share"] == 0.0
    assert rows["bhxh"]["service_mean_s"] == 420 and rows["bhxh"]["satisfied_share"] == 0.0
    assert rows["dat-dai"]["no_show"] == 1 and rows["dat-dai"]["within_target_share"] == 1.0
    assert rows["tu-phap-ho-tich"]["wait_mean_s"] is None and rows["tu-phap-ho-tich"]["issued"] == 1
    assert day2["total"]["issued"] == 3 and day2["total"]["rated"] == 1

    by_hour = compute_stats(e.db, cid, date(2026, 11, 23), date(2026, 11, 24), "hour")
    assert [(r["key"], r["issued"]) for r in by_hour["rows"]] == [(0, 3), (23, 1)]
    by_counter = compute_stats(e.db, cid, date(2026, 11, 23), date(2026, 11, 24), "counter")
    assert [(r["key"], r["issued"]) for r in by_counter["rows"]] == [(1, 2), (2, 1)]  # never called: left out
    by_officer = compute_stats(e.db, cid, date(2026, 11, 23), date(2026, 11, 24), "officer")
    assert [(r["key"], r["label"], r["issued"]) for r in by_officer["rows"]] == [("lan", "Nguyễn Thị Lan", 2),
                                                                                ("minh", "Trần Văn Minh", 1)]
    by_day = compute_stats(e.db, cid, date(2026, 11, 23), date(2026, 11, 24), "day")
    assert [(r["key"], r["label"], r["issued"]) for r in by_day["rows"]] == [
        ("2026-11-23", "23/11/2026", 1), ("2026-11-24", "24/11/2026", 3)]
    check_against_independent(e.db, cid, date(2026, 11, 23), date(2026, 11, 24))
    e.db.dispose()


def test_api_answers_the_contract_keys(app):
    from layso.server.engine.accounts import add_user
    db = app.extensions["layso"].db
    add_user(db, "sep", "manager", "password-123")
    client = app.test_client()
    assert client.post("/api/v1/session", json={"username": "sep", "password": "password-123"}).status_code == 200
    body = client.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group=officer").get_json()
    assert set(body) >= {"from", "to", "group", "rows"} and body["rows"] == []
    eng = app.extensions["layso"].engine
    cid = 1
    seat_officers(db, cid)
    eng.issue(cid, "bhxh")
    eng.call_next(cid, 2)
    eng.complete(cid, 2)
    body = client.get("/api/v1/stats?from=2026-11-23&to=2026-11-23&group=field").get_json()
    assert body["group"] == "field" and len(body["rows"]) == 1
    assert set(body["rows"][0]) >= {"key", "label", *COLUMNS}
    assert body["rows"][0]["key"] == "bhxh" and body["rows"][0]["served"] == 1
