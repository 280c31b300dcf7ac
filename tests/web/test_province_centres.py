"""Centres managed by a province administrator (in-process, frozen clock): creating from a preset or
a copy, editing, suspending, naming administrators, working in another centre; and the role matrix
extended: a centre administrator can never read or change another centre (REST, Socket.IO, pages)."""
from __future__ import annotations

import re

import pytest
from layso.server.auth import ACTING_CENTRE_KEY
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.engine import centres as setup
from layso.server.errors import BadRequest, Conflict
from layso.server.realtime.events import socketio
from layso.server.storage.models import AuditEntry, Centre, Counter, Device, Field, User
from sqlalchemy import select

PASSWORD = "password-123"


def sign_in(app, username: str):
    c = app.test_client()
    r = c.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.json
    c.csrf = r.json["csrf_token"]
    return c


def form(client, path: str, data: dict | None = None):
    return client.post(path, data={**(data or {}), "csrf_token": client.csrf})


@pytest.fixture
def province(app, svc, cid):
    """The app's centre A (code xa) and a second centre B made from the commune preset, each with an
    administrator, a kiosk and a display; a province administrator whose home is A."""
    db = svc.db
    b = setup.create_centre(db, "xa-b", "Trung tâm xã B", preset="commune", area="Khu vực 2")
    add_user(db, "admin-a", "admin", PASSWORD, "xa")
    add_user(db, "admin-b", "admin", PASSWORD, "xa-b")
    add_user(db, "tinh", "province_admin", PASSWORD, "xa", full_name="Sở Nội vụ")
    tokens = {"kiosk-a": add_device(db, "kiosk", "Kiosk A", "xa"), "kiosk-b": add_device(db, "kiosk", "Kiosk B", "xa-b"),
              "display-b": add_device(db, "display", "TV B", "xa-b")}
    return {"a": cid, "b": b, "tokens": tokens, "admin_a": sign_in(app, "admin-a"),
            "admin_b": sign_in(app, "admin-b"), "tinh": sign_in(app, "tinh")}


def test_create_from_preset_or_copy_edit_and_refuse_bad_input(svc, cid):
    db = svc.db
    b = setup.create_centre(db, "xa-b", "Xã B", preset="commune", area="Khu vực 1")
    t = setup.create_centre(db, "tinh", "Tỉnh", preset="province")
    c = setup.create_centre(db, "xa-c", "Xã C", copy_from="xa", area="Khu vực 2")
    with db.read() as s:
        rows = {x.code: x for x in s.execute(select(Centre)).scalars()}
        assert rows["xa-b"].kind == "commune" and rows["xa-b"].area == "Khu vực 1"
        assert rows["tinh"].kind == "province"
        n_fields = lambda i: s.execute(select(Field).where(Field.centre_id == i)).scalars().all()  # noqa: E731
        assert len(n_fields(t)) > len(n_fields(b)) >= 5
        # a copy has the other centre's fields and counters, not its accounts or devices
        assert sorted(f.code for f in n_fields(c)) == sorted(f.code for f in n_fields(cid))
        assert len(s.execute(select(Counter).where(Counter.centre_id == c)).all()) == 4
        assert s.execute(select(Device).where(Device.centre_id == c)).first() is None
        assert s.execute(select(AuditEntry).where(AuditEntry.centre_id == c,
                                                  AuditEntry.action == "centre.create")).scalar_one().data["copy_of"] == "xa"
    assert svc.engine.issue(c, "dat-dai").value["number"]  # a working centre at once
    with pytest.raises(Conflict):
        setup.create_centre(db, "xa-b", "Again", preset="commune")
    for bad in (dict(code="Xa B", name="x", preset="commune"), dict(code="xa-d", name="", preset="commune"),
                dict(code="xa-d", name="x", preset="district"), dict(code="xa-d", name="x"),
                dict(code="xa-d", name="x", preset="commune", copy_from="xa")):
        with pytest.raises(BadRequest):
            setup.create_centre(db, **bad)
    assert setup.edit_centre(db, "xa-b", name="Xã Bình", area="Khu vực 3") == {
        "name": ["Xã B", "Xã Bình"], "area": ["Khu vực 1", "Khu vực 3"]}
    assert setup.edit_centre(db, "xa-b", name="Xã Bình", area="Khu vực 3") == {}
    with pytest.raises(BadRequest):
        setup.edit_centre(db, "xa-b", name=" ")


def test_province_admin_manages_centres_on_the_pages(app, svc, province):
    tinh = province["tinh"]
    page = tinh.get("/province/centres")
    assert page.status_code == 200 and "xa-b" in page.text and "Khu vực 2" in page.text
    assert "Trung tâm của tỉnh" in page.text or "Các trung tâm" in page.text  # Vietnamese by default
    r = form(tinh, "/province/centres", {"code": "xa-c", "name": "Xã C", "area": "Khu vực 2", "source": "copy:xa-b"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/province/centres/xa-c")
    r = form(tinh, "/province/centres", {"code": "xa-c", "name": "Xã C", "source": "preset:commune"})
    assert r.status_code == 400 and "đã có" in r.text  # the code is taken, said in Vietnamese
    r = form(tinh, "/province/centres", {"code": "Bad Code", "name": "Xã D", "source": "preset:commune"})
    assert r.status_code == 400
    assert form(tinh, "/province/centres/xa-c", {"name": "Xã Cát", "area": "Khu vực 4"}).status_code == 302
    assert "Xã Cát" in tinh.get("/province/centres/xa-c").text
    # name an administrator: a new account, or an existing manager promoted
    r = form(tinh, "/province/centres/xa-c/admins", {"username": "admin-c", "full_name": "Chị C",
                                                     "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 302
    add_user(svc.db, "sep-c", "manager", PASSWORD, "xa-c")
    with svc.db.read() as s:
        sep = s.execute(select(User).where(User.username == "sep-c")).scalar_one()
        c_id = s.execute(select(Centre.id).where(Centre.code == "xa-c")).scalar_one()
        assert s.execute(select(User.role, User.centre_id).where(User.username == "admin-c")).one() == ("admin", c_id)
    assert form(tinh, f"/province/centres/xa-c/admins/{sep.id}", {"admin": "1"}).status_code == 302
    with svc.db.read() as s:
        assert s.get(User, sep.id).role == "admin"
    admin_c = sign_in(app, "admin-c")
    assert admin_c.get("/admin").status_code == 200
    # another centre's account cannot be promoted through this centre's address
    with svc.db.read() as s:
        other = s.execute(select(User.id).where(User.username == "admin-a")).scalar_one()
    form(tinh, f"/province/centres/xa-c/admins/{other}", {"admin": "0"})
    with svc.db.read() as s:
        assert s.get(User, other).role == "admin"
    assert tinh.get("/province/centres/nope").status_code == 404


def test_province_admin_works_in_any_centre_and_comes_back(app, svc, province):
    tinh = province["tinh"]
    assert tinh.get("/api/v1/state").json["centre"]["code"] == "xa"  # home centre
    r = form(tinh, "/province/centres/xa-b/open", {"to": "live"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/manage")
    assert tinh.get("/api/v1/state").json["centre"]["code"] == "xa-b"
    live = tinh.get("/manage")
    assert live.status_code == 200 and "Trung tâm xã B" in live.text
    assert tinh.get("/admin/devices").status_code == 200 and "Kiosk B" in tinh.get("/admin/devices").text
    sock = socketio.test_client(app, flask_test_client=tinh)
    state = [m for m in sock.get_received() if m["name"] == "state"][0]["args"][0]
    assert state["centre"]["code"] == "xa-b"
    svc.publish(svc.engine.issue(province["b"], "dat-dai").events)
    assert "ticket.issued" in [m["name"] for m in sock.get_received()]
    sock.disconnect()
    form(tinh, "/province/centres/xa/open", {"to": "admin"})
    assert tinh.get("/api/v1/state").json["centre"]["code"] == "xa"


def test_a_background_read_that_crosses_the_switch_does_not_put_the_old_centre_back(app, svc, province,
                                                                                   monkeypatch):
    """The overview polls the API every 1.5 s: an answer that left before "open centre B" and arrives
    after it must not carry the old session (Flask would renew a permanent session's cookie on every
    request); pages still renew it, and a background read does once the cookie is an hour old."""
    from layso.server import auth
    tinh = province["tinh"]
    old = tinh.get_cookie("session").value
    assert tinh.get("/api/v1/province/overview").headers.get("Set-Cookie") is None
    assert "session=" in tinh.get("/province").headers.get("Set-Cookie", "")  # a page renews it
    form(tinh, "/province/centres/xa-b/open", {"to": "live"})
    poll = app.test_client()  # the poll that left with the old cookie
    poll.set_cookie("session", old)
    r = poll.get("/api/v1/province/overview")
    assert r.status_code == 200 and r.headers.get("Set-Cookie") is None
    assert tinh.get("/api/v1/state").json["centre"]["code"] == "xa-b"
    monkeypatch.setattr(auth, "BACKGROUND_REFRESH_S", 0)
    assert "session=" in tinh.get("/api/v1/province/overview").headers.get("Set-Cookie", "")
    assert tinh.get("/api/v1/state").json["centre"]["code"] == "xa-b"


def test_a_centre_admin_never_reads_or_changes_another_centre(app, svc, province):
    a, b = province["admin_a"], province["admin_b"]
    db = svc.db
    # the province pages and the switch are closed to them
    for path in ("/province/centres", "/province/centres/xa-b", "/province/alerts", "/province", "/province/stats",
                 "/province/catalogue", "/api/v1/province/overview"):
        assert a.get(path).status_code == 403, path
    assert form(a, "/province/alerts", {"to": "0912345678"}).status_code == 403
    assert form(a, "/province/centres/xa-b/open").status_code == 403
    assert form(a, "/province/centres", {"code": "x", "name": "x", "source": "preset:commune"}).status_code == 403
    assert form(a, "/province/centres/xa-b/suspend").status_code == 403
    assert form(a, "/province/centres/xa-b/admins", {"username": "evil", "password": PASSWORD,
                                                     "password2": PASSWORD}).status_code == 403
    # even a session that names another centre is ignored for them
    with a.session_transaction() as sess:
        sess[ACTING_CENTRE_KEY] = province["b"]
    assert a.get("/api/v1/state").json["centre"]["code"] == "xa"
    assert "Kiosk B" not in a.get("/admin/devices").text and "Kiosk A" in a.get("/admin/devices").text
    assert "Trung tâm xã B" not in a.get("/manage").text
    # ids of the other centre are unknown here: revoke its kiosk, deactivate its admin
    with db.read() as s:
        kiosk_b = s.execute(select(Device.id).where(Device.name == "Kiosk B")).scalar_one()
        admin_b_id = s.execute(select(User.id).where(User.username == "admin-b")).scalar_one()
    form(a, f"/admin/devices/{kiosk_b}/revoke")
    form(a, f"/admin/accounts/{admin_b_id}", {"action": "deactivate"})
    form(a, f"/admin/accounts/{admin_b_id}", {"action": "password", "password": "stolen-password"})
    with db.read() as s:
        assert s.get(Device, kiosk_b).revoked_at is None
        assert s.get(User, admin_b_id).active
    assert b.get("/admin").status_code == 200
    # they cannot make a province administrator, nor touch the one whose home is their centre
    r = form(a, "/admin/accounts", {"username": "evil", "role": "province_admin", "password": PASSWORD,
                                    "password2": PASSWORD})
    assert r.status_code == 400
    with db.read() as s:
        assert s.execute(select(User).where(User.username == "evil")).first() is None
        tinh_id = s.execute(select(User.id).where(User.username == "tinh")).scalar_one()
    assert "tinh" not in a.get("/admin/accounts").text
    form(a, f"/admin/accounts/{tinh_id}", {"action": "password", "password": "taken-over-1"})
    form(a, f"/admin/accounts/{tinh_id}", {"action": "role", "role": "staff"})
    form(a, f"/admin/accounts/{tinh_id}", {"action": "deactivate"})
    with db.read() as s:
        u = s.get(User, tinh_id)
        assert u.role == "province_admin" and u.active
    assert sign_in(app, "tinh")  # the password still works
    # REST: statistics and state are their centre's; another centre's device acts only there
    assert a.get("/api/v1/stats?from=2026-11-01&to=2026-11-23&group=field").status_code == 200
    r = app.test_client().post("/api/v1/tickets", json={"field": "dat-dai"},
                               headers={"Authorization": f"Bearer {province['tokens']['kiosk-b']}"})
    assert r.status_code == 201
    assert a.get("/api/v1/state").json["fields"][0]["waiting"] == 0
    # Socket.IO: an administrator's connection hears only their centre
    sock = socketio.test_client(app, flask_test_client=a)
    sock.get_received()
    svc.publish(svc.engine.issue(province["b"], "dat-dai").events)
    assert [m for m in sock.get_received() if m["name"] == "ticket.issued"] == []
    svc.publish(svc.engine.issue(province["a"], "dat-dai").events)
    assert [m for m in sock.get_received() if m["name"] == "ticket.issued"]
    sock.disconnect()


def test_suspending_stops_devices_and_accounts_and_resuming_restores_them(app, svc, province):
    from layso.server.realtime.events import disconnect_revoked
    tinh = province["tinh"]
    kiosk = {"Authorization": f"Bearer {province['tokens']['kiosk-b']}"}
    display, _ = __import__("conftest").settled_device_socket(app, province["tokens"]["display-b"])
    assert app.test_client().get("/api/v1/fields", headers=kiosk).status_code == 200
    assert form(tinh, "/province/centres/xa-b/suspend").status_code == 302
    assert app.test_client().get("/api/v1/fields", headers=kiosk).status_code == 401
    assert province["admin_b"].get("/admin").status_code == 302  # signed out
    assert app.test_client().post("/api/v1/session", json={"username": "admin-b",
                                                           "password": PASSWORD}).status_code == 401
    assert disconnect_revoked(svc.db) >= 1 and not display.is_connected()
    assert not socketio.test_client(app, auth={"token": province["tokens"]["display-b"]}).is_connected()
    assert "Tạm ngừng" in tinh.get("/province/centres").text
    # the province administrator still reaches it, to put it right
    form(tinh, "/province/centres/xa-b/open")
    assert tinh.get("/api/v1/state").json["centre"]["code"] == "xa-b"
    assert form(tinh, "/province/centres/xa-b/resume").status_code == 302
    assert app.test_client().get("/api/v1/fields", headers=kiosk).status_code == 200
    assert sign_in(app, "admin-b").get("/admin").status_code == 200
    with svc.db.read() as s:
        actions = [e.action for e in s.execute(select(AuditEntry).where(AuditEntry.centre_id == province["b"])
                                               .order_by(AuditEntry.id)).scalars()]
    assert actions[-2:] == ["centre.suspend", "centre.resume"]


def test_only_province_admins_see_the_province_link(app, province):
    assert 'href="/province/centres"' in province["tinh"].get("/").text
    assert 'href="/province/centres"' not in province["admin_a"].get("/").text
    assert re.search(r"Quản trị viên tỉnh", province["tinh"].get("/").text)
