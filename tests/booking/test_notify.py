"""Notifications through the outbox to a local HTTP server standing in for the SMS gateway and the
webhook receiver: the gateway fails, times out and recovers — nothing is lost, nothing sent twice."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from conftest import HCM, small_config_data
from http_receiver import HttpReceiver
from layso.server.notify.channels import sign
from layso.server.notify.outbox import backoff, forget_phones, outbox_view
from layso.server.notify.worker import NotifierWorker
from layso.server.storage.models import NotifySubscription, OutboxMessage, TicketEvent
from sqlalchemy import event, select

SECRET = "webhook-secret-0123456789"


class Gateway(HttpReceiver):
    """The SMS gateway (/sms: answers by the plan — ok, fail, slow) and the webhook receiver (/hook)."""

    def mode_for(self, path: str) -> str:
        return super().mode_for(path) if path == "/sms" else "ok"

    def delivered(self, path: str) -> list[dict]:
        return [r for r in self.received if r["path"] == path and r["mode"] == "ok"]

    def close(self):
        self.stop()


@pytest.fixture
def gateway():
    gw = Gateway()
    yield gw
    gw.close()


@pytest.fixture
def napp(tmp_path, frozen_clock, gateway, monkeypatch):
    from layso.server.app import create_app

    from layso.config import parse_config
    monkeypatch.setenv("LAYSO_SECRET_KEY", "test-secret")
    data = small_config_data()
    data["notify"] = {"sms": {"url": gateway.url + "/sms", "token": "t0k", "timeout_s": 1.5},
                      "webhook": {"url": gateway.url + "/hook", "secret": SECRET, "timeout_s": 2},
                      "max_attempts": 4}
    application = create_app(parse_config(data), db_url=f"sqlite:///{tmp_path / 'n.db'}", testing=True)
    from conftest import seat_officers
    seat_officers(application.extensions["layso"].db)  # a counter without an officer cannot call
    yield application
    application.extensions["layso"].db.dispose()


def issue(app, n: int, field: str = "bhxh") -> list[dict]:
    svc = app.extensions["layso"]
    cid = _cid(svc)
    return [svc.engine.issue(cid, field).value for _ in range(n)]


def _cid(svc) -> int:
    from layso.server.storage.models import Centre
    with svc.db.read() as s:
        return s.execute(select(Centre.id)).scalar_one()


def token_of(t: dict) -> str:
    return t["track_url"].rsplit("/", 1)[1]


def test_subscribe_checks_channel_phone_and_ticket(napp):
    t = issue(napp, 1)[0]
    c = napp.test_client()
    r = c.post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "sms", "ahead": 2, "phone": "0912345678"})
    assert r.status_code == 201 and r.json == {"channel": "sms", "ahead": 2, "number": t["number"]}
    for channel in ("zalo", "webpush"):
        r = c.post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": channel})
        assert r.status_code == 409 and r.json["error"]["code"] == "channel_unavailable"
    bad = c.post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "sms", "phone": "123"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_phone"
    assert c.post("/api/v1/track/nope/notify", json={"channel": "sms", "phone": "0912345678"}).status_code == 404
    assert c.post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "fax"}).status_code == 400
    assert c.post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "sms", "ahead": -1}).status_code == 400


def test_gateway_fails_times_out_and_recovers_nothing_lost_nothing_twice(napp, gateway, frozen_clock):
    svc = napp.extensions["layso"]
    cid = _cid(svc)
    tickets = issue(napp, 5)
    mine = tickets[4]
    c = napp.test_client()
    assert c.post(f"/api/v1/track/{token_of(mine)}/notify",
                  json={"channel": "sms", "ahead": 2, "phone": "0912 345 678"}).status_code == 201
    worker = NotifierWorker(svc.db, backoff_base_s=1.0)
    worker.matcher.cursor = 0
    assert worker.run_once() == 0 and gateway.received == []  # 4 ahead: not yet
    gateway.plan = ["fail", "slow"]
    svc.engine.call_next(cid, 3), svc.engine.call_next(cid, 3)  # now 2 ahead
    assert worker.run_once() == 1  # the webhook got it; the gateway answered 500
    view = outbox_view(svc.db, cid)
    sms = next(m for m in view["messages"] if m["channel"] == "sms")
    assert sms["status"] == "pending" and sms["attempts"] == 1 and "500" in sms["last_error"]
    assert worker.run_once() == 0  # not due before its back-off
    frozen_clock.advance(seconds=1)
    assert worker.run_once() == 0  # the gateway does not answer in time
    sms = next(m for m in outbox_view(svc.db, cid)["messages"] if m["channel"] == "sms")
    assert sms["attempts"] == 2 and "1.5 s" in sms["last_error"]
    frozen_clock.advance(seconds=backoff(2) - 0.001)
    assert worker.run_once() == 0
    frozen_clock.advance(seconds=0.001)
    assert worker.run_once() == 1  # recovered
    for _ in range(3):
        svc.engine.call_next(cid, 3)  # … and mine is called
    assert worker.run_once() == 2  # sms and webhook
    for _ in range(3):
        frozen_clock.advance(seconds=400)
        assert worker.run_once() == 0
    sms_ok = gateway.delivered("/sms")
    assert [m["body"]["text"] for m in sms_ok] == [
        f"Trung tâm Phục vụ hành chính công xã: so {mine['number']} con 2 nguoi truoc ban.",
        f"Trung tâm Phục vụ hành chính công xã: moi so {mine['number']} den quay 3."]
    assert all(m["body"]["to"] == "0912345678" and m["headers"]["Authorization"] == "Bearer t0k" for m in sms_ok)
    # every try of one message carries the same key: a gateway that got the slow one can drop the repeat
    tries = [r["body"]["key"] for r in gateway.received if r["path"] == "/sms"]
    assert len(tries) == 4 and len(set(tries)) == 2
    hooks = gateway.delivered("/hook")
    assert [h["body"]["kind"] for h in hooks] == ["ahead", "called"] and all("to" not in h["body"] for h in hooks)
    assert all(h["headers"]["X-Layso-Signature"] == "sha256=" + sign(SECRET, h["raw"]) for h in hooks)
    view = outbox_view(svc.db, cid)
    assert view["counts"] == {"pending": 0, "sending": 0, "sent": 4, "failed": 0}


def test_a_message_that_never_gets_through_fails_with_its_reason(napp, gateway, frozen_clock):
    svc = napp.extensions["layso"]
    cid = _cid(svc)
    t = issue(napp, 1)[0]
    napp.test_client().post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "sms", "ahead": 0,
                                                                         "phone": "0912345678"})
    gateway.plan = ["fail"] * 10
    worker = NotifierWorker(svc.db, backoff_base_s=1.0)
    worker.matcher.cursor = 0
    for _ in range(6):
        worker.run_once()
        frozen_clock.advance(seconds=30)
    sms = next(m for m in outbox_view(svc.db, cid)["messages"] if m["channel"] == "sms")
    assert sms["status"] == "failed" and sms["attempts"] == 4 and "500" in sms["last_error"]


def test_phones_are_deleted_after_the_day(napp, frozen_clock):
    svc = napp.extensions["layso"]
    t = issue(napp, 1)[0]
    napp.test_client().post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "sms", "ahead": 0,
                                                                         "phone": "0912345678"})
    NotifierWorker(svc.db).matcher.run()
    assert forget_phones(svc.db) == 0
    frozen_clock.set(datetime(2026, 11, 24, 0, 1, tzinfo=HCM))
    assert forget_phones(svc.db) == 1
    with svc.db.read() as s:
        assert s.execute(select(NotifySubscription.phone)).scalars().all() == [None]
        assert all("to" not in m.payload for m in s.execute(select(OutboxMessage)).scalars())


def test_a_command_never_waits_for_the_gateway(napp, gateway, frozen_clock, monkeypatch):
    """With a gateway that hangs, commands go on: the messages are sent from the worker's thread,
    never from the command's (checked by thread, not by a stopwatch: the box may be slow)."""
    from layso.server.notify import delivery
    svc = napp.extensions["layso"]
    cid = _cid(svc)
    t = issue(napp, 2)[1]
    napp.test_client().post(f"/api/v1/track/{token_of(t)}/notify", json={"channel": "sms", "ahead": 1,
                                                                         "phone": "0912345678"})
    gateway.plan = ["slow"] * 5
    senders: list[str] = []
    send = delivery.send
    monkeypatch.setattr(delivery, "send", lambda *a, **kw: senders.append(threading.current_thread().name)
                        or send(*a, **kw))
    worker = NotifierWorker(svc.db, every_s=0.05).start()
    try:
        for _ in range(3):
            svc.engine.call_next(cid, 3)
            worker.wake()
        deadline = time.monotonic() + 30
        while not any(r["mode"] == "slow" for r in gateway.received) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(r["mode"] == "slow" for r in gateway.received), "the worker sent nothing"
        assert senders and threading.current_thread().name not in senders
    finally:
        worker.stop()


def test_backoff_doubles_up_to_a_limit():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20) == 300 and backoff(3, base_s=0.5) == 2
    assert timedelta(seconds=backoff(1)) == timedelta(seconds=1)


def test_manager_sees_bookings_and_notifications(napp, gateway, frozen_clock):
    from layso.server.engine.accounts import add_user
    svc = napp.extensions["layso"]
    cid = _cid(svc)
    b = svc.engine.booking.book(cid, "bhxh", citizen_key="x").value
    svc.engine.booking.book(cid, "dat-dai", citizen_key="y")
    svc.engine.booking.check_in(cid, b["code"])
    napp.test_client().post(f"/api/v1/track/{token_of(b)}/notify", json={"channel": "sms", "ahead": 0,
                                                                         "phone": "0912345678"})
    gateway.plan = ["fail"]
    worker = NotifierWorker(svc.db)
    worker.matcher.cursor = 0
    worker.run_once()
    add_user(svc.db, "boss", "manager", "password-123")
    c = napp.test_client()
    c.post("/api/v1/session", json={"username": "boss", "password": "password-123"})
    html = c.get("/manage/remote").get_data(as_text=True)
    assert 'data-field="bhxh"' in html and 'data-field="dat-dai"' in html
    assert "cổng gửi tin trả lời mã 500" in html and 'class="outbox-pending"' in html and 'class="outbox-sent"' in html
    # kinds, channels and states in the manager's words, never the outbox's codes
    assert "Đang chờ" in html
    assert ">called<" not in html and ">sent<" not in html and ">pending<" not in html and ">sms<" not in html
    summary = svc.engine.booking.day_summary(cid)
    assert summary["total"]["checked_in"] == 1 and summary["total"]["booked"] == 1 and summary["lapse_rate"] == 0.0
    staff_html = napp.test_client().get("/manage/remote")
    assert staff_html.status_code in (302, 403)


def test_tracking_page_offers_the_configured_channels(napp):
    t = issue(napp, 1)[0]
    html = napp.test_client().get(f"/t/{token_of(t)}").get_data(as_text=True)
    assert 'id="t-notify"' in html and '<option value="sms">SMS</option>' in html and 'value="zalo"' not in html
    assert f'"notify_url": "/api/v1/track/{token_of(t)}/notify"' in html


def test_tracking_page_without_channels_offers_nothing(app, svc, cid):
    t = svc.engine.issue(cid, "bhxh").value
    html = app.test_client().get(f"/t/{token_of(t)}").get_data(as_text=True)
    assert 'id="t-notify"' not in html


@pytest.mark.browser
@pytest.mark.slow
def test_phone_asks_for_an_sms_and_gets_it_when_called(tmp_path, gateway, artifacts):
    """End to end: the tracking page in Chromium at 390×844, a real server whose worker sends to the
    local gateway when a counter calls the number."""
    from conftest import chromium, start_server
    data = small_config_data()
    data["notify"] = {"sms": {"url": gateway.url + "/sms", "timeout_s": 2}}
    sp = start_server(tmp_path, config=data)
    try:
        kiosk, panel = sp.add_device("kiosk", "Kiosk"), sp.add_device("counter", "Panel 3", counter=3)
        sp.seat_officers()
        first = sp.post("/api/v1/tickets", kiosk, {"field": "bhxh"}).json()
        mine = sp.post("/api/v1/tickets", kiosk, {"field": "bhxh"}).json()
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", device_scale_factor=2)
            page = context.new_page()
            page.goto(mine["track_url"])
            page.fill("#t-notify input[name=phone]", "0912 345 678")
            page.fill("#t-notify input[name=ahead]", "0")
            page.screenshot(path=str(artifacts / "tracking_notify_form.png"), full_page=True)
            page.click("#t-notify button[type=submit]")
            page.locator("#t-notify-done").wait_for(state="visible", timeout=10_000)
            assert "0" in page.inner_text("#t-notify-done")
            page.screenshot(path=str(artifacts / "tracking_notify_done.png"), full_page=True)
            context.close()
        def wait_for(n: int) -> None:
            end = time.monotonic() + 15
            while time.monotonic() < end and len(gateway.delivered("/sms")) < n:
                time.sleep(0.05)

        assert sp.post("/api/v1/counters/3/next", panel, {}).json()["ticket"]["number"] == first["number"]
        wait_for(1)  # nobody ahead now (a ticket called before the count was taken is only told it is called)
        assert sp.post("/api/v1/counters/3/next", panel, {}).json()["ticket"]["number"] == mine["number"]
        wait_for(2)
        texts = [m["body"]["text"] for m in gateway.delivered("/sms")]
        assert texts == [f"Trung tâm Phục vụ hành chính công xã: so {mine['number']} con 0 nguoi truoc ban.",
                         f"Trung tâm Phục vụ hành chính công xã: moi so {mine['number']} den quay 3."]
    finally:
        sp.stop()


def test_admin_changes_booking_settings(app, svc, cid):
    from layso.server.engine.accounts import add_user
    from layso.server.storage.models import AuditEntry
    add_user(svc.db, "root", "admin", "password-123")
    c = app.test_client()
    c.post("/api/v1/session", json={"username": "root", "password": "password-123"})
    page = c.get("/admin/booking").get_data(as_text=True)
    assert 'name="horizon_days" inputmode="numeric" value="6"' in page
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf, "enabled": "on", "hours": "07:00-11:00, 13:00-16:00", "horizon_days": "3", "online_share": "0.4",
            "field_caps": "bhxh=20", "closed_fields": "", "per_citizen_daily": "1", "lapse_at": "15:30",
            "lapse_after_call_min": "", "appointment_fields": "dat-dai", "slot_minutes": "20", "slot_capacity": "",
            "check_in_before_min": "10", "check_in_after_min": "10"}
    r = c.post("/admin/booking", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[-500:]
    cfg = svc.engine.booking.options(cid)
    assert len(cfg["fields"][0]["days"]) <= 4 and cfg["per_citizen_daily"] == 1
    with svc.db.read() as s:
        assert s.execute(select(AuditEntry.action).where(AuditEntry.action == "booking.change")).scalar() is not None
    bad = c.post("/admin/booking", data={**form, "closed_fields": "nope"})
    assert bad.status_code == 400 and "nope" in bad.get_data(as_text=True)
    bad = c.post("/admin/booking", data={**form, "online_share": "2"})
    assert bad.status_code == 400


def test_live_view_shows_todays_bookings_per_field(app, svc, cid):
    from layso.server.engine.accounts import add_user
    svc.engine.booking.book(cid, "bhxh", citizen_key="a")
    svc.engine.booking.book(cid, "bhxh", citizen_key="b")
    add_user(svc.db, "boss", "manager", "password-123")
    c = app.test_client()
    c.post("/api/v1/session", json={"username": "boss", "password": "password-123"})
    for path in ("/manage", "/manage/live/body"):
        html = c.get(path).get_data(as_text=True)
        cell = html[html.index('data-booked="bhxh"'):][:200]
        assert ": 2</small>" in cell, cell


def test_with_nobody_subscribed_a_round_reads_one_statement_and_passes_the_log(napp, gateway, frozen_clock):
    """Woken after every call, the worker first asks whether anybody could be waiting for a message
    (`Matcher.idle`); with nobody, the log is passed by. A subscription of three days ago that is still
    active (as a Web Push one stays) does not count; one made afterwards gets its messages as before."""
    svc = napp.extensions["layso"]
    cid = _cid(svc)
    old = issue(napp, 1)[0]
    napp.test_client().post(f"/api/v1/track/{token_of(old)}/notify", json={"channel": "sms", "ahead": 0,
                                                                           "phone": "0912345678"})
    frozen_clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=HCM))  # three days on; that subscription still active
    tickets = issue(napp, 3)
    worker = NotifierWorker(svc.db)
    svc.engine.call_next(cid, 3)
    statements: list[str] = []
    listen = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(svc.db.read_engine, "before_cursor_execute", listen)
    try:
        assert worker.run_once() == 0
    finally:
        event.remove(svc.db.read_engine, "before_cursor_execute", listen)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    with svc.db.read() as s:
        assert worker.matcher.cursor == s.execute(select(TicketEvent.id).order_by(TicketEvent.id.desc())).scalars().first()
    assert napp.test_client().post(f"/api/v1/track/{token_of(tickets[2])}/notify",
                                   json={"channel": "sms", "ahead": 1, "phone": "0912345679"}).status_code == 201
    assert not worker.matcher.idle()
    worker.run_once()
    svc.engine.call_next(cid, 3)
    worker.run_once()
    sms = [r["body"] for r in gateway.delivered("/sms")]
    assert "0912345679" in {m["to"] for m in sms}  # its "ahead" and "called" go out as before
