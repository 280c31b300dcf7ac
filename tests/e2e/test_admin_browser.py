"""Administration in headless Chromium against a real server: the overview with its audit log, a
field's form, issuing a device token (shown once) and the accounts. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import pytest
from conftest import requires_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


def test_administration_in_a_browser(server, browser, artifacts):
    from playwright.sync_api import expect
    server.add_user("root", "admin", full_name="Quản trị viên")
    server.add_user("lan", "staff", full_name="Nguyễn Thị Lan", pin="1111")
    server.add_device("kiosk", "Kiosk sảnh chính")
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page.goto(server.url + "/admin")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", "password-123")
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/admin")

    # a field: change its target wait and name; the form validates, the audit log records it
    page.goto(server.url + "/admin/fields/dat-dai")
    page.fill("input[name=target_wait_min]", "abc")
    page.click("#field-form button[type=submit]")
    expect(page.locator(".notice.error")).to_be_visible()
    page.fill("input[name=target_wait_min]", "20")
    page.fill("input[name=name]", "Đất đai – Đăng ký biến động")
    page.screenshot(path=str(artifacts / "admin-field.png"), full_page=True)
    page.click("#field-form button[type=submit]")
    expect(page.locator(".notice.ok")).to_be_visible()
    expect(page.locator("table.data")).to_contain_text("Đất đai – Đăng ký biến động")
    assert any(f["name"] == "Đất đai – Đăng ký biến động"
               for f in server.get("/api/v1/fields", server.add_device("kiosk", "Kiosk 2")).json())

    # a display's token, shown once, works at once
    page.goto(server.url + "/admin/devices")
    page.select_option("select[name=role]", "display")
    page.fill("input[name=name]", "Màn hình khu Bảo hiểm xã hội")
    page.check("input[name=zone_fields][value=bhxh]")
    page.click("form[action$='/admin/devices'] button[type=submit]")
    token = page.locator("#new-token").inner_text().strip()
    assert server.get("/api/v1/state", token).status_code == 200
    page.screenshot(path=str(artifacts / "admin-devices.png"), full_page=True)

    page.goto(server.url + "/admin/accounts")
    page.screenshot(path=str(artifacts / "admin-accounts.png"), full_page=True)
    page.goto(server.url + "/admin/hours")
    page.screenshot(path=str(artifacts / "admin-hours.png"), full_page=True)
    page.goto(server.url + "/admin")
    expect(page.locator("table.data")).to_contain_text("Sửa lĩnh vực")  # the audit log names its actions
    expect(page.locator("table.data")).to_contain_text("Thêm thiết bị")
    expect(page.locator("table.data")).not_to_contain_text("device.add")
    page.screenshot(path=str(artifacts / "admin-overview.png"), full_page=True)
