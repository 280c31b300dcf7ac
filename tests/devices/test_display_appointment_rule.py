"""The appointment rule on the lobby display's ticker line (issue 13: "the rule shown on the display"):
shown only where the centre takes appointments, after the centre's own announcement, on the pygame
board (screenshots at three sizes) and on the web display (headless Chromium)."""
from __future__ import annotations

import pygame
import pytest
from conftest import small_config_data
from layso.display import texts
from layso.display.board import Board
from layso.display.screens import BoardScreen
from layso.textfit import Fonts

SIZES = [(1920, 1080), (1366, 768), (3840, 2160)]
RULE_VI = ("Công dân có lịch hẹn, xác nhận có mặt trong khung giờ đã hẹn, được phục vụ trước người lấy số "
           "tại chỗ sau giờ hẹn.")


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    pygame.display.init()
    return Fonts()


def snapshot(app, svc, cid) -> dict:
    from layso.server.realtime.events import socketio
    sock = socketio.test_client(app, auth={"token": add_display(svc)})
    return sock.get_received()[0]["args"][0]


def add_display(svc) -> str:
    from layso.server.engine.devices import add_device
    return add_device(svc.db, "display", "TV sảnh")


def test_the_state_says_whether_the_centre_takes_appointments(app, svc, cid):
    """The test centre books online numbers but no appointments: no rule; with appointment fields, the rule."""
    from layso.server.storage.models import Centre
    assert snapshot(app, svc, cid)["centre"]["booking"] == {"enabled": True, "appointments": False}
    with svc.db.write() as s:
        centre = s.get(Centre, cid)
        settings = dict(centre.settings)
        settings["booking"] = {**settings.get("booking", {}), "appointment_fields": ["dat-dai"]}
        centre.settings = settings
    board = Board()
    board.apply_state(snapshot(app, svc, cid))
    assert board.appointments and board.ticker_line == board.ticker + texts.TICKER_SEPARATOR + RULE_VI


def draw(size, fonts, ticker: str, appointments: bool, now: float = 0.0):
    board = Board(clock=lambda: now)
    board.apply_state({"seq": 1, "centre": {"code": "xa", "name": "Trung tâm Phục vụ hành chính công xã",
                                            "booking": {"enabled": True, "appointments": appointments}},
                       "counters": [], "fields": [], "recent_calls": [], "ticker": ticker,
                       "now": "2026-11-23T09:05:07+07:00"})
    screen = BoardScreen(size, fonts)
    surface = pygame.Surface(size)
    screen.draw(surface, board, now)
    return board, screen, surface


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_rule_scrolls_after_the_announcement(size, fonts, artifacts):
    board, screen, surface = draw(size, fonts, "Thứ Bảy làm việc buổi sáng.", True, now=3.0)
    pygame.image.save(surface, str(artifacts / f"display_appointment_rule_{size[0]}x{size[1]}.png"))
    assert texts.APPOINTMENT_RULE == RULE_VI
    line = f"Thứ Bảy làm việc buổi sáng.{texts.TICKER_SEPARATOR}{RULE_VI}"
    assert board.ticker_line == line
    placed = screen.placed["ticker"]
    assert placed and all(p.text == line for p in placed)
    ticker = screen.layout.ticker
    assert any(p.ink.colliderect(ticker) for p in placed)  # on screen, inside the ticker band
    assert all(p.ink.top >= ticker.top and p.ink.bottom <= ticker.bottom for p in placed)


def test_no_appointments_no_rule_and_the_rule_alone_when_no_announcement(fonts, artifacts):
    board, screen, _ = draw((1920, 1080), fonts, "Nghỉ trưa từ 11 giờ 30.", False)
    assert board.ticker_line == "Nghỉ trưa từ 11 giờ 30." and RULE_VI not in board.ticker_line
    assert [p.text for p in screen.placed["ticker"]] == ["Nghỉ trưa từ 11 giờ 30."]
    board, screen, surface = draw((1920, 1080), fonts, "", True)
    pygame.image.save(surface, str(artifacts / "display_appointment_rule_alone_1920x1080.png"))
    assert board.ticker_line == RULE_VI
    board, screen, _ = draw((1920, 1080), fonts, "", False)
    assert board.ticker_line == "" and screen.placed["ticker"] == []


@pytest.mark.browser
@pytest.mark.slow
def test_the_web_display_shows_the_rule(tmp_path, artifacts):
    from conftest import chromium, start_server
    data = small_config_data()
    data["booking"]["appointment_fields"] = ["dat-dai"]
    server = start_server(tmp_path, config=data)
    try:
        display = server.add_device("display", "TV sảnh")
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="vi-VN")
            page.goto(f"{server.url}/display?token={display}")
            page.wait_for_function("window.laysoDisplay.board.hasState", timeout=15000)
            page.wait_for_function("document.getElementById('ticker').textContent.length > 0", timeout=10000)
            shown = page.inner_text("#ticker")
            assert shown.endswith("•   " + RULE_VI) or shown.endswith("• " + RULE_VI), shown
            box = page.locator(".d-ticker").bounding_box()
            assert box["y"] + box["height"] <= 1080 and box["height"] > 40
            page.screenshot(path=str(artifacts / "display_web_appointment_rule_1920x1080.png"))
    finally:
        server.stop()
