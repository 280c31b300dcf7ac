"""The staff console in headless Chromium against a real server, with a counter panel beside it:
sign in, choose the counter, call, transfer, grant priority, call a given number, complete with a
dossier code; the panel then shows the rating, the citizen rates, and the rating is stored with its
ties (officer, counter, field, dossier code) and counted in the console's figures."""
from __future__ import annotations

import pygame
import pytest
from conftest import requires_chromium
from layso.counter_panel import model as m
from layso.counter_panel.app import CounterPanel
from sqlalchemy import select
from test_counter_panel_server import db_ratings, run_until, tap

from layso.client import DeviceClient

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


@pytest.fixture
def panel(server):
    token = server.add_device("counter", "Bảng quầy 2", counter=2)
    p = CounterPanel(DeviceClient(server.url, token)).start()
    yield p
    p.close()


def ids(server, kiosk: str, field: str, n: int) -> list[int]:
    return [server.post("/api/v1/tickets", kiosk, {"field": field}).json()["id"] for _ in range(n)]


def test_officer_console_and_citizen_rating(server, browser, panel, artifacts):
    from playwright.sync_api import expect

    server.add_user("staff1", "staff", full_name="Nguyễn Thị Lan", pin="1111")
    kiosk = server.add_device("kiosk", "Kiosk")
    dat_dai = ids(server, kiosk, "dat-dai", 2)
    ids(server, kiosk, "bhxh", 1)
    run_until(panel, lambda: panel.model.screen == m.CLOSED, what="the panel")

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page.goto(server.url + "/console")
    assert "/login" in page.url
    page.fill("input[name=username]", "staff1")
    page.fill("input[name=password]", "password-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/console")
    page.screenshot(path=str(artifacts / "console_pick.png"), full_page=True)
    page.click("#pick-2")
    page.wait_for_selector("#btn-next")
    expect(page.locator("#connection")).to_have_class("connection is-live", timeout=10000)
    expect(page.locator("#queue tbody tr")).to_have_count(3)
    expect(page.locator("#officer")).to_have_text("Nguyễn Thị Lan")
    run_until(panel, lambda: panel.model.screen == m.IDLE, what="the officer at the panel")

    # call, then transfer to counter 3
    page.click("#btn-next")
    expect(page.locator("#current-number")).to_have_text("2001")
    expect(page.locator("#feedback")).to_have_class("feedback is-ok")
    run_until(panel, lambda: panel.model.screen == m.SERVING and panel.model.counter["ticket"]["number"] == "2001",
              what="2001 on the panel")
    page.select_option("#transfer-target", "counter:3")
    page.click("#btn-transfer")
    expect(page.locator("#current-number")).to_have_text("—")
    moved = server.get(f"/api/v1/tickets/{dat_dai[0]}", panel.client.token).json()
    assert moved["status"] == "waiting" and moved["transferred"] is True

    # the next one is transferred to a field
    page.click("#btn-next")
    expect(page.locator("#current-number")).to_have_text("2002")
    page.select_option("#transfer-target", "field:tu-phap-ho-tich")
    page.click("#btn-transfer")
    expect(page.locator("#current-number")).to_have_text("—")
    expect(page.locator("#feedback")).to_contain_text("2002")
    assert server.get(f"/api/v1/tickets/{dat_dai[1]}", panel.client.token).json()["field"] == "tu-phap-ho-tich"
    expect(page.locator("#queue tbody tr")).to_have_count(1)

    # a citizen arrives; the officer grants priority to the one waiting in bhxh, then calls it by number
    ids(server, kiosk, "bhxh", 1)
    expect(page.locator("#queue tbody tr")).to_have_count(2)  # live, through Socket.IO
    page.click("#queue tr[data-number='6501'] button:has-text('Ưu tiên'), "
               "#queue tr[data-number='6501'] button:has-text('Priority')")
    page.select_option("#priority-category", "pregnant")
    page.fill("#priority-reason", "Xuất trình sổ khám thai")
    page.click("#priority-grant")
    expect(page.locator("#queue tr[data-number='6501'] td.prio")).to_have_text("Phụ nữ mang thai")
    page.fill("#call-number", "6501")
    page.click("#btn-call")
    expect(page.locator("#current-number")).to_have_text("6501")
    page.screenshot(path=str(artifacts / "console_serving.png"), full_page=True)

    # complete with the dossier code: the panel asks the citizen to rate
    page.fill("#dossier", "H01.23-251123-0042")
    page.click("#btn-complete")
    expect(page.locator("#current-number")).to_have_text("—")
    run_until(panel, lambda: panel.model.screen == m.RATING, what="the rating screen")
    pygame.image.save(panel.surface, str(artifacts / "counter_panel_after_console_complete.png"))
    tap(panel, "level:4")
    run_until(panel, lambda: panel.model.screen == m.THANKS, what="the thank-you")

    from layso.server.storage.database import Database
    from layso.server.storage.models import Counter, Field, User
    [rating] = db_ratings(server)
    db = Database(server.db_url)
    try:
        with db.read() as s:
            officer = s.execute(select(User.id).where(User.username == "staff1")).scalar_one()
            counter = s.execute(select(Counter.id).where(Counter.number == 2)).scalar_one()
            field = s.execute(select(Field.id).where(Field.code == "bhxh")).scalar_one()
    finally:
        db.dispose()
    assert (rating.score, rating.dossier_code, rating.officer_id, rating.counter_id, rating.field_id,
            rating.source) == (4, "H01.23-251123-0042", officer, counter, field, "panel")
    expect(page.locator("#fig-rated")).to_contain_text("1")
    expect(page.locator("#fig-served")).to_have_text("1")
    expect(page.locator("#fig-satisfied")).to_have_text("100,0 %")  # as the statistics write it

    # pause with a reason shows on the panel; resume
    page.fill("#pause-reason", "Họp giao ban")
    page.click("#btn-pause")
    expect(page.locator("#counter-status")).to_contain_text("Họp giao ban")
    run_until(panel, lambda: panel.model.screen == m.PAUSED, timeout=20, what="the pause on the panel")
    pygame.image.save(panel.surface, str(artifacts / "counter_panel_paused_from_console.png"))
    expect(page.locator("#btn-next")).to_be_disabled()
    page.screenshot(path=str(artifacts / "console_paused.png"), full_page=True)
    page.click("#btn-resume")
    expect(page.locator("#btn-next")).to_be_enabled()

    # a refusal shows the server's message: nobody at the counter to recall
    # (enabled and clicked in one step: a live update may re-render the buttons in between)
    page.evaluate("(() => { const b = document.getElementById('btn-recall'); b.disabled = false; b.click(); })()")
    expect(page.locator("#feedback")).to_have_class("feedback is-error")

    page.goto(server.url + "/console?lang=en")
    expect(page.locator("#btn-next")).to_have_text("Call next")
    expect(page.locator("#queue tbody tr")).to_have_count(1)  # 6502 still waits
    page.screenshot(path=str(artifacts / "console_en.png"), full_page=True)
    page.close()
