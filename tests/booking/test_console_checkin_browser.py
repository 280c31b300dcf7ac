"""Staff check in an online booking from the console by its code (or a scanned QR link)."""
from __future__ import annotations

import pytest
from babel.support import Translations
from conftest import ROOT, requires_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


def vi(msgid: str) -> str:
    return Translations.load(str(ROOT / "layso" / "translations"), ["vi"]).gettext(msgid)


def test_console_checks_in_a_booking(server, browser, artifacts):
    server.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    b = server.post("/api/v1/bookings", json={"field": "dat-dai"}).json()
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "lan")
    page.fill("input[name=password]", "password-123")
    page.fill("input[name=counter]", "1")
    with page.expect_navigation():  # signed in before the console is asked for
        page.click("button[type=submit]")
    page.goto(server.url + "/console")
    page.wait_for_selector(f"#queue tr[data-number='{b['number']}']")
    page.fill("#checkin-code", "nonsense")
    page.click("#btn-checkin")
    page.wait_for_function("document.getElementById('feedback').className.indexOf('is-error') >= 0")
    page.fill("#checkin-code", b["code"].lower())
    page.click("#btn-checkin")
    expected = vi("Booking checked in: number %(number)s is in the queue.").replace("%(number)s", b["number"])
    page.wait_for_function("document.getElementById('feedback').textContent === %r" % expected, timeout=10000)
    page.screenshot(path=str(artifacts / "console_checkin.png"), full_page=True)
    token = b["track_url"].rsplit("/", 1)[1]
    page.fill("#checkin-code", f"{server.url}/book/{token}?c={b['code']}")  # a scanner in the console
    page.click("#btn-checkin")
    page.wait_for_function("document.getElementById('feedback').className.indexOf('is-error') >= 0")
    assert page.inner_text("#feedback") == vi("This booking has already been checked in.")
