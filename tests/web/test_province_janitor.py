"""The janitor on a province (in-process, frozen clock): one round costs the same number of queries for
3 centres as for 15 (it reads what every centre needs at once, `engine.sweep`, and runs a command only
where there is work), and it keeps doing what it did centre by centre: closing the day everywhere,
lapsing bookings, announcing fields that open or close by the clock."""
from __future__ import annotations

from datetime import datetime

import pytest
from conftest import HCM, config_data, count_queries
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.engine import centres as setup
from layso.server.engine.sweep import sweep
from layso.server.janitor import run_janitor
from layso.server.realtime import presence

from layso.config import parse_config


def busy_centre(svc, code: str, all_hours: bool = True) -> int:
    """A commune centre with a day under way: tickets waiting, one at a counter, an online number
    booked (not yet due to lapse), a kiosk and a lobby screen."""
    data = config_data("commune") if all_hours else config_data("commune", hours=parse_hours_of_preset())
    data["centre"].update(code=code, name=f"Trung tâm {code}", area="Khu vực 1")
    cid = setup.create_from_config(svc.db, parse_config(data), kind="commune")
    e = svc.engine
    officer = add_user(svc.db, f"{code}-cb", "staff", "password-123", code)
    for field in ("dat-dai", "bhxh", "dat-dai"):
        e.issue(cid, field)
    e.sign_in(cid, 2, officer)
    e.call_next(cid, 2)
    e.booking.book(cid, "bhxh", citizen_key=f"citizen-{code}")
    add_device(svc.db, "kiosk", "Kiosk", code)
    add_device(svc.db, "display", "Màn hình sảnh", code)
    return cid


def parse_hours_of_preset() -> dict:
    from layso.config import preset_data
    return preset_data("commune")["hours"]


@pytest.fixture
def quiet(svc):
    published = []
    svc.publish = published.extend
    return published


def test_one_round_costs_the_same_queries_for_3_centres_as_for_15(app, svc, cid, frozen_clock, quiet):
    from layso.server.realtime.events import socketio
    sockets = []
    for code in ("xa-b", "xa-c"):
        busy_centre(svc, code)
        sockets.append(socketio.test_client(app, auth={"token": add_device(svc.db, "counter", "Bảng", code,
                                                                           counter=1)}))
    run_janitor(svc)  # the first look remembers the fields and records the closing of past days
    few = count_queries(svc.db, lambda: run_janitor(svc))
    for i in range(12):
        busy_centre(svc, f"xa-{i:02d}")
    run_janitor(svc)
    many = count_queries(svc.db, lambda: run_janitor(svc))
    assert presence.connections  # the connections' check ran with connections to check
    assert many == few and few <= 25, (few, many)
    for s in sockets:
        s.disconnect()


def test_the_day_closes_in_every_centre_in_one_round_and_only_where_there_is_work(app, svc, cid, frozen_clock,
                                                                                    quiet):
    from layso.server.storage.models import Ticket
    from sqlalchemy import func, select
    ids = [busy_centre(svc, f"xa-{i}") for i in range(4)]
    run_janitor(svc)
    assert not [ev for ev in quiet if ev.type == "ticket.cancelled"]  # open all hours: nothing closes at 09:00
    frozen_clock.set(datetime(2026, 11, 24, 0, 0, 5, tzinfo=HCM))  # past midnight: yesterday is over
    plan = sweep(svc.db, frozen_clock.now())
    assert set(ids) <= set(plan.close) and set(ids) <= set(plan.lapse)
    run_janitor(svc)
    with svc.db.read() as s:
        waiting = s.execute(select(func.count()).select_from(Ticket).where(Ticket.status == "waiting")).scalar()
    assert waiting == 0
    cancelled = {ev.centre_id for ev in quiet if ev.type == "ticket.cancelled"}
    assert set(ids) <= cancelled
    lapsed = [ev.centre_id for ev in quiet if ev.type == "booking.lapsed"]
    assert sorted(lapsed) == sorted(ids)  # each centre's online number, once
    after = sweep(svc.db, frozen_clock.now())
    assert after.close == [] and after.lapse == []  # nothing left: the next rounds run no command
    quiet.clear()
    run_janitor(svc)
    assert quiet == []


def test_the_sweep_sees_each_fields_openness_as_the_engine_does(app, svc, cid, frozen_clock):
    """Hours, the early window, a field's last issuing time, its daily cap and its switch, against
    `engine.fields` for each centre at several moments of a day."""
    data = config_data("commune", hours=parse_hours_of_preset())
    data["centre"].update(code="xa-gio", name="Xã theo giờ")
    data["fields"][0]["daily_cap"] = 2
    data["fields"][1]["cutoff"] = "09:30"
    real = setup.create_from_config(svc.db, parse_config(data), kind="commune")
    other = busy_centre(svc, "xa-b")
    e = svc.engine
    first = data["fields"][0]["code"]
    frozen_clock.set(datetime(2026, 11, 23, 8, 0, tzinfo=HCM))
    e.issue(real, first)
    e.issue(real, first)  # its cap of two is reached
    from layso.server.storage.models import Field
    with svc.db.write() as s:
        s.query(Field).filter(Field.centre_id == other, Field.code == "bhxh").update({"accepting": False})
    for hhmm in ("06:30", "07:10", "08:00", "09:45", "12:00", "16:45", "17:05", "21:00"):
        h, m = map(int, hhmm.split(":"))
        frozen_clock.set(datetime(2026, 11, 23, h, m, tzinfo=HCM))
        plan = sweep(svc.db, frozen_clock.now())
        for centre in (cid, real, other):
            expected = [(f["code"], f["accepting"], f["closed_reason"]) for f in e.fields(centre)]
            assert plan.openness[centre] == expected, (hhmm, centre)
    frozen_clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=HCM))
    reasons = dict((code, why) for code, _ok, why in sweep(svc.db, frozen_clock.now()).openness[real])
    assert reasons[first] == "daily_cap_reached" and reasons[data["fields"][2]["code"]] is None
    frozen_clock.set(datetime(2026, 11, 23, 9, 45, tzinfo=HCM))
    reasons = dict((code, why) for code, _ok, why in sweep(svc.db, frozen_clock.now()).openness[real])
    assert reasons[data["fields"][1]["code"]] == "outside_hours"
