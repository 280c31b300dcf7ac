"""The console writes numbers as the statistics page does: Vietnamese decimal comma, shares with one
decimal ("50,0 %"), whatever language the officer's browser prefers."""
from __future__ import annotations

import pytest
from conftest import requires_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


def test_console_and_statistics_write_numbers_alike(server, browser):
    server.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    server.add_user("lanhdao", "manager")
    kiosk = server.add_device("kiosk", "Kiosk sảnh chính")
    panel = server.add_device("counter", "Bảng quầy 2", counter=2)
    server.seat_officers()  # someone is signed in at each counter (a counter without one cannot call)
    for score in (4, 3):  # mean 3.5
        server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"})
        assert server.post("/api/v1/counters/2/next", panel).status_code == 200
        done = server.post("/api/v1/counters/2/complete", panel).json()
        assert server.post(f"/api/v1/tickets/{done['ticket']['id']}/rating", panel, {"score": score}).status_code == 201
    context = browser.new_context(locale="en-US", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "lan")
    page.fill("input[name=password]", "password-123")
    page.fill("input[name=counter]", "2")
    with page.expect_navigation():  # signed in before the console is asked for
        page.click("button[type=submit]")
    page.goto(server.url + "/console")
    page.wait_for_function("document.getElementById('fig-rated').textContent.indexOf('3') >= 0")
    assert "3,5" in page.inner_text("#fig-rated") and "3.5" not in page.inner_text("#fig-rated")
    satisfied = page.inner_text("#fig-satisfied")

    manager = browser.new_context(locale="en-US").new_page()
    manager.goto(server.url + "/login")
    manager.fill("input[name=username]", "lanhdao")
    manager.fill("input[name=password]", "password-123")
    manager.click("button[type=submit]")
    manager.goto(server.url + "/manage/stats?group=counter")
    row = manager.locator("#stats-table tbody tr", has_text="Quầy 2").inner_text()
    assert __import__("re").fullmatch(r"\d+,\d %", satisfied), satisfied
    assert satisfied.removesuffix(" %") in row.split()  # the same figure, written the same way
    context.close()
    manager.context.close()
