"""Web Push through the outbox to a local HTTP server standing in for a browser's push service.

The test plays the browser: it makes a real P-256 key pair and auth secret for the subscription,
decrypts what the push service received (RFC 8291, aes128gcm, with http_ece) and checks the VAPID
signature (RFC 8292) against the server's public key. The push service fails, times out and
recovers — nothing is lost, nothing arrives twice; a 404 or 410 drops the subscription."""
from __future__ import annotations

import base64
import json
import os
import stat
import time

import http_ece
import pytest
from conftest import small_config_data
from http_receiver import HttpReceiver
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from layso.server.notify.outbox import backoff, outbox_view
from layso.server.notify.vapid import ENV, FILE, VapidKeys, b64url, b64url_decode
from layso.server.notify.webpush import check_subscription
from layso.server.notify.worker import NotifierWorker
from layso.server.storage.models import Centre, NotifySubscription
from sqlalchemy import select

CODES = {"ok": 201, "fail": 500, "gone": 410, "missing": 404}


class PushService(HttpReceiver):
    """In place of FCM / Mozilla's autopush: answers by plan (ok, fail, slow, gone, missing) and keeps
    every request, its body as the encrypted bytes."""

    codes = {"ok": 201, "fail": 500, "gone": 410, "missing": 404}
    reply = b""

    def keep(self, path: str, body: bytes, headers, mode: str) -> dict:
        return {"path": path, "body": body, "headers": {k.lower(): v for k, v in headers.items()}, "mode": mode}

    def delivered(self) -> list[dict]:
        return [r for r in self.received if r["mode"] == "ok"]


class Browser:
    """What a browser keeps for one push subscription: its key pair and auth secret."""

    def __init__(self, endpoint: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        public = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
        self.subscription = {"endpoint": endpoint, "expirationTime": None,
                             "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, request: dict) -> dict:
        assert request["headers"]["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(request["body"], private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


def check_vapid(request: dict, public_key: str, origin: str) -> None:
    """`Authorization: vapid t=<JWT>, k=<key>`: the server's key, a valid ES256 signature, aud = origin."""
    scheme, _, params = request["headers"]["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key
    header, claims, signature = parts["t"].split(".")
    raw = b64url_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public_key))
    key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    body = json.loads(b64url_decode(claims))
    assert body["aud"] == origin and body["sub"] == "mailto:ops@example.vn" and body["exp"] > time.time()


@pytest.fixture
def push():
    ps = PushService()
    yield ps
    ps.server.shutdown()


@pytest.fixture
def papp(tmp_path, frozen_clock, push, monkeypatch):
    from layso.server.app import create_app

    from layso.config import parse_config
    monkeypatch.setenv("LAYSO_SECRET_KEY", "test-secret")
    monkeypatch.delenv(ENV, raising=False)
    data = small_config_data()
    data["notify"] = {"webpush": {"subject": "mailto:ops@example.vn", "timeout_s": 1.5, "insecure_endpoints": True},
                      "max_attempts": 4}
    application = create_app(parse_config(data), db_url=f"sqlite:///{tmp_path / 'p.db'}", testing=True)
    from conftest import seat_officers
    seat_officers(application.extensions["layso"].db)
    yield application
    application.extensions["layso"].db.dispose()


def _cid(svc) -> int:
    with svc.db.read() as s:
        return s.execute(select(Centre.id)).scalar_one()


def _token(t: dict) -> str:
    return t["track_url"].rsplit("/", 1)[1]


def _subscribe(app, t: dict, browser: Browser, ahead: int = 2):
    return app.test_client().post(f"/api/v1/track/{_token(t)}/notify",
                                  json={"channel": "webpush", "ahead": ahead, "subscription": browser.subscription})


def _worker(svc) -> NotifierWorker:
    w = NotifierWorker(svc.db, backoff_base_s=1.0, vapid=svc.vapid)
    w.matcher.cursor = 0
    return w


def test_subscription_is_checked_and_stored(papp, push):
    svc = papp.extensions["layso"]
    t = svc.engine.issue(_cid(svc), "bhxh").value
    browser = Browser(push.url + "/wpush/v2/abc")
    r = _subscribe(papp, t, browser)
    assert r.status_code == 201 and r.json == {"channel": "webpush", "ahead": 2, "number": t["number"]}
    with svc.db.read() as s:
        sub = s.execute(select(NotifySubscription)).scalar_one()
        assert sub.subscription == {"endpoint": browser.subscription["endpoint"], "keys": browser.subscription["keys"]}
        assert sub.phone is None
    c = papp.test_client()
    for bad in (None, {"endpoint": push.url}, {"endpoint": "ftp://x/y", "keys": browser.subscription["keys"]},
                {"endpoint": push.url + "/x", "keys": {"p256dh": "AAAA", "auth": browser.subscription["keys"]["auth"]}},
                {"endpoint": push.url + "/x", "keys": {"p256dh": browser.subscription["keys"]["p256dh"], "auth": "!!"}}):
        r = c.post(f"/api/v1/track/{_token(t)}/notify", json={"channel": "webpush", "subscription": bad})
        assert r.status_code == 400 and r.json["error"]["code"] == "invalid_subscription", bad
    with pytest.raises(ValueError, match="https"):  # real installations post only to https push services
        check_subscription(browser.subscription, insecure=False)


def test_push_arrives_encrypted_signed_and_in_vietnamese(papp, push):
    svc = papp.extensions["layso"]
    cid = _cid(svc)
    tickets = [svc.engine.issue(cid, "bhxh").value for _ in range(5)]
    mine = tickets[4]
    browser = Browser(push.url + "/wpush/v2/mine")
    assert _subscribe(papp, mine, browser).status_code == 201
    worker = _worker(svc)
    assert worker.run_once() == 0 and push.received == []  # 4 ahead: not yet
    svc.engine.call_next(cid, 3), svc.engine.call_next(cid, 3)
    assert worker.run_once() == 1
    first = push.received[0]
    assert first["path"] == "/wpush/v2/mine" and first["headers"]["ttl"] == "3600"
    assert first["headers"]["urgency"] == "normal"
    check_vapid(first, svc.vapid.public_key, push.url)
    msg = browser.decrypt(first)
    assert msg["title"] == "Trung tâm Phục vụ hành chính công xã"
    assert msg["body"] == f"Sắp đến lượt số {mine['number']}: còn 2 người trước bạn."
    assert msg["url"] == f"/t/{_token(mine)}" and msg["tag"] == f"layso-{mine['number']}-ahead"
    for _ in range(3):
        svc.engine.call_next(cid, 3)
    assert worker.run_once() == 1
    called = push.received[1]
    assert called["headers"]["urgency"] == "high"
    assert browser.decrypt(called)["body"] == f"Mời số {mine['number']} đến quầy 3."
    assert outbox_view(svc.db, cid)["counts"] == {"pending": 0, "sending": 0, "sent": 2, "failed": 0}


def test_push_service_fails_times_out_and_recovers_nothing_lost_nothing_twice(papp, push, frozen_clock):
    svc = papp.extensions["layso"]
    cid = _cid(svc)
    tickets = [svc.engine.issue(cid, "bhxh").value for _ in range(3)]
    browsers = {t["number"]: Browser(f"{push.url}/p/{t['number']}") for t in tickets}
    for t in tickets:
        assert _subscribe(papp, t, browsers[t["number"]], ahead=0).status_code == 201
    worker = _worker(svc)
    push.plan = ["fail", "slow"]
    assert worker.run_once() == 0  # the first "ahead" (nobody ahead of the first ticket): 500, then a timeout
    assert worker.run_once() == 0  # not due before its back-off
    view = outbox_view(svc.db, cid)
    assert view["counts"]["pending"] == 1 and view["counts"]["sent"] == 0
    frozen_clock.advance(seconds=1)
    assert worker.run_once() == 0
    err = next(m for m in outbox_view(svc.db, cid)["messages"] if m["status"] == "pending")
    assert err["attempts"] == 2 and "1.5 s" in err["last_error"]
    frozen_clock.advance(seconds=backoff(2))
    assert worker.run_once() == 1  # recovered
    for _ in range(3):
        svc.engine.call_next(cid, 3)
        worker.run_once()
        frozen_clock.advance(seconds=1)
    for _ in range(3):
        frozen_clock.advance(seconds=400)
        worker.run_once()
    got: dict[str, list[dict]] = {}
    for r in push.delivered():
        number = r["path"].rsplit("/", 1)[1]
        got.setdefault(number, []).append(browsers[number].decrypt(r))
    keys = [m["key"] for msgs in got.values() for m in msgs]
    assert len(keys) == len(set(keys))  # nothing twice
    for t in tickets:  # nothing lost: each was told it is near (as it became first) and then called
        kinds = [m["tag"].rsplit("-", 1)[1] for m in got[t["number"]]]
        assert kinds[-1] == "called" and kinds.count("called") == 1, (t["number"], kinds)
    assert outbox_view(svc.db, cid)["counts"]["failed"] == 0


@pytest.mark.parametrize("answer", ["gone", "missing"])
def test_gone_subscription_is_dropped_and_the_message_fails_with_why(papp, push, answer):
    svc = papp.extensions["layso"]
    cid = _cid(svc)
    first, mine = svc.engine.issue(cid, "bhxh").value, svc.engine.issue(cid, "bhxh").value
    assert _subscribe(papp, mine, Browser(push.url + "/p/withdrawn"), ahead=1).status_code == 201
    worker = _worker(svc)
    push.plan = [answer]
    assert worker.run_once() == 0
    code = CODES[answer]
    failed = outbox_view(svc.db, cid)["messages"]
    assert [(m["status"], m["attempts"]) for m in failed] == [("failed", 1)]
    assert failed[0]["last_error"] == f"the push service answered {code}: the subscription is gone"
    with svc.db.read() as s:
        sub = s.execute(select(NotifySubscription)).scalar_one()
        assert sub.active is False and sub.subscription is None
    svc.engine.call_next(cid, 3), svc.engine.call_next(cid, 3)  # mine is called: nobody to tell any more
    worker.run_once()
    assert len(push.received) == 1 and first["number"] != mine["number"]


def test_vapid_key_is_made_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    a, b = VapidKeys(url), VapidKeys(url)
    assert a.public_key == b.public_key and len(b64url_decode(a.public_key)) == 65
    path = tmp_path / FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text().startswith("-----BEGIN PRIVATE KEY")
    raw = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    monkeypatch.setenv(ENV, base64.urlsafe_b64encode(raw).decode().rstrip("="))
    from_env = VapidKeys(url)
    assert from_env.public_key != a.public_key
    monkeypatch.setenv(ENV, "not a key")
    with pytest.raises(RuntimeError, match=ENV):
        VapidKeys(url).public_key


def test_webpush_key_command_prints_the_public_key_and_the_env_line(tmp_path, monkeypatch, capsys):
    from layso.cli import main
    monkeypatch.delenv(ENV, raising=False)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert main(["webpush-key", "--db", url]) == 0
    public = capsys.readouterr().out.strip()
    assert public == VapidKeys(url).public_key
    assert main(["webpush-key", "--db", url, "--private"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(ENV + "=")
    monkeypatch.setenv(ENV, line.split("=", 1)[1])
    assert VapidKeys("sqlite:////nowhere/else.db").public_key == public  # the same key on another machine


def test_tracking_page_offers_web_push_and_serves_the_service_worker(papp):
    svc = papp.extensions["layso"]
    t = svc.engine.issue(_cid(svc), "bhxh").value
    c = papp.test_client()
    html = c.get(f"/t/{_token(t)}").get_data(as_text=True)
    assert '<option value="webpush">Báo trên điện thoại này</option>' in html
    assert f'"push_key": "{svc.vapid.public_key}"' in html and '"service_worker": "/sw.js"' in html
    sw = c.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["Content-Type"].startswith("text/javascript")
    assert "showNotification" in sw.get_data(as_text=True) and sw.headers["Cache-Control"] == "no-cache"


# The browser's real PushManager.subscribe is called first; headless Chromium has no push service
# to register with (it rejects the call), so the wrapper then answers with the test's own
# subscription — keys the test holds — and the rest of the page's path runs as in a real phone.
PUSH_SPY = """
(() => {
  const real = PushManager.prototype.subscribe;
  window.__push = {calls: []};
  PushManager.prototype.subscribe = async function (options) {
    const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    const call = {userVisibleOnly: options.userVisibleOnly, key: key};
    window.__push.calls.push(call);
    try { const sub = await real.call(this, options); call.real = "subscribed"; return sub; }
    catch (e) { call.real = String(e && e.name) + ": " + String(e && e.message); }
    const json = window.__push.fallback;
    return {endpoint: json.endpoint, toJSON: () => json};
  };
})();
"""


@pytest.mark.browser
@pytest.mark.slow
def test_phone_subscribes_to_web_push_and_is_told_when_called(tmp_path, push, artifacts):
    """The tracking page in Chromium at 390×844 with notifications allowed: the service worker is
    registered, the Web Push choice is shown, the page asks PushManager to subscribe with the server's
    VAPID key and posts the subscription; when a counter calls the number, the real server's worker
    pushes "Mời số … đến quầy 3" (decrypted here with the subscription's key)."""
    from conftest import chromium, start_server, wait_for
    data = small_config_data()
    data["notify"] = {"webpush": {"subject": "mailto:ops@example.vn", "insecure_endpoints": True}}
    sp = start_server(tmp_path, config=data)
    try:
        kiosk, panel = sp.add_device("kiosk", "Kiosk"), sp.add_device("counter", "Panel 3", counter=3)
        sp.seat_officers()
        first = sp.post("/api/v1/tickets", kiosk, {"field": "bhxh"}).json()
        mine = sp.post("/api/v1/tickets", kiosk, {"field": "bhxh"}).json()
        phone = Browser(push.url + "/wpush/phone")
        server_key = VapidKeys(f"sqlite:///{tmp_path / 'server.db'}").public_key  # the file the server made
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN",
                                          device_scale_factor=2, permissions=["notifications"])
            context.add_init_script(PUSH_SPY)
            page = context.new_page()
            page.goto(mine["track_url"])
            page.evaluate("s => { window.__push.fallback = s; }", phone.subscription)
            assert page.evaluate("""() => navigator.serviceWorker.ready.then(r => r.active.scriptURL)""") \
                == sp.url + "/sw.js"
            assert page.input_value("#t-notify select[name=channel]") == "webpush"
            assert page.is_hidden("#t-notify-phone") and page.is_visible("#t-notify-push-hint")
            page.fill("#t-notify input[name=ahead]", "0")
            page.screenshot(path=str(artifacts / "tracking_webpush_form.png"), full_page=True)
            page.click("#t-notify button[type=submit]")
            page.locator("#t-notify-done").wait_for(state="visible", timeout=10_000)
            assert "hiện thông báo" in page.inner_text("#t-notify-done")
            calls = page.evaluate("window.__push.calls")
            assert len(calls) == 1 and calls[0]["userVisibleOnly"] is True and calls[0]["key"] == server_key
            print("headless Chromium's own PushManager.subscribe:", calls[0]["real"])
            page.screenshot(path=str(artifacts / "tracking_webpush_done.png"), full_page=True)
            context.close()
        assert sp.post("/api/v1/counters/3/next", panel, {}).json()["ticket"]["number"] == first["number"]
        assert sp.post("/api/v1/counters/3/next", panel, {}).json()["ticket"]["number"] == mine["number"]
        assert wait_for(lambda: any(phone.decrypt(r)["tag"].endswith("-called") for r in push.delivered()), 15)
        bodies = [phone.decrypt(r)["body"] for r in push.delivered()]
        assert bodies[-1] == f"Mời số {mine['number']} đến quầy 3."
        assert all(r["path"] == "/wpush/phone" for r in push.received)
    finally:
        sp.stop()
