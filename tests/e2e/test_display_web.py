"""The web lobby display (/display): access by display token or session, the announcement audio the
server renders, and the page itself in headless Chromium with a call made through the API."""
from __future__ import annotations

import json
import re
import shutil
from urllib.parse import quote

import pytest
from conftest import launch_chromium, requires_chromium, start_server
from layso.voice import chime_wav
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
CALL_2001 = "Xin mời công dân có số thứ tự hai nghìn không trăm linh một đến quầy số một"


def page_config(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="display-config">(.*?)</script>', html, re.S)
    assert m, "no display config in the page"
    return json.loads(m.group(1))


@pytest.fixture
def db(app):
    return app.extensions["layso"].db


def test_a_display_token_opens_the_page_and_carries_its_zone(app, db):
    token = add_device(db, "display", "Màn hình khu A", fields=["dat-dai"], counters=[1, 2])
    client = app.test_client()
    first = client.get(f"/display?token={token}")
    # the browser remembers the display and the token leaves the address bar and history at once
    assert first.status_code == 302 and first.headers["Location"] == "/display"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    r = client.get("/display")
    assert r.status_code == 200
    assert token not in r.get_data(as_text=True)
    config = page_config(r.get_data(as_text=True))
    assert "token" not in config
    assert config["zone"] == {"fields": ["dat-dai"], "counters": [1, 2]}
    # its Socket.IO connection is that display, by the session alone
    from layso.server.realtime.events import socketio
    sock = socketio.test_client(app, flask_test_client=client)
    state = sock.get_received()[0]["args"][0]
    assert state["device"]["name"] == "Màn hình khu A"
    # and the announcement audio needs no token in its URL either
    assert client.get("/display/audio.wav?number=1005&counter=0").status_code == 400
    assert config["audio"] == "/display/audio.wav" and config["chime"] == "/display/chime.wav"
    assert "socket.io.min.js" in r.get_data(as_text=True)


def test_other_tokens_are_refused_and_strangers_are_sent_to_sign_in(app, db):
    client = app.test_client()
    kiosk = add_device(db, "kiosk", "Kiosk")
    for token in (kiosk, "ls_not-a-real-token-at-all"):
        r = client.get(f"/display?token={token}")
        assert r.status_code == 401
    r = client.get("/display")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_signed_in_officer_sees_the_whole_centre(app, db):
    add_user(db, "lan", "staff", "password-123")
    client = app.test_client()
    assert client.post("/api/v1/session", json={"username": "lan", "password": "password-123"}).status_code == 200
    r = client.get("/display")
    assert r.status_code == 200
    config = page_config(r.get_data(as_text=True))
    assert "token" not in config and config["zone"] == {"fields": None, "counters": None}
    assert "/display" in client.get("/").get_data(as_text=True)  # linked from the home page


def test_the_chime_is_public_and_the_announcement_needs_a_display(app, db):
    client = app.test_client()
    r = client.get("/display/chime.wav")
    assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data == chime_wav()
    assert client.get("/display/audio.wav?number=1005&counter=3").status_code == 401
    token = add_device(db, "display", "TV")
    for query in ("number=10%235&counter=3", "number=1005&counter=0", "number=1005&counter=x",
                  "number=1005&counter=3&field=../x"):
        assert client.get(f"/display/audio.wav?{query}&token={token}").status_code == 400, query


@pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")
def test_the_announcement_is_rendered_with_the_centres_template(app, db, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    token = add_device(db, "display", "TV")
    r = app.test_client().get(f"/display/audio.wav?number=1005&counter=3&field=dat-dai&token={token}")
    assert r.status_code == 200 and r.mimetype == "audio/wav" and r.data[:4] == b"RIFF"
    expected = "Xin mời công dân có số thứ tự một nghìn không trăm linh năm đến quầy số ba"
    assert r.headers["X-Announcement"] == quote(expected)
    again = app.test_client().get(f"/display/audio.wav?number=1005&counter=3&token={token}")
    assert again.data == r.data  # the same sentence comes from the cache


@pytest.mark.browser
@pytest.mark.slow
@requires_chromium
def test_a_call_made_through_the_api_appears_on_the_web_display(tmp_path, artifacts):
    server = start_server(tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})  # rendered speech stays here
    try:
        run_browser(server, artifacts)
    finally:
        server.stop()


def run_browser(server, artifacts) -> None:
    from playwright.sync_api import sync_playwright

    display = server.add_device("display", "TV sảnh")
    kiosk = server.add_device("kiosk", "Kiosk")
    counter = server.add_device("counter", "Bảng quầy 1", counter=1)
    server.seat_officers()
    errors: list[str] = []
    audio_requests: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p, "--autoplay-policy=no-user-gesture-required")
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="vi-VN")
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on("request", lambda req: audio_requests.append(req.url) if "/display/" in req.url else None)
            page.goto(f"{server.url}/display?token={display}")
            page.wait_for_function("window.laysoDisplay.connection === 'online' && window.laysoDisplay.board.hasState",
                                   timeout=15000)
            for _ in range(2):
                assert server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
            assert server.post("/api/v1/counters/1/next", counter).status_code == 200
            page.wait_for_function("document.getElementById('call-line').textContent.indexOf('2001') === 0",
                                   timeout=10000)
            assert "1" in page.inner_text("#call-line")
            assert page.inner_text("#call-field") == "Đất đai"
            assert "2001" in page.inner_text("#counters")
            page.wait_for_function("window.laysoDisplay.played.some(u => u.indexOf('audio.wav') >= 0)", timeout=20000)
            played = page.evaluate("window.laysoDisplay.played")
            assert played[0].endswith("/display/chime.wav")  # the chime first, then the sentence
            assert "number=2001" in played[1] and "counter=1" in played[1]
            page.screenshot(path=str(artifacts / "display_web_1920x1080.png"))

            assert server.post("/api/v1/counters/1/recall", counter).status_code == 200
            page.wait_for_function("window.laysoDisplay.announced.length === 2", timeout=10000)
            assert page.evaluate("window.laysoDisplay.announced[1].recall") is True
            assert page.evaluate("window.laysoDisplay.announced.map(a => a.number)") == ["2001", "2001"]
        finally:
            browser.close()
    assert errors == []
    assert any("/display/audio.wav?" in u and "number=2001" in u for u in audio_requests)
