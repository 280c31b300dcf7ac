"""The province's alerts through the notifier, against a local HTTP server standing in for the SMS
gateway and the webhook receiver: an alert that starts makes exactly one message per recipient, however
many janitor rounds and server processes see it; its end makes one "over" message (when asked); a
gateway that is down and comes back gets each message once; the settings page."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest
from conftest import HCM, config_data, free_port
from http_receiver import HttpReceiver
from layso.server.auth import device_principal
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.engine import centres as setup
from layso.server.janitor import run_janitor
from layso.server.notify.alerts import alerts_view, save_alerts_config
from layso.server.notify.channels import sign
from layso.server.notify.outbox import deliver, outbox_view
from layso.server.storage.models import OutboxMessage, ProvinceAlert
from sqlalchemy import func, select

from layso.config import AlertsConfig, parse_config

SECRET = "province-webhook-secret-0123"
PHONES = ["0912345678", "0987654321"]
PASSWORD = "password-123"


class Receiver(HttpReceiver):
    """The SMS gateway (/sms …) and webhook receiver (/hook …) on one port; `fail` answers 500 (and
    keeps nothing), `stop` leaves nothing listening (connection refused) until `start` opens the same
    port again."""

    def __init__(self):
        self.fail = False
        super().__init__(free_port())

    def mode_for(self, path: str) -> str:
        return "fail" if self.fail else "ok"

    def keep(self, path: str, body: bytes, headers, mode: str) -> dict | None:
        return None if mode == "fail" else super().keep(path, body, headers, mode)

    def at(self, path: str) -> list[dict]:
        return [r for r in self.received if r["path"] == path]


@pytest.fixture
def rx():
    r = Receiver()
    yield r
    r.stop()


def province_settings(rx: Receiver, **changes) -> AlertsConfig:
    return AlertsConfig.model_validate({"gateway": {"url": rx.url + "/sms", "token": "t0k", "timeout_s": 2},
                                        "to": PHONES, "webhook": {"url": rx.url + "/hook", "secret": SECRET},
                                        "grace_s": 0, **changes})


def commune(db, code: str, name: str, **notify) -> int:
    data = config_data("commune")  # open all hours
    data["centre"].update(code=code, name=name, area="Khu vực 2")
    if notify:
        data["notify"] = notify
    return setup.create_from_config(db, parse_config(data), kind="commune")


@pytest.fixture
def world(app, svc, cid, frozen_clock, rx):
    """Centre B (open all hours) with a lobby screen that is not connected: an alert from the start."""
    svc.publish = lambda events: None
    b = commune(svc.db, "xa-b", "Trung tâm xã B")
    token = add_device(svc.db, "display", "Màn hình sảnh B", "xa-b")
    save_alerts_config(svc.db, province_settings(rx))
    return {"b": b, "display": device_principal(svc.db, token).device_id}


def rounds(svc, frozen_clock, n: int, step_s: float = 15) -> None:
    for _ in range(n):
        run_janitor(svc)
        deliver(svc.db)
        frozen_clock.advance(seconds=step_s)


def texts(rx, path: str) -> list[str]:
    return [r["body"]["text"] for r in rx.at(path)]


def test_an_alert_that_starts_is_sent_once_to_each_recipient(svc, world, rx, frozen_clock):
    rounds(svc, frozen_clock, 6)
    sms, hooks = rx.at("/sms"), rx.at("/hook")
    assert sorted(r["body"]["to"] for r in sms) == PHONES  # one SMS a number, once
    assert len(hooks) == 1
    assert texts(rx, "/sms") == ["Trung tâm xã B: man hinh Màn hình sảnh B mat ket noi"] * 2
    assert all(r["headers"]["Authorization"] == "Bearer t0k" and r["body"]["channel"] == "sms" for r in sms)
    hook = hooks[0]
    assert hook["headers"]["X-Layso-Signature"] == "sha256=" + sign(SECRET, hook["raw"])
    body = hook["body"]
    assert body["type"] == "province.alert" and body["kind"] == "alert" and body["alert"] == "display_offline"
    assert body["centre"] == "xa-b" and body["device"] == "Màn hình sảnh B" and "to" not in body
    assert body["started_at"].startswith("2026-11-23T09:00") and body["cleared_at"] is None
    with svc.db.read() as s:
        assert s.execute(select(func.count()).select_from(ProvinceAlert)).scalar() == 1


def test_a_wait_past_the_target_is_sent_once_with_its_minutes(svc, world, rx, frozen_clock):
    e = svc.engine
    for _ in range(2):
        e.issue(world["b"], "dat-dai")
    rounds(svc, frozen_clock, 2)
    assert not [t for t in texts(rx, "/sms") if "Đất đai" in t]  # 30 s: within the target
    frozen_clock.advance(minutes=31)
    rounds(svc, frozen_clock, 4)
    waits = [t for t in texts(rx, "/sms") if "Đất đai" in t]
    assert waits == ["Trung tâm xã B: linh vuc Đất đai co nguoi cho 31 phut (muc tieu 30 phut)"] * 2
    hook = next(r["body"] for r in rx.at("/hook") if r["body"]["alert"] == "wait_over_target")
    assert hook["field"] == "dat-dai" and hook["target_s"] == 1800 and hook["longest_wait_s"] >= 1860


def test_an_alert_that_ends_is_told_once_and_a_new_one_starts_afresh(svc, world, rx, frozen_clock):
    rounds(svc, frozen_clock, 2)
    svc.engine.device_status(world["b"], world["display"], online=True)
    rounds(svc, frozen_clock, 4)
    over = [r for r in rx.at("/sms") if r["body"]["text"].startswith("Da het canh bao")]  # a gateway gets the text
    assert sorted(r["body"]["to"] for r in over) == PHONES
    assert over[0]["body"]["text"] == "Da het canh bao - Trung tâm xã B: man hinh Màn hình sảnh B mat ket noi"
    assert [r["body"]["kind"] for r in rx.at("/hook")] == ["alert", "cleared"]
    assert rx.at("/hook")[1]["body"]["cleared_at"] is not None
    svc.engine.device_status(world["b"], world["display"], online=False)  # offline again: a new alert
    rounds(svc, frozen_clock, 3)
    assert [r["body"]["kind"] for r in rx.at("/hook")] == ["alert", "cleared", "alert"]


def test_without_on_clear_the_end_is_not_told(svc, world, rx, frozen_clock):
    save_alerts_config(svc.db, province_settings(rx, on_clear=False))
    rounds(svc, frozen_clock, 2)
    svc.engine.device_status(world["b"], world["display"], online=True)
    rounds(svc, frozen_clock, 3)
    assert [r["body"]["kind"] for r in rx.at("/hook")] == ["alert"]
    with svc.db.read() as s:
        assert s.execute(select(ProvinceAlert.cleared_at)).scalar_one() is not None


def test_the_gateway_down_then_up_gets_each_message_once(svc, world, rx, frozen_clock):
    rx.stop()
    run_janitor(svc)
    assert deliver(svc.db) == 0
    with svc.db.read() as s:
        failed = s.execute(select(OutboxMessage).where(OutboxMessage.alert_id.is_not(None))).scalars().all()
        assert len(failed) == 3 and all(m.status == "pending" and m.attempts == 1 for m in failed)
        assert all("cannot reach" in m.last_error for m in failed)
    frozen_clock.advance(seconds=1.5)  # past the first back-off (1 s)
    assert deliver(svc.db) == 0
    rx.start()
    assert deliver(svc.db) == 0  # the second back-off (2 s) has not passed yet
    frozen_clock.advance(seconds=2.5)
    assert deliver(svc.db) == 3
    rounds(svc, frozen_clock, 4)
    assert sorted(r["body"]["to"] for r in rx.at("/sms")) == PHONES and len(rx.at("/hook")) == 1
    view = alerts_view(svc.db)
    assert view["counts"] == {"pending": 0, "sending": 0, "sent": 3, "failed": 0}
    assert all(m["attempts"] == 3 for m in view["messages"])


def test_a_message_that_keeps_failing_ends_failed_with_its_reason(app, svc, world, rx, frozen_clock):
    save_alerts_config(svc.db, province_settings(rx, max_attempts=2))
    rx.fail = True
    run_janitor(svc)
    deliver(svc.db)
    frozen_clock.advance(seconds=2)
    deliver(svc.db)
    view = alerts_view(svc.db)
    assert view["counts"]["failed"] == 3 and all("500" in m["last_error"] for m in view["messages"])
    add_user(svc.db, "tinh", "province_admin", PASSWORD, "xa")
    c = app.test_client()
    c.post("/api/v1/session", json={"username": "tinh", "password": PASSWORD})
    page = c.get("/province/alerts").get_data(as_text=True)
    assert "thất bại: 3" in page and "cổng gửi tin trả lời mã 500" in page
    overview = c.get("/province").get_data(as_text=True)
    assert 'id="ov-sent"' in overview and "thất bại: 3" in overview


def test_a_short_alert_within_the_grace_time_wakes_nobody(svc, world, rx, frozen_clock):
    save_alerts_config(svc.db, province_settings(rx, grace_s=60))
    rounds(svc, frozen_clock, 3)  # 45 s
    assert rx.received == []
    svc.engine.device_status(world["b"], world["display"], online=True)  # back before a minute
    rounds(svc, frozen_clock, 2)
    assert rx.received == []
    svc.engine.device_status(world["b"], world["display"], online=False)
    rounds(svc, frozen_clock, 6)  # 90 s: past the grace time
    assert len(rx.at("/hook")) == 1 and len(rx.at("/sms")) == 2
    with svc.db.read() as s:
        alerts = s.execute(select(ProvinceAlert).order_by(ProvinceAlert.id)).scalars().all()
    assert [(a.notified_at is None, a.cleared_at is None) for a in alerts] == [(True, False), (False, True)]


def test_a_closed_centre_raises_nothing_and_a_suspended_one_is_cleared_silently(svc, world, rx, frozen_clock):
    data = config_data("commune", hours={"mon": ["07:30-11:30"], "tue": ["07:30-11:30"]})
    data["centre"].update(code="xa-c", name="Trung tâm xã C")
    setup.create_from_config(svc.db, parse_config(data), kind="commune")
    add_device(svc.db, "display", "Màn hình sảnh C", "xa-c")
    frozen_clock.set(datetime(2026, 11, 23, 20, 0, tzinfo=HCM))  # C is closed; B is open all hours
    rounds(svc, frozen_clock, 2)
    assert [r["body"]["centre"] for r in rx.at("/hook")] == ["xa-b"]
    frozen_clock.set(datetime(2026, 11, 24, 7, 31, tzinfo=HCM))  # C opens and its screen is still off
    rounds(svc, frozen_clock, 2)
    assert [r["body"]["centre"] for r in rx.at("/hook")] == ["xa-b", "xa-c"]
    setup.set_suspended(svc.db, "xa-c", True)
    rounds(svc, frozen_clock, 2)
    assert [r["body"]["kind"] for r in rx.at("/hook")] == ["alert", "alert"]  # no "over" for a suspension
    with svc.db.read() as s:
        assert s.execute(select(func.count()).select_from(ProvinceAlert)
                         .where(ProvinceAlert.cleared_at.is_(None))).scalar() == 1


def test_a_centres_own_recipients_get_its_alerts_through_its_own_channels(svc, cid, frozen_clock, rx):
    svc.publish = lambda events: None
    d = commune(svc.db, "xa-d", "Trung tâm xã D", sms={"url": rx.url + "/centre-sms"},
                webhook={"url": rx.url + "/centre-hook", "secret": SECRET}, alert_to=["0901234567"],
                alert_webhook=True)
    add_device(svc.db, "display", "Màn hình sảnh D", "xa-d")
    rounds(svc, frozen_clock, 6)  # no province settings saved (a minute's grace): only the centre's own are told
    assert [r["body"]["to"] for r in rx.at("/centre-sms")] == ["0901234567"]
    assert [r["body"]["alert"] for r in rx.at("/centre-hook")] == ["display_offline"]
    assert rx.at("/sms") == [] and rx.at("/hook") == []
    mine = outbox_view(svc.db, d)
    assert mine["counts"]["sent"] == 2 and {m["kind"] for m in mine["messages"]} == {"alert"}
    assert outbox_view(svc.db, cid)["counts"]["sent"] == 0


WORKER = """
import sys, time
from layso.server.engine import QueueEngine
from layso.server.janitor import run_janitor
from layso.server.notify.outbox import deliver
from layso.server.services import Services
from layso.server.storage.database import Database
db = Database(sys.argv[1])
svc = Services(db=db, engine=QueueEngine(db), publish=lambda events: None)
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
for _ in range(int(sys.argv[3])):
    run_janitor(svc)
    deliver(db)
db.dispose()
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_server_processes_raise_and_send_each_alert_once(tmp_path, rx, backend, request):
    """Two real processes run the janitor and the sender at the same moments on one database."""
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade
    from conftest import small_config_data
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'two.db'}"
    db = Database(url)
    upgrade(db)
    seed_centre(db, parse_config(small_config_data()))
    for code in ("xa-b", "xa-c"):
        commune(db, code, f"Trung tâm {code}")
        add_device(db, "display", f"Màn hình {code}", code)
    save_alerts_config(db, province_settings(rx))
    start = time.time() + 2.0
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(start), "6"], stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert not any("failed" in e for e in errors), errors
    deliver(db)
    assert sorted(r["body"]["centre"] for r in rx.at("/hook")) == ["xa-b", "xa-c"]
    assert sorted(r["body"]["to"] for r in rx.at("/sms")) == sorted(PHONES * 2)
    with db.read() as s:
        assert s.execute(select(func.count()).select_from(ProvinceAlert)).scalar() == 2
        assert s.execute(select(func.count()).select_from(OutboxMessage)).scalar() == 6
    db.dispose()


# ---- the settings page --------------------------------------------------------------------------------
def signed_in(app, username: str):
    c = app.test_client()
    assert c.post("/api/v1/session", json={"username": username, "password": PASSWORD}).status_code == 200
    return c


def form(c, **fields) -> dict:
    page = c.get("/province/alerts").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    base = {"csrf_token": token, "kinds": ["wait_over_target", "paper_out", "display_offline"], "on_clear": "1",
            "grace_s": "60", "gateway_channel": "sms", "wait_template": "{centre}: {field} {wait}/{target}",
            "paper_template": "{centre}: {device} het giay", "offline_template": "{centre}: {device} mat ket noi",
            "cleared_template": "Xong: {alert}"}
    return {**base, **fields}


def test_the_settings_page_saves_validates_and_keeps_secrets(app, svc, cid, frozen_clock):
    from layso.server.notify.alerts import alerts_config
    add_user(svc.db, "tinh", "province_admin", PASSWORD, "xa")
    add_user(svc.db, "quantri", "admin", PASSWORD, "xa")
    assert signed_in(app, "quantri").get("/province/alerts").status_code == 403
    c = signed_in(app, "tinh")
    page = c.get("/province/alerts")
    assert page.status_code == 200 and "Cảnh báo của toàn tỉnh" in page.get_data(as_text=True)
    r = c.post("/province/alerts", data=form(c, gateway_url="https://sms.example.vn/send", gateway_token="tok-1",
                                               to="0912 345 678\n+84987654321", webhook_url="https://tinh.example.vn/hook",
                                               webhook_secret=SECRET, grace_s="120"))
    assert r.status_code == 302
    cfg = alerts_config(svc.db)
    assert cfg.to == PHONES and cfg.gateway.token == "tok-1" and cfg.webhook.secret == SECRET and cfg.grace_s == 120
    page = c.get("/province/alerts").get_data(as_text=True)
    assert SECRET not in page and "tok-1" not in page  # secrets are never shown again
    r = c.post("/province/alerts", data=form(c, gateway_url="https://sms.example.vn/send", to="0912345678",
                                               webhook_url="https://tinh.example.vn/hook", kinds=["paper_out"]))
    assert r.status_code == 302
    cfg = alerts_config(svc.db)
    assert cfg.gateway.token == "tok-1" and cfg.webhook.secret == SECRET and cfg.kinds == ["paper_out"]  # kept
    bad = c.post("/province/alerts", data=form(c, to="12345", wait_template="{who}"))
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "không phải số di động" in text and "{centre}" in text
    assert alerts_config(svc.db).to == ["0912345678"]  # nothing saved
    no_gateway = c.post("/province/alerts", data=form(c, to="0912345678"))
    assert no_gateway.status_code == 400 and "cần một cổng" in no_gateway.get_data(as_text=True)
