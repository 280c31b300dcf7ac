"""The public booking page /book and its receipt: in process (the form works without script, errors
in Vietnamese) and in headless Chromium at a phone's size (390×844), with screenshots."""
from __future__ import annotations

import re

import pytest
import requests
from babel.support import Translations
from conftest import ROOT, chromium, small_config_data, start_server

PHONE = {"width": 390, "height": 844}


def vi(msgid: str) -> str:
    return Translations.load(str(ROOT / "layso" / "translations"), ["vi"]).gettext(msgid)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def web(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def test_form_books_and_redirects_to_the_receipt(web):
    html = web.get("/book").get_data(as_text=True)
    assert vi("Take a number online") in html and 'lang="vi"' in html
    assert 'value="dat-dai"' in html and "Hôm nay, 23/11" in html
    assert "phone" not in html.lower()  # nothing personal is asked
    r = web.post("/book", data={"field": "bhxh", "day": "2026-11-23", "csrf_token": csrf_of(html)})
    assert r.status_code == 303 and r.headers["Location"].startswith("/book/")
    receipt = web.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="b-number">6501<' in receipt and "<svg" in receipt
    code = re.search(r'id="b-code">([A-Z0-9]+)<', receipt).group(1)
    assert len(code) == 7 and f"?c={code}" not in receipt  # the code is in the QR's drawing, not as text
    assert vi("Follow the queue") in receipt and 'href="/t/' in receipt


def test_form_errors_are_shown_in_vietnamese(web):
    html = web.get("/book").get_data(as_text=True)
    r = web.post("/book", data={"csrf_token": csrf_of(html)})
    assert r.status_code == 400 and vi("Please choose a field.") in r.get_data(as_text=True)
    for _ in range(2):
        assert web.post("/book", data={"field": "bhxh", "csrf_token": csrf_of(html)}).status_code == 303
    r = web.post("/book", data={"field": "bhxh", "csrf_token": csrf_of(html)})
    assert r.status_code == 409
    assert vi("You have already taken the most online numbers allowed for that day.") in r.get_data(as_text=True)
    r = web.post("/book", data={"field": "bhxh", "day": "2030-01-01", "csrf_token": csrf_of(html)})
    assert r.status_code == 409
    assert web.post("/book", data={"field": "bhxh"}).status_code == 400  # no CSRF token


def test_receipt_of_an_unknown_token_is_404(web):
    assert web.get("/book/nope").status_code == 404


def test_receipt_shows_check_in_and_lapse(web, svc, cid, frozen_clock):
    html = web.get("/book").get_data(as_text=True)
    loc = web.post("/book", data={"field": "bhxh", "csrf_token": csrf_of(html)}).headers["Location"]
    token = loc.rsplit("/", 1)[1]
    code = re.search(r'id="b-code">([A-Z0-9]+)<', web.get(loc).get_data(as_text=True)).group(1)
    svc.engine.booking.check_in(cid, code)
    assert vi("Checked in. Please wait to be called.") in web.get(loc).get_data(as_text=True)
    assert svc.engine.booking.by_token(cid, token)["status"] == "checked_in"


@pytest.fixture
def appt_web(tmp_path, frozen_clock, monkeypatch):
    from layso.server.app import create_app

    from layso.config import parse_config
    monkeypatch.setenv("LAYSO_SECRET_KEY", "test-secret")
    data = small_config_data()
    data["booking"]["appointment_fields"] = ["dat-dai"]
    application = create_app(parse_config(data), db_url=f"sqlite:///{tmp_path / 'appt.db'}", testing=True)
    application.config["WTF_CSRF_ENABLED"] = True
    yield application.test_client()
    application.extensions["layso"].db.dispose()


def test_appointment_in_two_steps_then_move_and_cancel(appt_web):
    web = appt_web
    csrf = csrf_of(web.get("/book").get_data(as_text=True))
    step2 = web.post("/book", data={"field": "dat-dai", "day": "2026-11-23", "csrf_token": csrf})
    html = step2.get_data(as_text=True)
    assert step2.status_code == 200 and 'id="b-slot-form"' in html
    assert 'value="09:00"' in html and 'value="none"' in html  # a slot, or just a number
    r = web.post("/book", data={"field": "dat-dai", "day": "2026-11-23", "slot": "10:00", "csrf_token": csrf})
    assert r.status_code == 303
    receipt = web.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="b-slot">10:00–10:30<' in receipt and 'id="b-number"' not in receipt
    assert 'id="b-move"' in receipt and 'id="b-cancel"' in receipt and 'id="b-track"' not in receipt
    token = r.headers["Location"].rsplit("/", 1)[1]
    moved = web.post(f"/book/{token}/move", data={"slot": "11:00", "csrf_token": csrf})
    assert moved.status_code == 303
    assert 'id="b-slot">11:00–11:30<' in web.get(f"/book/{token}").get_data(as_text=True)
    bad = web.post(f"/book/{token}/move", data={"slot": "11:10", "csrf_token": csrf})
    assert "error=invalid_slot" in bad.headers["Location"]
    assert 'id="b-error"' in web.get(bad.headers["Location"]).get_data(as_text=True)
    assert web.post(f"/book/{token}/cancel", data={"csrf_token": csrf}).status_code == 303
    page = web.get(f"/book/{token}").get_data(as_text=True)
    assert vi("This booking was cancelled.") in page and 'id="b-cancel"' not in page
    # "just a number" in the second step books an online number
    r = web.post("/book", data={"field": "dat-dai", "day": "2026-11-23", "slot": "none", "csrf_token": csrf})
    assert 'id="b-number">2001<' in web.get(r.headers["Location"]).get_data(as_text=True)


# ---- in a browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    data = small_config_data()
    data["booking"]["appointment_fields"] = ["tu-phap-ho-tich"]
    sp = start_server(tmp_path_factory.mktemp("book"), config=data)
    sp.kiosk = sp.add_device("kiosk", "Kiosk")
    yield sp
    sp.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_phone_books_a_number_and_follows_it(live_server, browser, artifacts):
    sp = live_server
    sp.post("/api/v1/tickets", sp.kiosk, {"field": "dat-dai"})  # someone is already waiting
    context = browser.new_context(viewport=PHONE, locale="vi-VN", device_scale_factor=2)
    page = context.new_page()
    page.goto(sp.url + "/book")
    assert page.locator("h1").inner_text() == vi("Take a number online")
    page.screenshot(path=str(artifacts / "book_form.png"), full_page=True)
    page.locator("label.b-field", has_text="Đất đai").click()
    page.locator("#b-submit").click()
    page.wait_for_url(re.compile(r".*/book/[^/]+$"))
    number = page.locator("#b-number").inner_text()
    code = page.locator("#b-code").inner_text()
    assert number == "2002" and len(code) == 7
    assert page.locator("#b-qr svg").bounding_box()["width"] >= 200  # big enough to scan from a phone
    page.screenshot(path=str(artifacts / "book_receipt.png"), full_page=True)

    page.locator("#b-track").click()
    page.wait_for_url(re.compile(r".*/t/[^/]+$"))
    assert page.locator("#t-num").inner_text() == "2002"
    assert "1" in page.locator("#t-ahead").inner_text()
    page.screenshot(path=str(artifacts / "book_tracking.png"), full_page=True)

    r = sp.post(f"/api/v1/bookings/{code}/check-in", sp.kiosk)
    assert r.status_code == 200 and r.json()["number"] == "2002"
    page.go_back()
    page.reload()
    assert page.locator("#b-status").inner_text() == vi("Checked in. Please wait to be called.")

    # the same phone takes a second number, then the limit says no, in Vietnamese
    for expected in (201, 409):
        page.goto(sp.url + "/book")
        page.locator("label.b-field", has_text="Bảo hiểm xã hội").click()
        page.locator("#b-submit").click()
        page.wait_for_load_state()
    assert page.locator("#b-error").inner_text() == vi(
        "You have already taken the most online numbers allowed for that day.")
    page.screenshot(path=str(artifacts / "book_limit.png"), full_page=True)
    context.close()
    assert requests.get(sp.url + "/api/v1/booking/options", timeout=5).status_code == 200


@pytest.mark.browser
@pytest.mark.slow
def test_phone_books_an_appointment_and_moves_it(live_server, browser, artifacts):
    sp = live_server
    context = browser.new_context(viewport=PHONE, locale="vi-VN", device_scale_factor=2)
    page = context.new_page()
    page.goto(sp.url + "/book")
    page.locator("label.b-field", has_text="Tư pháp").click()
    page.locator("label.b-day").nth(1).click()  # tomorrow
    page.locator("#b-submit").click()
    page.locator("#b-slot-form").wait_for()
    page.locator("label.b-slot", has_text="09:00–09:30").click()
    page.screenshot(path=str(artifacts / "book_slots.png"), full_page=True)
    page.locator("#b-submit").click()
    page.wait_for_url(re.compile(r".*/book/[^/]+$"))
    assert page.locator("#b-slot").inner_text() == "09:00–09:30"
    page.screenshot(path=str(artifacts / "book_appointment.png"), full_page=True)
    page.locator("#b-move-slot").select_option("10:30")
    page.locator("#b-move button").click()
    page.wait_for_load_state()
    assert page.locator("#b-slot").inner_text() == "10:30–11:00"
    page.locator("#b-cancel button").click()
    page.wait_for_load_state()
    assert page.locator("#b-status").inner_text() == vi("This booking was cancelled.")
    context.close()
