"""Administration in-process (frozen clock): every change validated, written to the database, seen
by the engine at once, audited with the administrator's name, and protected by CSRF."""
from __future__ import annotations

import re

import pytest
from conftest import HCM, settled_device_socket
from layso.server.auth import check_password, device_principal
from layso.server.engine.accounts import add_user
from layso.server.errors import Conflict
from layso.server.storage.models import AuditEntry, Centre, Counter, Device, Field, User
from sqlalchemy import select


@pytest.fixture
def admin(app, svc):
    """A signed-in administrator's client with `.csrf` (English texts)."""
    uid = add_user(svc.db, "root", "admin", "password-123", full_name="Quản trị viên")
    client = app.test_client()
    page = client.get("/login?lang=en")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"username": "root", "password": "password-123", "csrf_token": token}).status_code == 302
    client.csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin?lang=en").text).group(1)
    client.uid = uid
    return client


def post(client, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": client.csrf})


def notices(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", m) for m in re.findall(r'class="notice[^"]*"[^>]*>(.*?)</(?:p|div)>', html, re.S))


def audit(svc, action: str) -> list[AuditEntry]:
    with svc.db.read() as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars().all()


def test_only_administrators_and_only_with_csrf(app, svc, admin):
    manager = app.test_client()
    add_user(svc.db, "sep", "manager", "password-123")
    manager.post("/api/v1/session", json={"username": "sep", "password": "password-123"})
    assert manager.get("/admin").status_code == 403 and manager.get("/admin/fields").status_code == 403
    assert app.test_client().get("/admin/devices").status_code == 302
    for path in ("/admin", "/admin/fields", "/admin/fields/bhxh", "/admin/counters", "/admin/counters/2",
                 "/admin/hours", "/admin/ticker", "/admin/devices", "/admin/accounts"):
        assert admin.get(path).status_code == 200, path
    forged = admin.post("/admin/ticker", data={"ticker": "no token"})
    assert forged.status_code == 400
    assert 'href="/admin"' in admin.get("/?lang=en").text


def test_fields_are_validated_saved_and_used_at_once(svc, cid, admin):
    r = post(admin, "/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "numbering": "range",
                                          "range_start": "2400", "counters": ["2"], "accepting": "on"})
    assert r.status_code == 400 and "overlap" in notices(r.text)  # 2400… runs into dat-dai's 2001–2499
    r = post(admin, "/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "numbering": "prefix",
                                          "prefix": "X", "width": "3", "cutoff": "25:00", "counters": ["2"]})
    assert r.status_code == 400 and "Last issue time" in notices(r.text)
    r = post(admin, "/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "numbering": "prefix",
                                          "prefix": "X", "width": "3", "counters": []})
    assert r.status_code == 400 and "at least one counter" in notices(r.text)
    r = post(admin, "/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "agency": "Phòng Kinh tế",
                                          "numbering": "prefix", "prefix": "x", "width": "3", "counters": ["2"],
                                          "accepting": "on", "target_wait_min": "20"})
    assert r.status_code == 302
    assert svc.engine.issue(cid, "xay-dung").value["number"] == "X001"
    assert any(f["code"] == "xay-dung" and 2 in f["serving_counters"] for f in svc.engine.fields(cid))
    # change numbering and stop issuing: the engine follows the database
    r = post(admin, "/admin/fields/bhxh", {"name": "Bảo hiểm xã hội", "numbering": "range", "range_start": "7001",
                                           "range_end": "7499", "counters": ["2", "3"], "active": "on"})
    assert r.status_code == 302
    bhxh = next(f for f in svc.engine.fields(cid) if f["code"] == "bhxh")
    assert bhxh["accepting"] is False and bhxh["closed_reason"] == "field_closed"
    with pytest.raises(Conflict):
        svc.engine.issue(cid, "bhxh")
    post(admin, "/admin/fields/bhxh", {"name": "Bảo hiểm xã hội", "numbering": "range", "range_start": "7001",
                                       "range_end": "7499", "counters": ["2", "3"], "active": "on", "accepting": "on"})
    assert svc.engine.issue(cid, "bhxh").value["number"] == "7001"
    added, changed = audit(svc, "field.add"), audit(svc, "field.change")
    assert added[0].target == "xay-dung" and added[0].user_id == admin.uid
    assert changed[0].data["range_start"] == [6501, 7001] and changed[0].data["accepting"] == [True, False]
    assert changed[0].data["counters"] == [[2, 3, 4], [2, 3]]


def test_counters_keep_every_field_served(svc, cid, admin):
    r = post(admin, "/admin/counters/1", {"name": "Quầy 1", "fields": ["bhxh"], "active": "on"})
    assert r.status_code == 302  # dat-dai is still served by counter 2
    r = post(admin, "/admin/counters/3", {"name": "Quầy 3", "fields": ["bhxh"], "active": "on"})
    assert r.status_code == 400 and "served by no counter: Tư pháp – Hộ tịch" in notices(r.text)
    r = post(admin, "/admin/counters/new", {"number": "7", "name": "Quầy 7", "fields": ["tu-phap-ho-tich"]})
    assert r.status_code == 302
    r = post(admin, "/admin/counters/new", {"number": "7", "name": "Quầy 7 bis", "fields": ["bhxh"]})
    assert r.status_code == 400 and "exists already" in notices(r.text)
    r = post(admin, "/admin/counters/new", {"number": "8", "name": "Quầy 8", "fields": []})
    assert r.status_code == 400 and "Fields served" in notices(r.text)
    state = svc.engine.state(cid)
    assert {c["number"]: c["fields"] for c in state["counters"]}[1] == ["bhxh"]
    assert {c["number"]: c["fields"] for c in state["counters"]}[7] == ["tu-phap-ho-tich"]
    svc.engine.sign_in(cid, 2, admin.uid)  # an open counter cannot be taken out of use
    r = post(admin, "/admin/counters/2", {"name": "Quầy 2", "fields": ["dat-dai", "bhxh"]})
    assert r.status_code == 400 and "Close the counter" in notices(r.text)
    assert [e.target for e in audit(svc, "counter.change")] == ["1"] and audit(svc, "counter.add")[0].target == "7"


def test_hours_are_validated_and_take_effect(svc, cid, admin, frozen_clock):
    r = post(admin, "/admin/hours", {"mon": "07:00-11:30, 11:00-17:00", "early_issue_minutes": "30"})
    assert r.status_code == 400 and "Monday" in notices(r.text)
    r = post(admin, "/admin/hours", {"mon": "13:00-17:00", "tue": "07:00-11:30, 13:00-17:00",
                                     "early_issue_minutes": "15", "holidays": "2026-12-31\n2027-01-01",
                                     "makeup_weekday": "mon"})
    assert r.status_code == 302
    with svc.db.read() as s:
        hours = s.get(Centre, cid).settings["hours"]
    assert hours["mon"] == ["13:00-17:00"] and hours["holidays"] == ["2026-12-31", "2027-01-01"]
    with pytest.raises(Conflict):  # Monday 09:00: closed until 12:45 now
        svc.engine.issue(cid, "bhxh")
    frozen_clock.set(frozen_clock.now().astimezone(HCM).replace(hour=12, minute=50))
    assert svc.engine.issue(cid, "bhxh").value["number"] == "6501"
    entry = audit(svc, "hours.change")[0]
    assert entry.user_id == admin.uid and entry.data["mon"] == [["00:00-24:00"], ["13:00-17:00"]]


def test_ticker_goes_through_the_engine(svc, cid, admin):
    assert post(admin, "/admin/ticker", {"ticker": "Trung tâm nghỉ Tết từ 14/02."}).status_code == 302
    assert svc.engine.state(cid)["ticker"] == "Trung tâm nghỉ Tết từ 14/02."
    assert post(admin, "/admin/ticker", {"ticker": "x" * 501}).status_code == 400
    assert audit(svc, "ticker.set")[-1].user_id == admin.uid


def test_device_tokens_are_issued_once_and_revoked(svc, admin):
    r = post(admin, "/admin/devices", {"role": "counter", "name": "Bảng quầy 2"})
    assert r.status_code == 400 and "needs the number of its counter" in notices(r.text)
    r = post(admin, "/admin/devices", {"role": "display", "name": "Màn hình khu B", "zone_fields": ["bhxh"],
                                       "zone_counters": "2, 3"})
    assert r.status_code == 201
    token = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    who = device_principal(svc.db, token)
    assert who.role == "display" and who.zone_fields == ("bhxh",) and who.zone_counters == (2, 3)
    assert token not in admin.get("/admin/devices").text  # shown once
    with svc.db.read() as s:
        device_id = s.execute(select(Device.id).where(Device.name == "Màn hình khu B")).scalar_one()
    r = post(admin, f"/admin/devices/{device_id}/revoke", {})
    assert r.status_code == 302
    assert device_principal(svc.db, token) is None
    assert audit(svc, "device.add")[-1].user_id == admin.uid
    assert audit(svc, "device.revoke")[-1].target == "Màn hình khu B"


def test_accounts_added_changed_and_deactivated(app, svc, admin):
    r = post(admin, "/admin/accounts", {"username": "lan", "full_name": "Nguyễn Thị Lan", "role": "staff",
                                        "password": "short", "password2": "short"})
    assert r.status_code == 400 and "at least 8 characters" in notices(r.text)
    r = post(admin, "/admin/accounts", {"username": "lan", "full_name": "Nguyễn Thị Lan", "role": "staff",
                                        "password": "password-123", "password2": "password-123", "pin": "2468"})
    assert r.status_code == 302
    r = post(admin, "/admin/accounts", {"username": "lan", "role": "staff", "password": "password-123",
                                        "password2": "password-123"})
    assert r.status_code == 400
    with svc.db.read() as s:
        lan = s.execute(select(User).where(User.username == "lan")).scalar_one()
    assert check_password(svc.db, "lan", "password-123") is not None
    post(admin, f"/admin/accounts/{lan.id}", {"action": "role", "role": "manager", "full_name": "Nguyễn Thị Lan"})
    post(admin, f"/admin/accounts/{lan.id}", {"action": "password", "password": "new-password-1"})
    assert check_password(svc.db, "lan", "new-password-1").role == "manager"
    post(admin, f"/admin/accounts/{lan.id}", {"action": "deactivate"})
    assert check_password(svc.db, "lan", "new-password-1") is None
    r = post(admin, f"/admin/accounts/{admin.uid}", {"action": "deactivate"})
    assert "cannot deactivate your own account" in notices(admin.get("/admin/accounts").text) or r.status_code == 302
    with svc.db.read() as s:
        assert s.get(User, admin.uid).active
    actions = [e.action for e in audit(svc, "user.add")] + [e.action for e in audit(svc, "user.deactivate")]
    assert actions == ["user.add", "user.add", "user.deactivate"]
    assert audit(svc, "user.role")[0].data["role"] == ["staff", "manager"]


def test_overview_lists_the_audit_log(svc, admin):
    post(admin, "/admin/ticker", {"ticker": "Xin chào"})
    page = admin.get("/admin?lang=en").text
    assert "Audit log" in page and "Ticker text changed" in page and "ticker.set" not in page and "root" in page
    with svc.db.read() as s:
        assert s.execute(select(Field)).scalars().first() is not None and s.execute(select(Counter)).first()


def test_devices_hear_of_a_change_and_get_a_fresh_state(app, svc, admin):
    from layso.server.engine.devices import add_device
    kiosk, _received = settled_device_socket(app, add_device(svc.db, "kiosk", "Kiosk A"))
    r = post(admin, "/admin/fields/bhxh", {"name": "Bảo hiểm xã hội", "numbering": "range", "range_start": "6501",
                                           "range_end": "6999", "counters": ["2", "3"], "active": "on"})
    assert r.status_code == 302
    got = kiosk.get_received()
    names = [m["name"] for m in got]
    assert "queue.changed" in names and "counter.changed" in names and names[-1] == "state"
    changed = next(m["args"][0] for m in got if m["name"] == "queue.changed")
    state = got[-1]["args"][0]
    assert state["seq"] >= changed["seq"]
    assert next(f for f in state["fields"] if f["code"] == "bhxh")["accepting"] is False
    kiosk.disconnect()


def test_a_new_field_opens_its_first_counter_in_the_same_form(svc, cid, admin):
    """No chicken-and-egg: a counter needs a field, a field needs a counter; one form makes both."""
    r = post(admin, "/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "numbering": "prefix",
                                          "prefix": "X", "width": "3", "accepting": "on",
                                          "new_counter_number": "2", "new_counter_name": "Quầy 2 bis"})
    assert r.status_code == 400 and "Counter 2 exists already" in notices(r.text)
    r = post(admin, "/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "numbering": "prefix",
                                          "prefix": "X", "width": "3", "accepting": "on",
                                          "new_counter_number": "9", "new_counter_name": "Quầy 9 – Xây dựng"})
    assert r.status_code == 302, notices(r.text)
    counters = {c["number"]: c for c in svc.engine.state(cid)["counters"]}
    assert counters[9]["fields"] == ["xay-dung"] and counters[9]["name"] == "Quầy 9 – Xây dựng"
    assert counters[9]["status"] == "closed"
    assert svc.engine.issue(cid, "xay-dung").value["number"] == "X001"
    assert audit(svc, "counter.add")[-1].target == "9" and audit(svc, "field.add")[-1].target == "xay-dung"


def test_validation_errors_and_the_audit_log_are_vietnamese(app, svc, admin):
    vi = app.test_client()
    page = vi.get("/login?lang=vi")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    vi.post("/login", data={"username": "root", "password": "password-123", "csrf_token": token})
    vi.csrf = re.search(r'name="csrf-token" content="([^"]+)"', vi.get("/admin").text).group(1)
    cases = [
        ("/admin/counters/new", {"number": "8", "name": "Quầy 8", "fields": []}, "Lĩnh vực phục vụ: chọn hoặc nhập ít nhất 1"),
        ("/admin/hours", {"mon": "7h-11h", "early_issue_minutes": "30"}, "không phải khoảng giờ HH:MM-HH:MM"),
        ("/admin/fields/new", {"code": "xay-dung", "name": "Xây dựng", "numbering": "range", "range_start": "2400",
                               "counters": ["2"], "accepting": "on"}, "bị trùng nhau"),
        ("/admin/accounts", {"username": "root", "role": "staff", "password": "password-123",
                             "password2": "password-123"}, "Tên đăng nhập đã tồn tại"),
    ]
    english = re.compile(r"List should|is not an interval|overlap|exists already|Value error")
    for path, data, expected in cases:
        r = post(vi, path, data)
        text = notices(r.text)
        assert r.status_code == 400 and expected in text and not english.search(text), (path, text)
    assert post(vi, "/admin/hours", {"mon": "07:30-11:30, 13:30-17:00", "early_issue_minutes": "30"}).status_code == 302
    overview = vi.get("/admin").text
    assert "hours.change" not in overview and "Đổi giờ làm việc" in overview
    assert "Thứ Hai" in overview  # the changed weekday by its name, not "mon"


def test_a_devices_date_is_the_centres_local_day(svc, admin, frozen_clock):
    from layso.server.engine.devices import add_device
    # 00:30 in Hà Nội on 24/11 is still 23/11 in UTC
    frozen_clock.set(frozen_clock.now().astimezone(HCM).replace(day=24, hour=0, minute=30))
    add_device(svc.db, "display", "Màn hình khu A", fields=["dat-dai"], counters=[2])
    page = admin.get("/admin/devices").text
    row = re.search(r"Màn hình khu A</th>(.*?)</tr>", page, re.S).group(1)
    assert "24/11/2026" in row and "23/11/2026" not in row
    assert "Đất đai" in row and "dat-dai" not in row  # a display's zone by field names


def test_every_audit_entry_the_server_writes_has_words():
    """Each action the engine or a page writes to the audit log (`action="…"` or `audit(…, "…")`) has a
    label, so the log never shows a code such as "centre.suspend" or "booking.change"."""
    from pathlib import Path

    from layso.server.pages.wording import AUDIT_ACTIONS
    server = Path(__file__).resolve().parents[2] / "server"
    found = set()
    for path in server.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', text))
        found |= set(re.findall(r'audit\([^()]*?,\s*"([a-z_]+\.[a-z_]+)"', text))
        found |= {a for pair in re.findall(r'"([a-z_]+\.[a-z_]+)" if \w+ else "([a-z_]+\.[a-z_]+)"', text) for a in pair}
    assert {"centre.suspend", "centre.resume", "booking.change", "user.add"} <= found  # the scan sees them
    assert found - set(AUDIT_ACTIONS) == set()
