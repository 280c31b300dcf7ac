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
        page.click("button[type=submit]")
        page.goto(server.url + "/console")
        page.wait_for_selector(f"#queue tr[data-number='{ticket['number']}']")
        assert page.is_hidden("#kiosk-faults")  # the kiosk is connected and its printer is fine

        # the kiosk's printer runs out of paper: the console says so without a reload
        assert server.post("/api/v1/devices/me/status", kiosk, {"printer": "paper_out"}).status_code == 204
        page.wait_for_selector("#kiosk-faults:not([hidden])", timeout=10000)
        assert page.inner_text("#kiosk-faults") == "Máy lấy số Kiosk sảnh chính: máy in hết giấy"

        page.click(f"#queue tr[data-number='{ticket['number']}'] button:has-text('In lại')")
        page.wait_for_function("document.getElementById('feedback').textContent.indexOf('in lại') > 0")
        end = time.monotonic() + 10
        while not heard and time.monotonic() < end:
            time.sleep(0.05)
        assert heard and heard[0]["ticket"]["id"] == ticket["id"]
        page.screenshot(path=str(artifacts / "console_reprint_fault.png"), full_page=True)
    finally:
        listener.disconnect()
