"""The managers' pages in headless Chromium against a real server holding a generated week: the live
view updates by itself when a kiosk issues a ticket or a printer runs out of paper; the statistics
page shows the figures, charts and downloads. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from conftest import requires_chromium, small_config_data, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]
WEEK = (date(2026, 11, 16), date(2026, 11, 21))


@pytest.fixture
def busy_server(tmp_path):
    """A server whose database already holds a generated week (written before it starts)."""
    from layso.bench import year
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.config import parse_config
    url = f"sqlite:///{tmp_path / 'server.db'}"
    db = Database(url)
    upgrade(db)
    cid = seed_centre(db, parse_config(small_config_data()))
    year.generate(db, cid, WEEK[0], days=(WEEK[1] - WEEK[0]).days + 1, tickets=900, seed=3)
    db.dispose()
    sp = start_server(tmp_path, db_url=url)
    yield sp
    sp.stop()


def sign_in(page, server, username: str) -> None:
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "password-123")
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")


def test_live_view_and_statistics_in_a_browser(busy_server, browser, artifacts):
    from playwright.sync_api import expect
    server = busy_server
    server.add_user("sep", "manager", full_name="Lê Văn Sếp")
    server.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    kiosk = server.add_device("kiosk", "Kiosk sảnh chính")
    server.add_device("display", "Màn hình tầng 1")
    for field in ("dat-dai", "dat-dai", "bhxh", "tu-phap-ho-tich"):
        assert server.post("/api/v1/tickets", kiosk, {"field": field}).status_code == 201
    import requests
    officer = requests.Session()
    assert officer.post(server.url + "/api/v1/session",
                        json={"username": "lan", "password": "password-123", "counter": 2}).status_code == 200
    csrf = officer.get(server.url + "/api/v1/session").json()["csrf_token"]
    assert officer.post(server.url + "/api/v1/counters/2/next", headers={"X-CSRFToken": csrf}).status_code == 200

    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="vi-VN")
    sign_in(page, server, "sep")
    page.goto(server.url + "/manage")
    expect(page.locator("#live-status.is-online")).to_be_visible(timeout=15000)
    expect(page.locator("#sum-waiting")).to_have_text("3")
    expect(page.locator("#live-body")).to_contain_text("Nguyễn Thị Lan")
    # updates by itself: a new ticket and a printer out of paper arrive as events
    server.post("/api/v1/tickets", kiosk, {"field": "bhxh"})
    server.post("/api/v1/devices/me/status", kiosk, {"printer": "paper_out", "detail": "hết giấy"})
    expect(page.locator("#sum-waiting")).to_have_text("4", timeout=15000)
    expect(page.locator("#live-body")).to_contain_text("hết giấy", timeout=15000)
    page.screenshot(path=str(artifacts / "dashboard-live.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 412, "height": 900}, locale="vi-VN")
    sign_in(phone, server, "sep")
    phone.goto(server.url + "/manage")
    expect(phone.locator("#live-status.is-online")).to_be_visible(timeout=15000)
    phone.screenshot(path=str(artifacts / "dashboard-live-phone.png"), full_page=True)

    page.goto(f"{server.url}/manage/stats?from={WEEK[0]}&to={WEEK[1]}&group=field")
    table = page.locator("#stats-table")
    expect(table).to_be_visible()
    issued = int(page.locator("#tot-issued").inner_text().replace(".", "").replace(",", ""))
    assert 800 <= issued <= 1000
    assert page.locator(".charts figure.chart").count() == 3
    assert page.locator("#stats-table tbody tr").count() == 4  # three fields and the total
    page.screenshot(path=str(artifacts / "dashboard-stats.png"), full_page=True)
    page.click("nav.tabs a[href*='group=hour']")
    page.wait_for_url("**group=hour**")
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_attribute("href", re.compile("group=hour"))
    page.screenshot(path=str(artifacts / "dashboard-stats-hour.png"), full_page=True)
    page.goto(f"{server.url}/manage/stats?from={WEEK[0]}&to={WEEK[1]}&group=officer&lang=en")
    expect(page.locator("h1")).to_contain_text("Statistics")
    page.screenshot(path=str(artifacts / "dashboard-stats-officer-en.png"), full_page=True)
    with page.expect_download() as info:
        page.click(".downloads a[href*='format=xlsx&group=officer']")
    download = info.value
    assert download.suggested_filename == f"layso-thong-ke-officer-{WEEK[0]}-{WEEK[1]}.xlsx"
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).worksheets[1]
    assert sheet.max_row == page.locator("#stats-table tbody tr").count() + 1
