"""The managers' pages in-process (frozen clock): who may see them, the live view's figures (waits,
counters, device faults), its live events over Socket.IO, and the statistics page."""
from __future__ import annotations

import re
from datetime import date

from conftest import seat_officers
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.storage.models import Device
from sqlalchemy import select


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def signed_in(app, svc, role: str = "manager", username: str = "sep"):
    add_user(svc.db, username, role, "password-123", full_name="Lê Văn Sếp")
    client = app.test_client()
    page = client.get("/login?lang=en")
    r = client.post("/login", data={"username": username, "password": "password-123",
                                    "csrf_token": csrf_of(page.text)})
    assert r.status_code == 302
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_are_for_managers(app, svc):
    anonymous = app.test_client()
    r = anonymous.get("/manage")
    assert r.status_code == 302 and "/login?next=/manage" in r.headers["Location"]
    assert anonymous.get("/manage/stats/export?format=csv").status_code == 302
    staff = signed_in(app, svc, "staff", "lan")
    assert staff.get("/manage").status_code == 403 and staff.get("/manage/stats").status_code == 403
    manager = signed_in(app, svc, "manager", "sep")
    assert manager.get("/manage").status_code == 200
    home = manager.get("/?lang=en").text
    assert 'href="/manage"' in home and 'href="/manage/stats"' in home and 'href="/admin"' not in home


def test_live_view_shows_waits_counters_and_device_faults(app, svc, cid, frozen_clock):
    e = svc.engine
    lan = add_user(svc.db, "lan", "staff", "password-123", full_name="Nguyễn Thị Lan")
    kiosk = add_device(svc.db, "kiosk", "Kiosk sảnh chính")
    add_device(svc.db, "display", "Màn hình tầng 1")
    with svc.db.read() as s:
        devices = {d.name: d.id for d in s.execute(select(Device)).scalars()}
    assert kiosk
    e.device_status(cid, devices["Kiosk sảnh chính"], printer="paper_out", detail="hết giấy", online=True)
    e.issue(cid, "bhxh"), e.issue(cid, "bhxh"), e.issue(cid, "dat-dai")
    frozen_clock.advance(minutes=42)
    e.sign_in(cid, 2, lan)
    e.call_next(cid, 2)  # the first bhxh ticket
    e.pause(cid, 3, reason="Họp giao ban")
    client = signed_in(app, svc)
    page = client.get("/manage?lang=en")
    assert page.status_code == 200 and "/static/dashboard/live.js" in page.text
    assert "Priority rule" in page.text and "one priority ticket is called after every 2 normal tickets" in page.text
    body = text_of(client.get("/manage/live/body?lang=en").text)
    # fields: bhxh has one waiting since 09:00, now 09:42; dat-dai likewise
    assert re.search(r"Bảo hiểm xã hội 1 42 min", body), body
    assert re.search(r"Đất đai 1 42 min", body)
    assert re.search(r"Waiting now 2 ", body) and "Longest wait 42 min" in body
    # counters: open and serving, paused with its reason, closed
    assert re.search(r"Quầy 2 Open Nguyễn Thị Lan 6501", body)
    assert "Paused Họp giao ban" in body and "Closed" in body
    # devices: the kiosk's printer is out of paper, the display has never connected (not "lost")
    assert re.search(r"Kiosk sảnh chính Kiosk ● Online Printer out of paper \(hết giấy\)", body)
    assert re.search(r"Màn hình tầng 1 Display ○ Never connected Never connected yet", body)
    assert "2 with a fault" in body
    e.device_status(cid, devices["Kiosk sảnh chính"], online=False)  # seen before, gone now
    body = text_of(client.get("/manage/live/body?lang=en").text)
    assert re.search(r"Kiosk sảnh chính Kiosk ○ Offline Not connected, Printer out of paper", body), body
    vi = text_of(client.get("/manage/live/body?lang=vi").text)
    assert "Chưa kết nối lần nào" in vi and "Mất kết nối" in vi


def test_managers_browser_receives_every_event_of_the_centre(app, svc, cid):
    from layso.server.realtime.events import socketio
    client = signed_in(app, svc)
    sio = socketio.test_client(app, flask_test_client=client)
    assert sio.is_connected()
    first = sio.get_received()
    assert first and first[0]["name"] == "state"
    svc.publish(svc.engine.issue(cid, "dat-dai").events)
    kiosk = add_device(svc.db, "kiosk", "Kiosk 2")
    assert kiosk
    with svc.db.read() as s:
        device_id = s.execute(select(Device.id).where(Device.name == "Kiosk 2")).scalar_one()
    svc.publish(svc.engine.device_status(cid, device_id, printer="cover_open").events)
    names = [m["name"] for m in sio.get_received()]
    assert "ticket.issued" in names and "queue.changed" in names and "device.changed" in names
    sio.disconnect()


def test_statistics_page_has_the_figures_charts_definitions_and_downloads(app, svc, cid, frozen_clock):
    e = svc.engine
    seat_officers(svc.db, cid)
    for field in ("bhxh", "bhxh", "dat-dai"):
        e.issue(cid, field)
    frozen_clock.advance(minutes=10)
    e.call_next(cid, 2)
    frozen_clock.advance(minutes=6)
    e.complete(cid, 2)
    client = signed_in(app, svc)
    r = client.get("/manage/stats?from=2026-11-23&to=2026-11-23&group=field&lang=en")
    assert r.status_code == 200
    html = r.text
    assert html.count('<figure class="chart">') == 3 and 'class="bar s0"' in html  # counts, waits, satisfaction
    body = text_of(html)
    assert re.search(r"bhxh Bảo hiểm xã hội 2 1 0 10.0 10.0 10.0 6.0 6.0 6.0 100.0", body), body
    assert re.search(r"All tickets 3 1 0 10.0", body)
    assert "Percentiles" not in body and "nearest-rank method" in body and "Asia/Ho_Chi_Minh" in body
    assert "Priority tickets" in body or "priority ticket" in body
    for link in ("/manage/stats/export?format=xlsx&amp;group=field", "/manage/stats/export?format=csv&amp;group=field",
                 "/manage/stats/tickets?format=csv"):
        assert link in html
    by_hour = text_of(client.get("/manage/stats?from=2026-11-23&to=2026-11-23&group=hour&lang=en").text)
    assert re.search(r"9 09:00–09:59 3 1 0", by_hour)
    bad = client.get("/manage/stats?from=2026-11-30&to=2026-11-01&lang=en")
    assert bad.status_code == 200 and "The end of the range is before its start." in bad.text
    assert client.get("/manage/stats/export?format=pdf").status_code == 400
    assert client.get("/manage/stats/export?from=x&to=y").status_code == 400


def test_statistics_page_in_vietnamese_by_default(app, svc):
    client = signed_in(app, svc)
    client.get("/?lang=vi")
    r = client.get(f"/manage/stats?from={date(2026, 11, 1)}&to={date(2026, 11, 30)}")
    assert r.status_code == 200 and '<html lang="vi">' in r.text


def test_a_wait_under_a_minute_does_not_read_as_none(app):
    from flask_babel import force_locale
    from layso.server.pages.dashboard import duration
    with app.test_request_context("/manage"), force_locale("vi"):
        assert duration(25) == "dưới 1 phút" and duration(None) == "—"
        assert duration(61) == "1 phút" and duration(3725) == "1 giờ 02 phút"


def test_the_language_switch_keeps_the_page_and_its_query(app, svc):
    from layso.server.engine.accounts import add_user
    add_user(svc.db, "lanhdao-lang", "manager", "password-123")
    c = app.test_client()
    tok = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", data={"username": "lanhdao-lang", "password": "password-123", "csrf_token": tok})
    html = c.get("/manage/stats?from=2026-11-01&to=2026-11-20&group=hour").text
    link = re.search(r'href="([^"]*lang=en[^"]*)"', html).group(1).replace("&amp;", "&")
    assert link.startswith("/manage/stats?") and "from=2026-11-01" in link and "group=hour" in link
    assert '<html lang="en">' in c.get(link).text
    assert c.get("/t/no-such-ticket?token=x").status_code == 404  # a query named like the path never breaks it
