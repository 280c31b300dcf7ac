"""Queue engine behaviour with a frozen clock: numbering, hours, closing, rollover, skip, transfer, rating."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import HCM, make_engine, small_config_data
from layso.server.errors import BadRequest, Conflict, Forbidden, NotFound
from layso.server.storage.models import Ticket, TicketEvent
from sqlalchemy import select, text


def numbers(results):
    return [r.value["number"] for r in results]


def test_numbering_is_a_daily_sequence_per_field(engine):
    e, cid = engine
    got = numbers([e.issue(cid, "dat-dai"), e.issue(cid, "bhxh"), e.issue(cid, "dat-dai")])
    assert got == ["2001", "6501", "2002"]


def test_letter_prefix_numbering(tmp_path, frozen_clock):
    data = small_config_data()
    data["fields"][0] = {**data["fields"][0], "prefix": "A", "width": 3}
    data["fields"][0].pop("range_start"), data["fields"][0].pop("range_end")
    e, cid = make_engine(tmp_path, data)
    code = data["fields"][0]["code"]
    assert numbers([e.issue(cid, code), e.issue(cid, code)]) == ["A001", "A002"]


def test_request_id_makes_issue_idempotent(engine):
    e, cid = engine
    first = e.issue(cid, "dat-dai", request_id="kiosk-1-abc")
    again = e.issue(cid, "dat-dai", request_id="kiosk-1-abc")
    assert first.created and not again.created
    assert again.value["id"] == first.value["id"] and again.events == []
    with pytest.raises(Conflict) as err:
        e.issue(cid, "bhxh", request_id="kiosk-1-abc")
    assert err.value.code == "request_id_reused"


def test_a_retry_is_answered_even_when_its_field_has_gone_since(engine):
    """The kiosk's retry of an answered issue gets the same ticket after its field was taken off the
    kiosks meanwhile; an unknown field without an earlier request is still refused as unknown."""
    e, cid = engine
    first = e.issue(cid, "dat-dai", request_id="kiosk-2-abc")
    with e.db.write() as s:
        s.execute(text("UPDATE fields SET active = :no WHERE code = 'dat-dai'"), {"no": False})
    again = e.issue(cid, "dat-dai", request_id="kiosk-2-abc")
    assert not again.created and again.value["id"] == first.value["id"]
    with pytest.raises(NotFound) as err:
        e.issue(cid, "dat-dai", request_id="kiosk-2-new")
    assert err.value.code == "field_not_found"
    with pytest.raises(BadRequest):
        e.issue(cid, ["dat-dai"], request_id="kiosk-2-list")


def test_daily_cap_then_next_day_restarts(tmp_path, frozen_clock):
    data = small_config_data()
    for f in data["fields"]:
        if f["code"] == "bhxh":
            f["daily_cap"] = 2
    e, cid = make_engine(tmp_path, data)
    e.issue(cid, "bhxh"), e.issue(cid, "bhxh")
    with pytest.raises(Conflict) as err:
        e.issue(cid, "bhxh")
    assert err.value.code == "daily_cap_reached"
    bhxh = next(f for f in e.fields(cid) if f["code"] == "bhxh")
    assert bhxh["accepting"] is False and bhxh["closed_reason"] == "daily_cap_reached"
    frozen_clock.advance(days=1)
    assert e.issue(cid, "bhxh").value["number"] == "6501"


def test_day_rollover_at_local_midnight(engine, frozen_clock):
    e, cid = engine
    frozen_clock.set(datetime(2026, 11, 23, 23, 59, 30, tzinfo=HCM))
    late = e.issue(cid, "dat-dai").value
    frozen_clock.set(datetime(2026, 11, 24, 0, 0, 5, tzinfo=HCM))  # 17:00 UTC: a new local day
    early = e.issue(cid, "dat-dai").value
    assert late["number"] == "2001" and early["number"] == "2001"
    assert late["day"] == "2026-11-23" and early["day"] == "2026-11-24"
    # yesterday's waiting ticket is cancelled at closing, never carried over
    assert e.close_days(cid).value == 1
    with e.db.read() as s:
        t = s.execute(select(Ticket).where(Ticket.id == late["id"])).scalar_one()
        assert (t.status, t.cancel_reason) == ("cancelled", "day_closed")
    nxt = e.call_next(cid, 1).value
    assert nxt["ticket"]["id"] == early["id"]


def hours_config(**hours):
    data = small_config_data()
    data["hours"] = {"mon": ["07:30-11:30", "13:30-17:00"], "tue": ["07:30-11:30", "13:30-17:00"],
                     "wed": ["07:30-11:30", "13:30-17:00"], "thu": ["07:30-11:30", "13:30-17:00"],
                     "fri": ["07:30-11:30", "13:30-17:00"], "sat": ["07:30-11:30"], "sun": [],
                     "early_issue_minutes": 30, **hours}
    return data


@pytest.mark.parametrize("local, accepting", [
    ((6, 59), False),   # before the early window
    ((7, 0), True),     # early window: people queue before opening
    ((11, 29), True),
    ((11, 45), False),  # lunch break
    ((13, 0), True),    # early window of the afternoon
    ((16, 59), True),
    ((17, 0), False),   # closed
])
def test_opening_hours_and_early_window(tmp_path, frozen_clock, local, accepting):
    e, cid = make_engine(tmp_path, hours_config())
    frozen_clock.set(datetime(2026, 11, 23, *local, tzinfo=HCM))  # Monday
    if accepting:
        assert e.issue(cid, "dat-dai").value["number"] == "2001"
    else:
        with pytest.raises(Conflict) as err:
            e.issue(cid, "dat-dai")
        assert err.value.code == "field_closed" and err.value.params["reason"] == "outside_hours"
        f = e.fields(cid)[0]
        assert (f["accepting"], f["closed_reason"]) == (False, "outside_hours")


def test_field_cutoff_before_closing(tmp_path, frozen_clock):
    data = hours_config()
    data["fields"][1]["cutoff"] = "16:00"
    e, cid = make_engine(tmp_path, data)
    code = data["fields"][1]["code"]
    frozen_clock.set(datetime(2026, 11, 23, 16, 1, tzinfo=HCM))
    with pytest.raises(Conflict):
        e.issue(cid, code)
    assert e.issue(cid, data["fields"][0]["code"]).created


def test_holidays_and_makeup_days(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, hours_config(holidays=["2026-11-23"], makeup_days=["2026-11-29"]))
    frozen_clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=HCM))  # Monday, a holiday
    with pytest.raises(Conflict):
        e.issue(cid, "dat-dai")
    frozen_clock.set(datetime(2026, 11, 29, 9, 0, tzinfo=HCM))  # Sunday, a make-up working day
    assert e.issue(cid, "dat-dai").created
    frozen_clock.set(datetime(2026, 11, 22, 9, 0, tzinfo=HCM))  # an ordinary Sunday
    with pytest.raises(Conflict):
        e.issue(cid, "dat-dai")


def test_closing_cancels_waiting_tickets_but_not_served_ones(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, hours_config())
    frozen_clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=HCM))
    a, b, c = (e.issue(cid, "dat-dai").value for _ in range(3))
    e.call_next(cid, 1)
    assert e.close_days(cid).value == 0  # still open
    frozen_clock.set(datetime(2026, 11, 23, 17, 0, 1, tzinfo=HCM))
    res = e.close_days(cid)
    assert res.value == 2
    cancelled = [ev.payload["ticket"]["number"] for ev in res.events if ev.type == "ticket.cancelled"]
    assert cancelled == [b["number"], c["number"]]
    assert all(ev.payload["reason"] == "day_closed" for ev in res.events if ev.type == "ticket.cancelled")
    with e.db.read() as s:
        assert s.get(Ticket, a["id"]).status == "called"
    assert e.close_days(cid).value == 0  # idempotent


def test_fifo_across_the_fields_a_counter_serves(engine):
    e, cid = engine
    issued = numbers([e.issue(cid, "bhxh"), e.issue(cid, "dat-dai"), e.issue(cid, "bhxh")])
    called = [e.call_next(cid, 2).value["ticket"]["number"] for _ in range(3)]
    assert called == issued
    assert e.call_next(cid, 2).value is None


def test_next_completes_the_current_ticket(engine):
    e, cid = engine
    e.issue(cid, "dat-dai"), e.issue(cid, "dat-dai")
    first = e.call_next(cid, 1).value["ticket"]
    res = e.call_next(cid, 1)
    types = [ev.type for ev in res.events]
    assert types[0] == "ticket.completed" and "ticket.called" in types
    assert e.ticket(cid, first["id"])["status"] == "done"


def test_recall_keeps_the_ticket_and_repeats_the_call(engine):
    e, cid = engine
    e.issue(cid, "dat-dai")
    called = e.call_next(cid, 1).value["ticket"]
    res = e.recall(cid, 1)
    assert [ev.type for ev in res.events] == ["ticket.recalled"]
    assert res.value["ticket"]["id"] == called["id"] and res.value["ticket"]["status"] == "called"
    assert {"seq", "ticket", "counter", "at"} <= set(res.events[0].payload)


def test_skip_requeues_behind_n_then_no_show_after_k(engine):
    e, cid = engine  # requeue_behind 3, max_skips 2
    t = [e.issue(cid, "dat-dai").value["number"] for _ in range(6)]
    assert e.call_next(cid, 1).value["ticket"]["number"] == t[0]
    skipped = e.skip(cid, 1).value["ticket"]
    assert skipped["status"] == "waiting"
    order = [e.call_next(cid, 1).value["ticket"]["number"] for _ in range(4)]
    assert order == [t[1], t[2], t[3], t[0]]  # behind three others
    res = e.skip(cid, 1)  # second skip of t[0]
    assert res.value["ticket"]["status"] == "no_show"
    assert [e.call_next(cid, 1).value["ticket"]["number"] for _ in range(2)] == [t[4], t[5]]


def test_skip_without_current_ticket_is_refused(engine):
    e, cid = engine
    with pytest.raises(Conflict) as err:
        e.skip(cid, 1)
    assert err.value.code == "no_current_ticket"


def test_transfer_to_a_field_goes_first_in_that_queue(engine):
    e, cid = engine
    e.issue(cid, "dat-dai")
    waiting_bhxh = e.issue(cid, "bhxh").value
    e.call_next(cid, 1)
    moved = e.transfer(cid, 1, to_field="bhxh").value["ticket"]
    assert moved["field"] == "bhxh" and moved["status"] == "waiting" and moved["transferred"]
    assert e.call_next(cid, 3).value["ticket"]["id"] == moved["id"]
    assert e.call_next(cid, 3).value["ticket"]["id"] == waiting_bhxh["id"]


def test_transfer_to_a_counter_is_only_for_that_counter(engine):
    e, cid = engine
    first = e.issue(cid, "dat-dai").value
    second = e.issue(cid, "dat-dai").value
    e.call_next(cid, 1)
    e.transfer(cid, 1, to_counter=3)  # counter 3 does not even serve dat-dai
    assert e.call_next(cid, 2).value["ticket"]["id"] == second["id"]
    assert e.call_next(cid, 3).value["ticket"]["id"] == first["id"]
    with pytest.raises(BadRequest):
        e.transfer(cid, 3, to_counter=3)


def test_priority_only_counter_and_interleave_rule(engine):
    e, cid = engine  # interleave with normal_per_priority = 2
    n = [e.issue(cid, "dat-dai").value["number"] for _ in range(4)]
    p = [e.issue(cid, "dat-dai", priority="elderly").value["number"] for _ in range(3)]
    assert e.call_next(cid, 4).value["ticket"]["number"] == p[0]  # dedicated priority counter
    # counter 1: a priority first (nobody called yet), then at most one per two normal calls
    got = [e.call_next(cid, 1).value["ticket"]["number"] for _ in range(5)]
    assert got == [p[1], n[0], n[1], p[2], n[2]]
    assert e.call_next(cid, 4).value is None  # priority-only counter never takes normal tickets


def test_pause_refuses_calls_until_resumed(engine):
    e, cid = engine
    e.issue(cid, "dat-dai")
    e.pause(cid, 1, reason="Họp giao ban")
    with pytest.raises(Conflict) as err:
        e.call_next(cid, 1)
    assert err.value.code == "counter_paused"
    assert e.resume(cid, 1).value["counter"]["status"] == "open"
    assert e.call_next(cid, 1).value is not None


def test_rating_rules(engine, frozen_clock):
    e, cid = engine
    e.issue(cid, "dat-dai"), e.issue(cid, "dat-dai")
    t = e.call_next(cid, 1).value["ticket"]
    with pytest.raises(Conflict) as err:
        e.rate(cid, 4, ticket_id=t["id"], counter_number=1)
    assert err.value.code == "not_served"
    e.complete(cid, 1, dossier_code="000.00.12.H10-261123-0001")
    with pytest.raises(Forbidden):
        e.rate(cid, 4, ticket_id=t["id"], counter_number=2)  # another counter
    with pytest.raises(BadRequest) as err:
        e.rate(cid, 9, ticket_id=t["id"], counter_number=1)
    assert err.value.code == "invalid_score"
    with pytest.raises(BadRequest) as err:
        e.rate(cid, 1, ticket_id=t["id"], counter_number=1)  # a low score needs a reason
    assert err.value.code == "reason_required"
    r = e.rate(cid, 1, reasons=["Chờ lâu"], ticket_id=t["id"], counter_number=1)
    assert r.value["score"] == 1 and not r.value["satisfied"]
    with pytest.raises(Conflict) as err:
        e.rate(cid, 4, ticket_id=t["id"], counter_number=1)
    assert err.value.code == "already_rated"
    # the panel window is short; the tracking link's is longer
    t2 = e.call_next(cid, 1).value["ticket"]
    e.complete(cid, 1)
    frozen_clock.advance(seconds=31)
    with pytest.raises(Conflict) as err:
        e.rate(cid, 4, ticket_id=t2["id"], counter_number=1)
    assert err.value.code == "window_over"
    token = t2["track_url"].rsplit("/", 1)[1]
    assert e.rate(cid, 4, track_token=token).value["source"] == "link"


def test_ratings_and_ticket_log_are_append_only(engine):
    e, cid = engine
    e.issue(cid, "dat-dai")
    t = e.call_next(cid, 1).value["ticket"]
    e.complete(cid, 1, dossier_code="H1")
    e.rate(cid, 4, ticket_id=t["id"], counter_number=1)
    for statement in ("UPDATE ratings SET score = 1", "DELETE FROM ratings", "UPDATE ticket_events SET type='x'",
                      "DELETE FROM ticket_events"):
        with pytest.raises(Exception, match="append-only"):
            with e.db.write() as s:
                s.execute(text(statement))
    with e.db.read() as s:
        log = [ev.type for ev in s.execute(select(TicketEvent).where(TicketEvent.ticket_id == t["id"])
                                           .order_by(TicketEvent.seq)).scalars()]
    assert log == ["ticket.issued", "ticket.called", "ticket.completed", "ticket.rated"]


def test_every_event_carries_consecutive_seq(engine):
    e, cid = engine
    seqs = []
    for res in (e.issue(cid, "dat-dai"), e.issue(cid, "bhxh"), e.call_next(cid, 2), e.recall(cid, 2),
                e.complete(cid, 2), e.pause(cid, 2), e.resume(cid, 2)):
        seqs += [ev.seq for ev in res.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert e.state(cid)["seq"] == seqs[-1]


def test_estimated_wait_uses_recent_service_times(engine, frozen_clock):
    e, cid = engine
    for _ in range(4):
        e.issue(cid, "dat-dai")
    e.call_next(cid, 1)
    frozen_clock.advance(minutes=4)
    e.complete(cid, 1)
    e.service_times._data.clear()
    waiting = e.issue(cid, "dat-dai").value
    # 3 waiting ahead of it, two counters serve dat-dai (only counter 1 is open): (3 + 0.5) × 240 s
    assert waiting["ahead"] == 3
    assert waiting["est_wait_s"] == round(3.5 * 240)


def test_unknown_things_are_404(engine):
    e, cid = engine
    with pytest.raises(NotFound):
        e.issue(cid, "khong-co")
    with pytest.raises(NotFound):
        e.call_next(cid, 99)
    with pytest.raises(BadRequest):
        e.issue(cid, "dat-dai", priority="vip")
    with pytest.raises(NotFound):
        e.ticket(cid, 12345)


def test_cancel_by_tracking_link(engine):
    e, cid = engine
    t = e.issue(cid, "dat-dai").value
    token = t["track_url"].rsplit("/", 1)[1]
    assert e.cancel(cid, token).value["status"] == "cancelled"
    with pytest.raises(Conflict):
        e.cancel(cid, token)
    assert e.call_next(cid, 1).value is None


def test_grant_priority_moves_a_ticket_up(engine):
    e, cid = engine
    a = e.issue(cid, "dat-dai").value
    b = e.issue(cid, "dat-dai").value
    e.grant_priority(cid, b["id"], "disabled", reason="Xe lăn")
    assert e.call_next(cid, 1).value["ticket"]["id"] == b["id"]
    assert e.call_next(cid, 1).value["ticket"]["id"] == a["id"]


def test_sign_in_sets_the_counter_officer(engine):
    from layso.server.engine.accounts import add_user
    e, cid = engine
    uid = add_user(e.db, "lan", "staff", "password-123", full_name="Nguyễn Thị Lan")
    counter = e.sign_in(cid, 2, uid).value
    assert counter["officer"] == "Nguyễn Thị Lan" and counter["status"] == "open"
    e.issue(cid, "bhxh")
    called = e.call_next(cid, 2)
    with e.db.read() as s:
        assert s.get(Ticket, called.value["ticket"]["id"]).officer_id == uid
    # signing in elsewhere moves the officer
    assert e.sign_in(cid, 3, uid).value["officer"] == "Nguyễn Thị Lan"
    assert next(c for c in e.state(cid)["counters"] if c["number"] == 2)["officer"] is None


def test_an_officer_is_at_one_counter_and_a_counter_without_one_cannot_call(tmp_path, frozen_clock):
    from layso.server.engine.accounts import add_user
    e, cid = make_engine(tmp_path, officers=False)
    t = e.issue(cid, "bhxh").value
    with pytest.raises(Conflict) as err:
        e.call_next(cid, 2)
    assert err.value.code == "no_officer" and err.value.status == 409
    with pytest.raises(Conflict):
        e.call_number(cid, 2, t["number"])
    uid = add_user(e.db, "lan", "staff", "password-123", full_name="Nguyễn Thị Lan")
    assert e.call_next(cid, 2, officer_id=uid).value["ticket"]["id"] == t["id"]  # a signed-in user acting here
    e.sign_in(cid, 2, uid)
    frozen_clock.advance(minutes=4)
    res = e.sign_in(cid, 3, uid)  # signing in at counter 3 signs her out of counter 2
    left = next(c for c in e.state(cid)["counters"] if c["number"] == 2)
    assert (left["status"], left["officer"], left["ticket"]) == ("closed", None, None)
    completed = [ev for ev in res.events if ev.type == "ticket.completed"]
    assert [ev.payload["ticket"]["id"] for ev in completed] == [t["id"]]
    with e.db.read() as s:
        assert s.get(Ticket, t["id"]).officer_id == uid  # her work stays hers
    with pytest.raises(Conflict):
        e.call_next(cid, 2)
    assert e.call_next(cid, 3).value is None  # counter 3 has her now
    e.db.dispose()


def test_the_estimate_is_honest_while_nobody_serves(tmp_path, frozen_clock):
    data = small_config_data()
    data["hours"].update({d: ["07:30-11:30", "13:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                         early_issue_minutes=60)
    e, cid = make_engine(tmp_path, data)
    frozen_clock.set(datetime(2026, 11, 23, 7, 0, tzinfo=HCM))  # before opening, kiosks already issue
    first = e.issue(cid, "dat-dai").value
    assert (first["est_wait_s"], first["est_wait_reason"]) == (30 * 60, "opens_later")
    frozen_clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=HCM))  # lunch
    field = next(f for f in e.fields(cid) if f["code"] == "dat-dai")
    assert field["est_wait_s"] >= 90 * 60 and field["est_wait_reason"] == "opens_later"
    frozen_clock.set(datetime(2026, 11, 23, 13, 45, tzinfo=HCM))  # open, but nobody has opened a counter
    field = next(f for f in e.fields(cid) if f["code"] == "dat-dai")
    assert (field["est_wait_s"], field["est_wait_reason"]) == (None, "no_counter_open")
    e.call_next(cid, 1)  # counter 1 opens and calls
    e.issue(cid, "dat-dai")
    field = next(f for f in e.fields(cid) if f["code"] == "dat-dai")
    assert field["est_wait_s"] > 0 and field["est_wait_reason"] is None
    e.db.dispose()


def test_time_moves_only_with_the_clock(engine, frozen_clock):
    e, cid = engine
    t = e.issue(cid, "dat-dai").value
    assert t["issued_at"] == "2026-11-23T09:00:00+07:00"
    frozen_clock.advance(minutes=7)
    assert e.call_next(cid, 1).value["ticket"]["called_at"] == "2026-11-23T09:07:00+07:00"
    assert timedelta(minutes=7)


def test_janitor_announces_fields_opening_and_closing_by_the_clock(tmp_path, frozen_clock):
    from layso.server.janitor import run_janitor
    from layso.server.services import Services
    e, cid = make_engine(tmp_path, hours_config())
    published = []
    svc = Services(db=e.db, engine=e, publish=published.extend)
    frozen_clock.set(datetime(2026, 11, 23, 6, 50, tzinfo=HCM))
    run_janitor(svc)
    assert published == []  # the first look only remembers
    frozen_clock.set(datetime(2026, 11, 23, 6, 55, tzinfo=HCM))
    run_janitor(svc)
    assert published == []  # nothing changed
    frozen_clock.set(datetime(2026, 11, 23, 7, 0, tzinfo=HCM))  # the early window opens
    run_janitor(svc)
    assert [ev.type for ev in published] == ["queue.changed"]
    assert all(f["accepting"] for f in published[0].payload["fields"])


def test_a_ticket_left_at_a_counter_overnight_ends_at_that_days_closing(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, hours_config())
    frozen_clock.set(datetime(2026, 11, 23, 16, 50, tzinfo=HCM))
    e.issue(cid, "dat-dai")
    t = e.call_next(cid, 1).value["ticket"]
    frozen_clock.set(datetime(2026, 11, 24, 7, 5, tzinfo=HCM))  # nobody pressed "complete"
    e.close_days(cid)
    done = e.ticket(cid, t["id"])
    assert done["status"] == "done" and done["completed_at"] == "2026-11-23T17:00:00+07:00"
    assert next(c for c in e.state(cid)["counters"] if c["number"] == 1)["ticket"] is None


def test_a_priority_tickets_counters_include_the_priority_counter(engine):
    e, cid = engine
    assert e.issue(cid, "dat-dai").value["serving_counters"] == [1, 2]
    assert e.issue(cid, "dat-dai", priority="elderly").value["serving_counters"] == [1, 2, 4]
