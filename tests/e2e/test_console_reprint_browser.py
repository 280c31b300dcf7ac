"""Staff see kiosks' printer faults in the console, live, and reprint a ticket at its kiosk."""
from __future__ import annotations

import time

import pytest
import socketio
from conftest import requires_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


def test_console_shows_printer_faults_and_reprints(server, browser, artifacts):
    server.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    kiosk = server.add_device("kiosk", "Kiosk sảnh chính")
    ticket = server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).json()
    heard = []
    listener = socketio.Client(reconnection=False)
    listener.on("ticket.reprint", lambda data: heard.append(data))
    listener.connect(server.url, auth={"token": kiosk}, transports=["websocket"], wait_timeout=10)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url + "/login")
        page.fill("input[name=username]", "lan")
        page.fill("input[name=password]", "password-123")
        page.fill("input[name=counter]", "1")
        with page.expect_navigation():  # signed in before the console is asked for
            page.click("button[type=submit]")
        page.goto(server.url + "/console")
        page.wait_for_selector(f"#queue tr[data-number='{ticket['number']}']")
        assert page.is_hidden("#kiosk-faults")  # the kiosk is connected and its printer is fine

        # the kiosk's printer runs out of paper: the console says so without a reload
        assert server.post("/api/v1/devices/me/status", kiosk, {"printer": "paper_out"}).status_code == 204
        page.wait_for_selector("#kiosk-faults:not([hidden])", timeout=10000)
        assert page.inner_text("#kiosk-faults") == "Máy lấy số Kiosk sảnh chính: máy in hết giấy"

        def reprint_and_answer(**outcome):
            heard.clear()
            page.click(f"#queue tr[data-number='{ticket['number']}'] button:has-text('In lại')")
            end = time.monotonic() + 10
            while not heard and time.monotonic() < end:
                time.sleep(0.05)
            assert heard and heard[0]["ticket"]["id"] == ticket["id"]
            # asked, not done: the console waits for the kiosk and does not claim success
            page.wait_for_selector("#feedback.is-pending")
            assert "chờ" in page.inner_text("#feedback")
            # the kiosk (played by this test) reports what its printer did
            r = server.post(f"/api/v1/tickets/{ticket['id']}/reprint/outcome", kiosk, outcome)
            assert r.status_code == 204, r.text

        # still out of paper: the officer learns in red that it did not print, and why
        reprint_and_answer(printed=False, printer="paper_out")
        page.wait_for_selector("#feedback.is-error")
        text = page.inner_text("#feedback")
        assert f"Số {ticket['number']} CHƯA được in lại" in text and "hết giấy" in text and "Kiosk sảnh chính" in text
        page.screenshot(path=str(artifacts / "console_reprint_failed.png"), full_page=True)

        # paper loaded: printed, in green
        server.post("/api/v1/devices/me/status", kiosk, {"printer": "ok"})
        reprint_and_answer(printed=True)
        page.wait_for_selector("#feedback.is-ok")
        assert f"Số {ticket['number']} đã được in lại" in page.inner_text("#feedback")
        page.screenshot(path=str(artifacts / "console_reprint_fault.png"), full_page=True)
        # only the issuing kiosk may report
        other = server.add_device("kiosk", "Kiosk khác")
        assert server.post(f"/api/v1/tickets/{ticket['id']}/reprint/outcome", other,
                           {"printed": True}).status_code == 403
        assert server.post(f"/api/v1/tickets/{ticket['id']}/reprint/outcome", kiosk,
                           {"printed": "yes"}).status_code == 400
    finally:
        listener.disconnect()


def test_console_says_in_vietnamese_when_the_server_is_away(server, browser, artifacts):
    server.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="en-US")
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "lan")
    page.fill("input[name=password]", "password-123")
    page.fill("input[name=counter]", "1")
    with page.expect_navigation():  # signed in before the console is asked for
        page.click("button[type=submit]")
    page.goto(server.url + "/console")
    page.wait_for_selector("#connection.is-live")
    server.stop()
    page.click("#btn-next")
    page.wait_for_selector("#feedback.is-error")
    text = page.inner_text("#feedback")
    assert "Failed to fetch" not in text and "Không liên lạc được với máy chủ" in text, text
    page.screenshot(path=str(artifacts / "console_server_away.png"), full_page=True)
