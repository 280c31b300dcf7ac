"""Appointments on a frozen clock: slots and capacity, check-in window, the order rule against walk-ins
(a property test against the rule), late arrivals, cancel and reschedule, lapse."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import HCM, make_engine, small_config_data
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from layso.server.domain.booking import appointment_queue_pos, slot_capacity, slots_of
from layso.server.errors import BadRequest, Conflict

MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=HCM)


def appt_config(**booking) -> dict:
    data = small_config_data()
    data["booking"].update({"appointment_fields": ["dat-dai"], "slot_minutes": 30, "check_in_before_min": 15,
                            "check_in_after_min": 15, **booking})
    return data


@pytest.fixture
def ap(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, appt_config())
    yield e, cid
    e.db.dispose()


def test_slots_and_capacity_rules():
    iv = [(datetime(2026, 11, 23, 7, 30, tzinfo=HCM), datetime(2026, 11, 23, 11, 30, tzinfo=HCM)),
          (datetime(2026, 11, 23, 13, 0, tzinfo=HCM), datetime(2026, 11, 23, 14, 10, tzinfo=HCM))]
    slots = slots_of(iv, 30)
    assert len(slots) == 8 + 2 and slots[0][0].strftime("%H:%M") == "07:30" and slots[-1][1].strftime("%H:%M") == "14:00"
    assert slot_capacity(3, 30, 10) == 9 and slot_capacity(2, 30, 12.5) == 4 and slot_capacity(0, 30, 10) == 0
    assert slot_capacity(3, 30, 10, set_by_admin=2) == 2


def test_queue_pos_rule_in_isolation():
    slot = MON_9
    before = (slot - timedelta(minutes=5), 10.0, "kiosk")
    later1 = (slot + timedelta(minutes=1), 12.0, "kiosk")
    later2 = (slot + timedelta(minutes=2), 14.0, "online")
    at = slot + timedelta(minutes=5)
    assert appointment_queue_pos(slot, at, [before, later1, later2], 20.0) == 11.0
    assert appointment_queue_pos(slot, at, [before], 20.0) == 20.0
    assert appointment_queue_pos(slot, at, [later1], 20.0) == 11.5
    # checked in early (everyone waiting came before it): it counts from its check-in, at the end
    early = slot - timedelta(minutes=3)
    assert appointment_queue_pos(slot, early, [before], 20.0) == 20.0


def test_options_list_slots_with_places(ap):
    e, cid = ap
    opts = {f["code"]: f for f in e.booking.options(cid)["fields"]}
    assert opts["bhxh"]["days"][0]["slots"] is None
    slots = opts["dat-dai"]["days"][0]["slots"]
    # today from 09:00 on (08:30's window closed at 08:45); dat-dai has 3 counters × 30 min ÷ 10 min = 9
    assert slots[0] == {"start": "2026-11-23T09:00:00+07:00", "end": "2026-11-23T09:30:00+07:00", "free": 9}
    e.booking.book(cid, "dat-dai", slot="09:00", citizen_key="a")
    slots = {f["code"]: f for f in e.booking.options(cid)["fields"]}["dat-dai"]["days"][0]["slots"]
    assert slots[0]["free"] == 8


def test_book_a_slot_then_full(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, appt_config(slot_capacity={"dat-dai": 2}))
    b = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="a").value
    assert b["kind"] == "appointment" and b["number"] is None and b["status"] == "booked"
    assert b["slot"] == {"start": "2026-11-23T10:00:00+07:00", "end": "2026-11-23T10:30:00+07:00"}
    assert b["check_in_by"] == "2026-11-23T10:15:00+07:00" and "/book/" in b["track_url"]
    e.booking.book(cid, "dat-dai", slot="2026-11-23T10:00:00+07:00", citizen_key="b")
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="c")
    assert err.value.code == "slot_full"
    with pytest.raises(BadRequest):
        e.booking.book(cid, "dat-dai", slot="10:10", citizen_key="c")
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "dat-dai", slot="08:00", citizen_key="c")
    assert err.value.params["reason"] == "slot_over"
    with pytest.raises(Conflict) as err:
        e.booking.book(cid, "bhxh", slot="10:00", citizen_key="c")
    assert err.value.params["reason"] == "no_appointments"


def test_check_in_window_order_and_late(ap, frozen_clock):
    e, cid = ap
    b = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="a").value
    late = e.booking.book(cid, "dat-dai", slot="09:30", citizen_key="b").value
    frozen_clock.set(datetime(2026, 11, 23, 9, 40, tzinfo=HCM))
    with pytest.raises(Conflict) as err:
        e.booking.check_in(cid, b["code"])
    assert err.value.code == "too_early"
    early_walk = e.issue(cid, "dat-dai").value  # 09:40, before the 10:00 slot
    frozen_clock.set(datetime(2026, 11, 23, 10, 3, tzinfo=HCM))
    after_walk = e.issue(cid, "dat-dai").value  # 10:03, after the slot's start
    frozen_clock.set(datetime(2026, 11, 23, 10, 5, tzinfo=HCM))
    t = e.booking.check_in(cid, b["code"]).value
    assert t["on_time"] is True and t["status"] == "waiting" and t["number"] == "2003"
    assert t["booking"]["status"] == "checked_in" and t["booking"]["track_url"].endswith("/t/" + t["track_url"].rsplit("/", 1)[1])
    late_t = e.booking.check_in(cid, late["code"]).value  # 09:30 slot, window ended 09:45: ordinary ticket
    assert late_t["on_time"] is False
    called = [e.call_next(cid, 1).value["ticket"]["number"] for _ in range(4)]
    assert called == [early_walk["number"], t["number"], after_walk["number"], late_t["number"]]
    with pytest.raises(Conflict) as err:
        e.booking.check_in(cid, b["code"])
    assert err.value.code == "already_checked_in"


def test_cancel_and_reschedule(ap):
    e, cid = ap
    b = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="a").value
    token = b["track_url"].rsplit("/", 1)[1]
    moved = e.booking.reschedule(cid, token, slot="11:30")
    assert moved.value["slot"]["start"] == "2026-11-23T11:30:00+07:00"
    assert [ev.type for ev in moved.events] == ["booking.rescheduled"]
    moved = e.booking.reschedule(cid, token, day="2026-11-24", slot="08:00").value
    assert moved["day"] == "2026-11-24"
    assert {f["code"]: f for f in e.booking.options(cid)["fields"]}["dat-dai"]["days"][0]["slots"][2]["free"] == 9
    res = e.booking.cancel(cid, token)
    assert res.value["status"] == "cancelled" and [ev.type for ev in res.events] == ["booking.cancelled"]
    with pytest.raises(Conflict):
        e.booking.cancel(cid, token)
    with pytest.raises(Conflict):
        e.booking.reschedule(cid, token, slot="12:00")
    number = e.booking.book(cid, "bhxh", citizen_key="a").value  # an online number given back cancels its ticket
    res = e.booking.cancel(cid, number["track_url"].rsplit("/", 1)[1])
    assert [ev.type for ev in res.events] == ["ticket.cancelled", "booking.cancelled", "queue.changed"]


def test_reschedule_respects_capacity(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, appt_config(slot_capacity={"dat-dai": 1}))
    a = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="a").value
    e.booking.book(cid, "dat-dai", slot="10:30", citizen_key="b")
    with pytest.raises(Conflict) as err:
        e.booking.reschedule(cid, a["track_url"].rsplit("/", 1)[1], slot="10:30")
    assert err.value.code == "slot_full"
    e.booking.reschedule(cid, a["track_url"].rsplit("/", 1)[1], slot="10:00")  # its own slot is free for it


def test_an_appointment_never_checked_in_lapses(ap, frozen_clock):
    e, cid = ap
    b = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="a").value
    frozen_clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=HCM) - timedelta(microseconds=1))
    assert e.booking.lapse(cid).value == 0
    frozen_clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=HCM))
    res = e.booking.lapse(cid)
    assert res.value == 1 and res.events[0].payload["booking"]["code"] == b["code"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["walk", "book", "check_in"]), st.integers(1, 20)), min_size=3, max_size=30))
@example(steps=[("book", 1)] * 8 + [("check_in", 1)] * 8)  # more bookings of one slot than it holds
def test_property_appointment_order_follows_the_rule(tmp_path_factory, frozen_clock, steps):
    """Whatever the interleaving, an appointment checked in within its window is called before every
    walk-in issued after its slot's start (or after its check-in, if earlier) and after every walk-in
    issued before that; a late one like a walk-in issued at its check-in."""
    frozen_clock.set(datetime(2026, 11, 23, 8, 0, tzinfo=HCM))
    e, cid = make_engine(tmp_path_factory.mktemp("ap"), appt_config(slot_minutes=15, check_in_before_min=10,
                                                                        check_in_after_min=10))
    try:
        booked, tickets = [], {}  # number → (kind, effective time, on_time)
        for kind, minutes in steps:
            if kind == "walk":
                t = e.issue(cid, "dat-dai").value
                tickets[t["number"]] = ("walk", frozen_clock.now(), True)
            elif kind == "book":
                now = frozen_clock.now().astimezone(HCM)
                start = (now + timedelta(minutes=15 - now.minute % 15 + 15 * (minutes % 3))).strftime("%H:%M")
                try:
                    booked.append(e.booking.book(cid, "dat-dai", slot=start).value)
                except Conflict as err:  # many bookings without time passing fill a slot: the model's
                    assert err.code == "slot_full"  # steps, not a fault
            elif booked:
                b = booked.pop(0)
                try:
                    t = e.booking.check_in(cid, b["code"]).value
                except Conflict as err:
                    assert err.code == "too_early"
                    booked.append(b)
                else:
                    start = datetime.fromisoformat(b["slot"]["start"])
                    counts_from = min(start, frozen_clock.now()) if t["on_time"] else frozen_clock.now()
                    tickets[t["number"]] = ("appt", counts_from, t["on_time"])
            frozen_clock.advance(minutes=minutes)
        order = []
        while (res := e.call_next(cid, 1).value) is not None:
            order.append(res["ticket"]["number"])
        assert sorted(order) == sorted(tickets)
        pos = {n: i for i, n in enumerate(order)}
        for a, (ka, ta, on_time) in tickets.items():
            if ka != "appt":
                continue
            for w, (kw, tw, _x) in tickets.items():
                if kw == "walk":
                    assert (pos[a] < pos[w]) == (tw > ta), (a, w, on_time, order)
    finally:
        e.db.dispose()


def test_punctuality_of_appointments(ap, frozen_clock):
    e, cid = ap
    a = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="a").value
    b = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="b").value
    frozen_clock.set(datetime(2026, 11, 23, 10, 15, tzinfo=HCM))  # the window's last moment
    e.booking.check_in(cid, a["code"])
    frozen_clock.advance(seconds=1)
    e.booking.check_in(cid, b["code"])
    assert e.booking.day_summary(cid)["appointments"] == {"on_time": 1, "late": 1, "on_time_share": 0.5}
