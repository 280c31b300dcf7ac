"""The province overview (in-process, frozen clock): the contract's fields per centre, the alerts,
who may read it, and a fixed number of queries however many centres there are."""
from __future__ import annotations

import pytest
from conftest import count_queries
from layso.server.auth import device_principal
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.engine import centres as setup
from layso.server.queries.province import overview

PASSWORD = "password-123"
CONTRACT = {"code", "name", "area", "open", "waiting", "longest_wait_s", "open_counters", "devices_offline",
            "printer_faults", "satisfied_share_today"}


def sign_in(app, username: str):
    c = app.test_client()
    r = c.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.json
    return c


@pytest.fixture
def world(app, svc, cid, frozen_clock):
    db = svc.db
    b = setup.create_centre(db, "xa-b", "Trung tâm xã B", preset="commune", area="Khu vực 2")
    c = setup.create_centre(db, "xa-c", "Trung tâm xã C", preset="commune", area="Khu vực 1")
    setup.edit_centre(db, "xa", area="Khu vực 1")
    add_user(db, "tinh", "province_admin", PASSWORD, "xa")
    add_user(db, "admin-a", "admin", PASSWORD, "xa")
    officer = add_user(db, "can-bo-b", "staff", PASSWORD, "xa-b")
    kiosk_b = add_device(db, "kiosk", "Kiosk sảnh B", "xa-b")
    add_device(db, "display", "TV sảnh B", "xa-b")  # never connected: offline
    kiosk_a = add_device(db, "kiosk", "Kiosk A", "xa")
    e = svc.engine
    e.device_status(b, device_principal(db, kiosk_b).device_id, printer="paper_out", online=True)
    e.device_status(cid, device_principal(db, kiosk_a).device_id, printer="ok", online=True)
    # centre B: three waiting in đất đai since 09:00, one served and rated
    for _ in range(3):
        e.issue(b, "dat-dai")
    e.sign_in(b, 2, officer)  # counter 2 serves đất đai
    first = e.call_next(b, 2).value["ticket"]
    frozen_clock.advance(minutes=5)
    e.complete(b, 2)
    e.rate(b, 4, ticket_id=first["id"], counter_number=2)
    frozen_clock.advance(minutes=55)  # 10:00: the two still waiting have waited an hour
    e.issue(cid, "bhxh")
    frozen_clock.advance(minutes=2)
    return {"a": cid, "b": b, "c": c, "tinh": sign_in(app, "tinh"), "admin": sign_in(app, "admin-a")}


def test_overview_has_the_contracts_fields_and_the_alerts(svc, world):
    data = world["tinh"].get("/api/v1/province/overview").json
    rows = {r["code"]: r for r in data["centres"]}
    assert set(rows) == {"xa", "xa-b", "xa-c"}
    assert all(CONTRACT <= set(r) for r in rows.values())
    b, a, c = rows["xa-b"], rows["xa"], rows["xa-c"]
    assert b["area"] == "Khu vực 2" and b["name"] == "Trung tâm xã B"
    assert b["waiting"] == 2 and b["longest_wait_s"] == 62 * 60
    assert b["open_counters"] == 1 and b["devices_offline"] == 1 and b["printer_faults"] == 1
    assert b["satisfied_share_today"] == 1.0 and b["open"] is True  # Monday 10:02, inside 07:30–11:30
    assert a["waiting"] == 1 and a["longest_wait_s"] == 120 and a["devices_offline"] == 0 and a["printer_faults"] == 0
    assert a["satisfied_share_today"] is None and a["open"] is True  # the test centre is open all hours
    assert c["waiting"] == 0 and c["longest_wait_s"] is None and c["open_counters"] == 0
    kinds = [(x["kind"], x["centre"]) for x in data["alerts"]]
    assert kinds == [("wait_over_target", "xa-b"), ("paper_out", "xa-b"), ("display_offline", "xa-b")]
    over = data["alerts"][0]
    assert over["field"] == "dat-dai" and over["longest_wait_s"] == 62 * 60 and over["target_s"] == 30 * 60
    assert b["over_target"] and not a["over_target"]


def test_the_created_commune_is_open_in_its_hours(svc, world, frozen_clock):
    from datetime import datetime

    from conftest import HCM
    frozen_clock.set(datetime(2026, 11, 23, 9, 30, tzinfo=HCM))  # Monday 09:30: inside 07:30–11:30
    rows = {r["code"]: r for r in overview(svc.db)["centres"]}
    assert rows["xa-b"]["open"] and rows["xa-c"]["open"]
    frozen_clock.set(datetime(2026, 11, 23, 12, 15, tzinfo=HCM))  # lunch break
    rows = {r["code"]: r for r in overview(svc.db)["centres"]}
    assert not rows["xa-b"]["open"]
    setup.set_suspended(svc.db, "xa-b", True)
    data = overview(svc.db)
    rows = {r["code"]: r for r in data["centres"]}
    assert rows["xa-b"]["suspended"] and not rows["xa-b"]["open"]
    assert not [a for a in data["alerts"] if a["centre"] == "xa-b"]  # a suspended centre raises no alerts


def test_only_province_admins_read_the_overview(app, world):
    assert app.test_client().get("/api/v1/province/overview").status_code == 401
    r = world["admin"].get("/api/v1/province/overview")
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert world["admin"].get("/province").status_code == 403
    assert world["tinh"].get("/province").status_code == 200


def test_the_overview_page_lists_every_centre_in_vietnamese(world):
    page = world["tinh"].get("/province")
    assert page.status_code == 200
    text = page.text
    for name in ("Trung tâm xã B", "Trung tâm xã C", "Khu vực 2"):
        assert name in text
    assert "Tổng quan toàn tỉnh" in text and "Kiosk sảnh B" in text and "hết giấy" in text
    assert "/api/v1/province/overview" in text and 'action="/province/centres/xa-b/open"' in text


def test_the_number_of_queries_does_not_grow_with_the_centres(svc, world):
    few = count_queries(svc.db, lambda: overview(svc.db))
    for i in range(12):
        setup.create_centre(svc.db, f"xa-{i:02d}", f"Xã số {i}", preset="commune", area=f"Khu vực {i % 3}")
    many = count_queries(svc.db, lambda: overview(svc.db))
    assert len(overview(svc.db)["centres"]) == 15
    assert many == few
