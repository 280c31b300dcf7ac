"""The province pages in headless Chromium at 1366×768, 1920×1080 and on a 390×844 phone: the overview
with alerts, the statistics in each grouping, the centres and one centre, the catalogue (the form
and a preview of its changes) and the alerts page with sent and failed messages — nothing overflows
the page sideways, no text is clipped, and no English is left on these Vietnamese pages. One server
with eight centres in three areas (long Vietnamese names) and a few days of data serves the module.

Screenshots go to tests/artifacts/province-layout-<page>-<viewport>.png.
"""
from __future__ import annotations

import re

import pytest
from conftest import chromium, config_data, requires_chromium, start_server
from layout import VIEWPORTS, layout_problems
from test_page_layout import english_left

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]
PASSWORD = "password-123"
CENTRES = [("xa-an-binh", "Trung tâm Phục vụ hành chính công xã An Bình", "Khu vực phía Bắc"),
           ("phuong-dong-hoa", "Trung tâm Phục vụ hành chính công phường Đông Hòa", "Khu vực phía Bắc"),
           ("xa-tan-lap", "Trung tâm xã Tân Lập", "Khu vực phía Nam"),
           ("xa-phu-my", "Trung tâm xã Phú Mỹ", "Khu vực phía Nam"),
           ("xa-long-son", "Trung tâm xã Long Sơn", "Khu vực phía Nam"),
           ("xa-hoa-hiep-bac", "Trung tâm xã Hòa Hiệp Bắc", "Khu vực ven biển"),
           ("xa-thanh-phu", "Trung tâm xã Thạnh Phú", "Khu vực ven biển")]
CATALOGUE = ("mã,tên lĩnh vực,sở ngành,tên cũ,mục tiêu\n"
             "dat-dai,Đất đai,Sở Nông nghiệp và Môi trường,Phòng Kinh tế,30\n"
             "ho-tich,Hộ tịch – Chứng thực,Sở Tư pháp,,20\n"
             "dang-ky-kinh-doanh,Đăng ký kinh doanh hộ cá thể,Sở Tài chính,,25\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from datetime import date

    from layso.bench import year
    from layso.server.auth import device_principal
    from layso.server.engine import QueueEngine
    from layso.server.engine import centres as setup
    from layso.server.engine.accounts import add_user
    from layso.server.engine.devices import add_device
    from layso.server.notify.alerts import save_alerts_config
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade
    from layso.server.storage.models import Centre
    from sqlalchemy import select

    from layso.config import AlertsConfig, parse_config
    folder = tmp_path_factory.mktemp("province-layout")
    url = f"sqlite:///{folder / 'server.db'}"
    db = Database(url)
    upgrade(db)
    for code, name, area in CENTRES:
        data = config_data("commune")  # open all hours: the test runs at any time of day
        data["centre"].update(code=code, name=name, area=area)
        setup.create_from_config(db, parse_config(data), kind="commune")
    with db.read() as s:
        ids = dict(s.execute(select(Centre.code, Centre.id)).all())
    for i, code in enumerate(("xa-an-binh", "xa-tan-lap", "phuong-dong-hoa")):
        year.generate(db, ids[code], date(2026, 10, 26), days=5, tickets=300 + 100 * i, seed=i + 1)
    add_user(db, "tinh", "province_admin", PASSWORD, "xa-an-binh", full_name="Văn phòng UBND tỉnh")
    add_user(db, "qt-tan-lap", "admin", PASSWORD, "xa-tan-lap", full_name="Nguyễn Thị Thu Hương")
    engine = QueueEngine(db)
    kiosk = add_device(db, "kiosk", "Kiosk sảnh tầng một", "xa-tan-lap")
    engine.device_status(ids["xa-tan-lap"], device_principal(db, kiosk).device_id, printer="paper_out", online=True)
    add_device(db, "display", "Màn hình sảnh chờ chính", "xa-phu-my")  # never connected: offline
    for _ in range(4):
        engine.issue(ids["phuong-dong-hoa"], "dat-dai")
    setup.set_suspended(db, "xa-thanh-phu", True)
    save_alerts_config(db, AlertsConfig(grace_s=0, gateway={"url": "http://127.0.0.1:9/sms"},
                                        to=["0912345678"], webhook={"url": "http://127.0.0.1:9/hook",
                                                                    "secret": "a-secret-of-the-province"}))
    db.dispose()
    sp = start_server(folder, db_url=url)
    yield sp
    sp.stop()


@pytest.fixture(scope="module")
def page_of(site):
    with chromium() as browser:
        ctx = browser.new_context(locale="vi-VN")
        page = ctx.new_page()
        page.goto(site.url + "/login")
        page.fill("input[name=username]", "tinh")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(site.url + "/")
        page.close()
        yield ctx
        ctx.close()


def catalogue_preview(page, site) -> None:
    page.goto(site.url + "/province/catalogue")
    page.set_input_files("input[name=file]", files=[{"name": "danh-muc.csv", "mimeType": "text/csv",
                                                     "buffer": CATALOGUE.encode()}])
    page.click("#catalogue-form fieldset button")  # choose all
    page.click("#catalogue-form button[type=submit]")
    page.wait_for_selector("#catalogue-apply")


def alerts_sent(page, site) -> None:
    """The janitor has raised the alerts by now; the gateway's port is closed: messages wait or fail."""
    page.goto(site.url + "/province/alerts")
    for _ in range(40):
        if page.locator("#alert-messages tbody tr.outbox-pending, #alert-messages tbody tr.outbox-failed").count():
            return
        page.wait_for_timeout(500)
        page.reload()


PAGES = [
    ("overview", "/province", "#ov-rows tr"),
    ("stats-centre", "/province/stats?from=2026-10-01&to=2026-10-31&group=centre", "#pstats-table"),
    ("stats-field", "/province/stats?from=2026-10-01&to=2026-10-31&group=field", "#pstats-table"),
    ("stats-agency", "/province/stats?from=2026-10-01&to=2026-10-31&group=agency", "#pstats-table"),
    ("stats-day", "/province/stats?from=2026-10-01&to=2026-10-31&group=day", "#pstats-table"),
    ("centres", "/province/centres", "#centres"),
    ("centre", "/province/centres/phuong-dong-hoa", "#accounts"),
    ("centre-suspended", "/province/centres/xa-thanh-phu", "#accounts"),
    ("catalogue", "/province/catalogue", "#catalogue-form"),
    ("catalogue-preview", catalogue_preview, "#catalogue-apply"),
    ("alerts", alerts_sent, "#alert-settings"),
]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name,path,ready", PAGES, ids=[p[0] for p in PAGES])
def test_province_page_fits_and_speaks_vietnamese(site, page_of, artifacts, name, path, ready, viewport):
    width, height = VIEWPORTS[viewport]
    page = page_of.new_page()
    page.set_viewport_size({"width": width, "height": height})
    try:
        if callable(path):
            path(page, site)
        else:
            page.goto(site.url + path)
        page.wait_for_selector(ready, state="attached", timeout=15000)
        page.evaluate("document.fonts.ready")
        page.wait_for_timeout(200)
        page.screenshot(path=str(artifacts / f"province-layout-{name}-{viewport}.png"), full_page=True)
        problems = layout_problems(page)
        assert not problems, f"{name} at {width}×{height}:\n" + "\n".join(problems)
        assert page.evaluate("document.documentElement.lang") == "vi"
        if viewport == "laptop":
            body = re.sub(r"\{\w+\}", "", page.inner_text("body"))  # a text template's {placeholders} are code
            assert not english_left(body), f"English on the Vietnamese page {name}:\n" + "\n".join(english_left(body))
    finally:
        page.close()
