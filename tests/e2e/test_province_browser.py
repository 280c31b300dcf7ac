"""The province overview in headless Chromium against a real server with several centres: it updates
in place when a kiosk of one centre issues tickets or runs out of paper, sorts, filters by area, and
a click opens that centre's live view; at 1366×768 and on a 390 px phone. Screenshots go to
tests/artifacts/."""
from __future__ import annotations

import pytest
from conftest import config_data, requires_chromium, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]
PASSWORD = "password-123"


@pytest.fixture
def province_server(tmp_path):
    """A server with its own centre and five commune centres in two areas (made before it starts)."""
    from layso.server.engine.accounts import add_user
    from layso.server.engine import centres as setup
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.config import parse_config
    url = f"sqlite:///{tmp_path / 'server.db'}"
    db = Database(url)
    upgrade(db)
    for code, name, area in [("xa-an-binh", "Trung tâm xã An Bình", "Khu vực phía Bắc"),
                                            ("xa-dong-hoa", "Trung tâm phường Đông Hòa", "Khu vực phía Bắc"),
                                            ("xa-tan-lap", "Trung tâm xã Tân Lập", "Khu vực phía Nam"),
                                            ("xa-phu-my", "Trung tâm xã Phú Mỹ", "Khu vực phía Nam"),
                                            ("xa-long-son", "Trung tâm xã Long Sơn", "Khu vực phía Nam")]:
        data = config_data("commune")  # open all hours: the test runs at any time of day
        data["centre"].update(code=code, name=name, area=area)
        setup.create_from_config(db, parse_config(data), kind="commune")
    add_user(db, "tinh", "province_admin", PASSWORD, "xa-an-binh", full_name="Văn phòng UBND tỉnh")
    db.dispose()
    sp = start_server(tmp_path, db_url=url)
    yield sp
    sp.stop()


def sign_in(page, server) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "tinh")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")


def test_overview_updates_in_place_sorts_filters_and_opens_a_centre(province_server, browser, artifacts):
    from layso.server.engine.devices import add_device
    from layso.server.storage.database import Database
    from playwright.sync_api import expect
    server = province_server
    db = Database(server.db_url)
    kiosk = add_device(db, "kiosk", "Kiosk sảnh", "xa-tan-lap")
    add_device(db, "display", "Màn hình sảnh", "xa-phu-my")
    db.dispose()
    page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    sign_in(page, server)
    page.goto(server.url + "/province")
    rows = page.locator("#ov-rows tr")
    expect(rows).to_have_count(6)
    expect(page.locator("#ov-alerts")).to_contain_text("Màn hình sảnh")  # a lobby screen never connected
    page.evaluate("window.__same_page = true")
    # a kiosk issues two tickets and runs out of paper: the row and the alerts change in place
    for _ in range(2):
        assert server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
    server.post("/api/v1/devices/me/status", kiosk, {"printer": "paper_out"})
    row = page.locator('#ov-rows tr[data-code="xa-tan-lap"]')
    expect(row.locator("td").nth(2)).to_have_text("2", timeout=8000)
    expect(page.locator("#ov-alerts")).to_contain_text("hết giấy", timeout=8000)
    expect(page.locator("#t-waiting")).to_have_text("2")
    assert page.evaluate("window.__same_page") is True  # no reload
    # sort by waiting (largest first) and filter by area
    page.click('button.sort[data-key="waiting"]')
    expect(rows.first).to_have_attribute("data-code", "xa-tan-lap")
    page.select_option("#f-area", "Khu vực phía Bắc")
    expect(rows).to_have_count(2)
    page.select_option("#f-area", "")
    page.check("#f-alerts")
    expect(rows).to_have_count(2)  # Tân Lập (paper) and Phú Mỹ (screen offline)
    page.uncheck("#f-alerts")
    page.screenshot(path=str(artifacts / "province-overview.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
    sign_in(phone, server)
    phone.goto(server.url + "/province")
    expect(phone.locator("#ov-rows tr")).to_have_count(6)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(artifacts / "province-overview-phone.png"), full_page=True)
    # a click on a row opens that centre's live view
    row.locator("td").first.click()
    page.wait_for_url(server.url + "/manage")
    expect(page.locator("h1")).to_contain_text("Trung tâm xã Tân Lập")
    expect(page.locator("#sum-waiting")).to_have_text("2", timeout=10000)


def test_province_statistics_in_a_browser(province_server, browser, artifacts):
    from datetime import date

    from layso.bench import year
    from layso.server.storage.database import Database
    from layso.server.storage.models import Centre
    from playwright.sync_api import expect
    from sqlalchemy import select
    server = province_server
    db = Database(server.db_url)
    with db.read() as s:
        ids = dict(s.execute(select(Centre.code, Centre.id)).all())
    year.generate(db, ids["xa-an-binh"], date(2026, 10, 26), days=5, tickets=300, seed=1)
    year.generate(db, ids["xa-tan-lap"], date(2026, 10, 26), days=5, tickets=450, seed=2)
    db.dispose()
    page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
    sign_in(page, server)
    page.goto(server.url + "/province/stats?from=2026-10-01&to=2026-10-31&group=centre")
    table = page.locator("#pstats-table")
    expect(table).to_contain_text("Trung tâm xã Tân Lập")
    expect(table.locator("tr.total")).to_contain_text("Toàn tỉnh")
    page.screenshot(path=str(artifacts / "province-stats.png"), full_page=True)
    page.click("text=Theo trung tâm và lĩnh vực")
    expect(table).to_contain_text("Đất đai")
    with page.expect_download() as dl:
        page.click("#month-form button[type=submit]")
    assert dl.value.suggested_filename.startswith("layso-bao-cao-thang-")
    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
    sign_in(phone, server)
    phone.goto(server.url + "/province/stats?from=2026-10-01&to=2026-10-31&group=agency")
    expect(phone.locator("#pstats-table")).to_contain_text("Toàn tỉnh")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls inside its card
    phone.screenshot(path=str(artifacts / "province-stats-phone.png"), full_page=True)
