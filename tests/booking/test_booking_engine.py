"""Online numbers through the engine on a frozen clock: shared numbering, caps, limits, check-in, lapse."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import HCM, make_engine, small_config_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.models import Booking, Ticket, TicketEvent
from sqlalchemy import select


def booking_config(**booking) -> dict:
    data = small_config_data()
    data["booking"].update(booking)
    return data


@pytest.fixture
def bk(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, booking_config(lapse_at="11:00", lapse_after_call_min=15))
    yield e, cid
    e.db.dispose()


def test_online_numbers_share_the_walk_in_sequence(bk):
    e, cid = bk
    a = e.issue(cid, "dat-dai").value
    b = e.booking.book(cid, "dat-dai", citizen_key="c1").value
    c = e.issue(cid, "dat-dai").value
    assert [a["number"], b["number"], c["number"]] == ["2001", "2002", "2003"]
    assert b["kind"] == "number" and b["status"] == "booked" and b["day"] == "2026-11-23"
    assert len(b["code"]) == 7 and b["slot"] is None
    assert b["check_in_by"] == "2026-11-23T11:00:00+07:00"
    token = b["track_url"].rsplit("/", 1)[1]
    t = e.track(cid, token)
    assert t["number"] == "2002" and t["status"] == "waiting" and t["ahead"] == 1
    with e.db.read() as s:
        assert s.execute(select(Ticket.channel).where(Ticket.number == "2002")).scalar_one() == "online"


def test_booking_events_carry_seq(bk):
    e, cid = bk
    res = e.booking.book(cid, "bhxh", citizen_key="c1")
    types = [ev.type for ev in res.events]
    assert types == ["ticket.issued", "booking.created", "queue.changed"]
    seqs = [ev.seq for ev in res.events]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert "citizen_key" not in str(res.events[1].payload)


def test_request_id_replays_the_booking(bk):
    e, cid = bk
    first = e.booking.book(cid, "bhxh", citizen_key="c1", request_id="r-1")
    again = e.booking.book(cid, "bhxh", citizen_key="c1", request_id="r-1")
    assert first.created and not again.created and again.value == first.value and again.events == []
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "dat-dai", citizen_key="c1", request_id="r-1")
    assert err.value.code == "request_id_reused"


def test_per_citizen_daily_limit(bk):
    e, cid = bk
    e.booking.book(cid, "bhxh", citizen_key="me")
    e.booking.book(cid, "dat-dai", citizen_key="me")
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "bhxh", citizen_key="me")
    assert err.value.code == "booking_limit"
    e.booking.book(cid, "bhxh", citizen_key="someone-else")
    tomorrow = "2026-11-24"
    e.booking.book(cid, "bhxh", day=tomorrow, citizen_key="me")  # the limit is per day


def test_a_number_given_back_frees_the_citizens_quota(bk):
    e, cid = bk
    b1 = e.booking.book(cid, "bhxh", citizen_key="me").value
    e.booking.book(cid, "bhxh", citizen_key="me")
    e.cancel(cid, b1["track_url"].rsplit("/", 1)[1])
    e.booking.book(cid, "bhxh", citizen_key="me")


def test_online_share_cap(tmp_path, frozen_clock):
    data = booking_config(online_share=0.5, field_caps={"bhxh": 2})
    for f in data["fields"]:
        if f["code"] == "dat-dai":
            f["daily_cap"] = 4
    e, cid = make_engine(tmp_path, data)
    for i in range(2):
        e.booking.book(cid, "dat-dai", citizen_key=f"c{i}")
        e.booking.book(cid, "bhxh", citizen_key=f"c{i}")
    for field in ("dat-dai", "bhxh"):
        with pytest.raises(Conflict) as err:
            e.booking.book(cid, field, citizen_key="late")
        assert err.value.code == "daily_cap_reached" and err.value.params["reason"] == "online_cap_reached"
    # walk-ins still get the rest of the field's numbers, then the field is full for everyone
    assert [e.issue(cid, "dat-dai").value["number"] for _ in range(2)] == ["2003", "2004"]
    with pytest.raises(Conflict):
        e.issue(cid, "dat-dai")
    opts = {f["code"]: f for f in e.booking.options(cid)["fields"]}
    assert opts["dat-dai"]["days"][0]["free"] == 0 and opts["bhxh"]["days"][0]["free"] == 0
    assert opts["bhxh"]["days"][1]["free"] == 2


def test_walk_ins_filling_the_field_close_online_booking(tmp_path, frozen_clock):
    data = booking_config(online_share=1.0)
    for f in data["fields"]:
        if f["code"] == "bhxh":
            f["daily_cap"] = 2
    e, cid = make_engine(tmp_path, data)
    e.issue(cid, "bhxh"), e.issue(cid, "bhxh")
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "bhxh", citizen_key="x")
    assert err.value.code == "daily_cap_reached"


def test_booking_hours_horizon_and_closed_fields(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, booking_config(hours=["10:00-16:00"], horizon_days=2,
                                                  closed_fields=["tu-phap-ho-tich"]))
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "bhxh")  # 09:00
    assert err.value.code == "booking_closed" and err.value.params["reason"] == "outside_booking_hours"
    frozen_clock.advance(hours=1)
    e.booking.book(cid, "bhxh", day="2026-11-25")
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "bhxh", day="2026-11-26")
    assert err.value.params["reason"] == "outside_horizon"
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "tu-phap-ho-tich")
    assert err.value.params["reason"] == "field_closed"
    with pytest.raises(BadRequest):
        e.booking.book(cid, "bhxh", day="tomorrow")
    with pytest.raises(NotFound):
        e.booking.book(cid, "nope")
    opts = {f["code"]: f for f in e.booking.options(cid)["fields"]}
    assert [d["day"] for d in opts["bhxh"]["days"]] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert opts["tu-phap-ho-tich"]["online_open"] is False and opts["tu-phap-ho-tich"]["days"] == []


def test_today_closes_at_the_lapse_hour(bk, frozen_clock):
    e, cid = bk
    frozen_clock.set(datetime(2026, 11, 23, 11, 0, tzinfo=HCM))
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "bhxh")
    assert err.value.params["reason"] == "day_over"
    assert e.booking.book(cid, "bhxh", day="2026-11-24").value["number"] == "6501"


def test_a_later_days_number_joins_that_days_sequence(bk, frozen_clock):
    e, cid = bk
    b = e.booking.book(cid, "bhxh", day="2026-11-24", citizen_key="x").value
    assert b["number"] == "6501"
    assert e.issue(cid, "bhxh").value["number"] == "6501"  # today's sequence is its own
    with pytest.raises(Conflict) as err:
        e.booking.check_in(cid, b["code"])
    assert err.value.code == "too_early"
    frozen_clock.set(datetime(2026, 11, 24, 7, 0, tzinfo=HCM))
    e.close_days(cid)
    assert e.issue(cid, "bhxh").value["number"] == "6502"
    ticket = e.booking.check_in(cid, b["code"], device_id=None).value
    assert ticket["number"] == "6501" and ticket["status"] == "waiting"
    # the booked number comes first: it was taken before the walk-in
    assert e.call_next(cid, 3).value["ticket"]["number"] == "6501"


def test_check_in_by_code_and_scanned_link(bk):
    e, cid = bk
    b = e.booking.book(cid, "dat-dai", citizen_key="x").value
    res = e.booking.check_in(cid, f"{b['track_url']}?c={b['code']}")
    assert res.value["number"] == b["number"] and res.value["booking"]["status"] == "checked_in"
    assert [ev.type for ev in res.events] == ["booking.checked_in"]
    with pytest.raises(Conflict) as err:
        e.booking.check_in(cid, b["code"].lower())
    assert err.value.code == "already_checked_in"
    with pytest.raises(NotFound):
        e.booking.check_in(cid, "ACDEFHJ")
    with pytest.raises(NotFound):
        e.booking.check_in(cid, "not a code")
    with e.db.read() as s:
        logged = s.execute(select(TicketEvent.type).join(Ticket, Ticket.id == TicketEvent.ticket_id)
                           .where(Ticket.number == b["number"])).scalars().all()
    assert logged == ["ticket.issued", "booking.checked_in"]


def test_lapse_exactly_at_the_hour(bk, frozen_clock):
    e, cid = bk
    b = e.booking.book(cid, "dat-dai", citizen_key="x").value
    kept = e.booking.book(cid, "dat-dai", citizen_key="y").value
    e.booking.check_in(cid, kept["code"])
    due = datetime(2026, 11, 23, 11, 0, tzinfo=HCM)
    frozen_clock.set(due - timedelta(microseconds=1))
    assert e.booking.lapse(cid).value == 0
    frozen_clock.set(due)
    res = e.booking.lapse(cid)
    assert res.value == 1
    assert [ev.type for ev in res.events] == ["ticket.cancelled", "booking.lapsed", "queue.changed"]
    assert res.events[1].payload["reason"] == "hour"
    with e.db.read() as s:
        row = s.execute(select(Booking).where(Booking.code == b["code"])).scalar_one()
        assert row.status == "lapsed" and row.lapsed_at == due and row.lapse_reason == "hour"
        assert row.ticket.status == "cancelled" and row.ticket.cancel_reason == "lapsed" and row.ticket.ended_at == due
    with pytest.raises(Conflict) as err:
        e.booking.check_in(cid, b["code"])
    assert err.value.code == "lapsed"
    assert e.booking.lapse(cid).value == 0  # once


def test_lapse_minutes_after_the_first_call(bk, frozen_clock):
    e, cid = bk
    b = e.booking.book(cid, "bhxh", citizen_key="x").value
    e.call_next(cid, 3)
    called = frozen_clock.now()
    frozen_clock.advance(minutes=1)
    e.skip(cid, 3)  # absent: back in the queue
    due = called + timedelta(minutes=15)
    frozen_clock.set(due - timedelta(seconds=1))
    assert e.booking.lapse(cid).value == 0
    frozen_clock.set(due)
    res = e.booking.lapse(cid)
    assert res.value == 1 and res.events[1].payload["reason"] == "after_call"


def test_check_in_after_the_rule_time_is_lapsed_even_before_the_janitor(bk, frozen_clock):
    e, cid = bk
    b = e.booking.book(cid, "bhxh", citizen_key="x").value
    frozen_clock.set(datetime(2026, 11, 23, 11, 0, tzinfo=HCM))
    with pytest.raises(Conflict) as err:
        e.booking.check_in(cid, b["code"])
    assert err.value.code == "lapsed"


def test_a_number_served_without_check_in_never_lapses(bk, frozen_clock):
    e, cid = bk
    b = e.booking.book(cid, "bhxh", citizen_key="x").value
    e.call_next(cid, 3)
    e.complete(cid, 3)
    frozen_clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=HCM))
    assert e.booking.lapse(cid).value == 0
    with e.db.read() as s:
        assert s.execute(select(Booking.status).where(Booking.code == b["code"])).scalar_one() == "booked"


def test_day_closing_and_no_show_count_as_lapsed(tmp_path, frozen_clock):
    data = booking_config(lapse_at=None, lapse_after_call_min=None)
    data["queue"] = {**data.get("queue", {}), "skip_action": "no_show"}
    e, cid = make_engine(tmp_path, data)
    absent = e.booking.book(cid, "bhxh", citizen_key="x").value
    e.call_next(cid, 3)
    e.skip(cid, 3)  # no-show
    left = e.booking.book(cid, "bhxh", citizen_key="y").value
    frozen_clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=HCM))
    e.close_days(cid)  # the janitor may close the day first
    res = e.booking.lapse(cid)
    assert res.value == 2
    reasons = {ev.payload["booking"]["code"]: ev.payload["reason"] for ev in res.events if ev.type == "booking.lapsed"}
    assert reasons == {absent["code"]: "no_show", left["code"]: "day_closed"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["walk", "online"]), st.sampled_from(["dat-dai", "bhxh"]),
                          st.integers(0, 5)), min_size=1, max_size=40))
def test_property_online_and_walk_in_numbers_never_collide(tmp_path_factory, frozen_clock, steps):
    data = booking_config(online_share=0.5, per_citizen_daily=2)
    for f in data["fields"]:
        f["daily_cap"] = 20
    e, cid = make_engine(tmp_path_factory.mktemp("p"), data)
    try:
        given_out = []
        per_citizen, online = {}, {}
        for kind, field, citizen in steps:
            try:
                if kind == "walk":
                    given_out.append((field, e.issue(cid, field).value["number"]))
                else:
                    given_out.append((field, e.booking.book(cid, field, citizen_key=f"c{citizen}").value["number"]))
                    per_citizen[citizen] = per_citizen.get(citizen, 0) + 1
                    online[field] = online.get(field, 0) + 1
            except Conflict as err:
                assert err.code in ("booking_limit", "daily_cap_reached")
        assert len(set(given_out)) == len(given_out)
        assert all(n <= 2 for n in per_citizen.values()) and all(n <= 10 for n in online.values())
        for field in ("dat-dai", "bhxh"):
            nums = sorted(int(n) for f, n in given_out if f == field)
            assert nums == list(range(nums[0], nums[0] + len(nums))) if nums else True  # no gaps, no repeats
    finally:
        e.db.dispose()


def test_the_janitor_lapses_bookings(app, svc, cid, frozen_clock):
    try:  # the janitor moves to a module of its own
        from layso.server.janitor import run_janitor
    except ImportError:
        from layso.server.janitor import run_janitor
    published = []
    svc.publish = published.extend
    b = svc.engine.booking.book(cid, "bhxh", citizen_key="x").value
    run_janitor(svc)
    assert "booking.lapsed" not in [ev.type for ev in published]
    frozen_clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=HCM))  # open all hours: lapse at midnight's closing
    run_janitor(svc)
    lapsed = [ev for ev in published if ev.type == "booking.lapsed"]
    assert [ev.payload["booking"]["code"] for ev in lapsed] == [b["code"]]
    assert lapsed[0].payload["reason"] == "closing"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stats_rows_count_tickets_by_channel(tmp_path, frozen_clock, backend, request):
    from layso.server.queries.stats import compute_stats
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    e, cid = make_engine(tmp_path, booking_config(appointment_fields=["dat-dai"]), url=url)
    try:
        e.issue(cid, "bhxh"), e.issue(cid, "bhxh", channel="staff")
        e.booking.book(cid, "bhxh", citizen_key="a")
        b = e.booking.book(cid, "dat-dai", slot="09:00", citizen_key="b").value
        e.booking.check_in(cid, b["code"])
        e.booking.book(cid, "dat-dai", day="2026-11-24", citizen_key="c")  # another day: not in the range
        day = "2026-11-23"
        from datetime import date
        res = compute_stats(e.db, cid, date.fromisoformat(day), date.fromisoformat(day), "field")
        rows = {r["key"]: r["by_channel"] for r in res["rows"]}
        assert rows["bhxh"] == {"kiosk": 1, "staff": 1, "online": 1, "appointment": 0}
        assert rows["dat-dai"] == {"kiosk": 0, "staff": 0, "online": 0, "appointment": 1}
        assert res["total"]["by_channel"] == {"kiosk": 1, "staff": 1, "online": 1, "appointment": 1}
        by_hour = compute_stats(e.db, cid, date.fromisoformat(day), date.fromisoformat(day), "hour")
        assert by_hour["rows"][0]["key"] == 9 and sum(by_hour["rows"][0]["by_channel"].values()) == 4
    finally:
        e.db.dispose()
