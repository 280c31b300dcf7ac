"""Numbering, opening hours, the centre's set-up rule and the status names, without a database."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from layso.server.domain import numbering
from layso.server.domain.centre import unserved
from layso.server.domain.hours import Hours
from layso.server.domain.statuses import CounterStatus, TicketStatus

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
HOURS = {d: ["07:30-11:30", "13:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_numbers_ranges_prefixes_and_caps():
    assert numbering.format_number(5, None, 3, 1001) == "1005"
    assert numbering.format_number(5, "A", 3, None) == "A005"
    assert numbering.range_size(None, 3, 1001, 1999) == 999
    assert numbering.range_size("A", 3, None, None) == 999
    assert numbering.daily_cap(None, 999) == 999 and numbering.daily_cap(200, 999) == 200
    assert numbering.daily_cap(5000, 999) == 999  # never past the range
    assert numbering.past_cutoff("16:30", "16:30") and not numbering.past_cutoff("16:29", "16:30")
    assert not numbering.past_cutoff("23:59", None)


def test_hours_lunch_and_next_opening():
    h = Hours({**HOURS, "early_issue_minutes": 30}, "Asia/Ho_Chi_Minh")
    lunch = datetime(2026, 11, 23, 12, 0, tzinfo=HCM)  # a Monday
    assert not h.is_open(lunch)
    assert h.next_opening(lunch) == datetime(2026, 11, 23, 13, 30, tzinfo=HCM)
    assert h.issuing_open(datetime(2026, 11, 23, 7, 0, tzinfo=HCM)) and not h.is_open(datetime(2026, 11, 23, 7, 0, tzinfo=HCM))
    assert h.closing_time(date(2026, 11, 23)) == datetime(2026, 11, 23, 17, 0, tzinfo=HCM)
    assert h.closing_time(date(2026, 11, 22)) is None  # a Sunday


def test_every_field_keeps_a_counter_that_calls_normal_tickets():
    counters = [(True, False, ["dat-dai"]), (True, True, ["bhxh"]), (False, False, ["ho-tich"])]
    assert unserved(["dat-dai", "bhxh", "ho-tich"], counters) == ["bhxh", "ho-tich"]
    assert unserved(["dat-dai"], counters) == []


def test_status_names_are_the_contracts():
    assert [str(s) for s in TicketStatus] == ["waiting", "called", "done", "no_show", "cancelled"]
    assert [str(s) for s in CounterStatus] == ["open", "paused", "closed"]


def test_a_long_loop_gives_the_event_loop_a_turn_once_its_time_is_up(monkeypatch):
    """`taking_turns` hands back every item, in order, and steps aside (sleep 0) once `every_s` of the
    loop's time has passed since its last turn (a clock that moves 1 ms an item here)."""
    from types import SimpleNamespace

    from layso.server import turns

    sleeps, clock = [], [0.0]

    def perf_counter():
        clock[0] += 0.001
        return clock[0]

    monkeypatch.setattr(turns, "time", SimpleNamespace(sleep=sleeps.append, perf_counter=perf_counter))
    assert list(turns.taking_turns(range(10), every_s=0.0025)) == list(range(10))
    # a turn after items 2, 5 and 8 (each reads the clock once, a turn once more)
    assert sleeps == [0, 0, 0]
    assert list(turns.taking_turns([], every_s=0.0025)) == [] and sleeps == [0, 0, 0]
