"""Headless screenshots of the lobby display at 1920×1080, 1366×768 and 3840×2160 with long
Vietnamese names: every text inside its box, nothing overlapping, every row reachable."""
from __future__ import annotations

import itertools

import pygame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layso.display import texts
from layso.display.board import Board
from layso.display.screens import PAGE_S, BoardScreen, paginate
from layso.text import nfc
from layso.textfit import Fonts

from layso.config import preset_data

SIZES = [(1920, 1080), (1366, 768), (1280, 720), (1024, 768), (3840, 2160), (1080, 1920)]  # TVs, a portrait screen
LONG_CENTRE = "Trung tâm Phục vụ hành chính công tỉnh Bà Rịa – Vũng Tàu (cơ sở 2, Khu hành chính tập trung)"
LONG_FIELD = ("Lao động – Thương binh và Xã hội, Người có công, Bảo trợ xã hội, Trẻ em và Bình đẳng giới "
              "(tiếp nhận và trả kết quả)")
LONG_TICKER = ("Trung tâm tiếp nhận hồ sơ của công dân không phụ thuộc nơi cư trú. Thứ Bảy làm việc buổi sáng "
               "từ 7 giờ 30 đến 11 giờ 30. Xin vui lòng giữ trật tự và chờ đến lượt.")


@pytest.fixture(scope="module")
def fonts() -> Fonts:
    pygame.display.init()
    return Fonts()


def province_snapshot(device: dict | None = None) -> dict:
    """The province preset's fields and counters (plus a very long field name) in a busy moment."""
    data = preset_data("province", open_all_hours=True)
    fields = [{"code": "ldtbxh", "name": LONG_FIELD, "waiting": 3, "accepting": True, "closed_reason": None}]
    for i, f in enumerate(data["fields"]):
        full = i == 5
        fields.append({"code": f["code"], "name": f["name"], "waiting": (i * 7) % 23, "accepting": not full,
                       "closed_reason": "daily_cap_reached" if full else None})
    by_code = {f["code"]: f for f in fields}
    counters = []
    for i, c in enumerate(data["counters"]):
        status = "paused" if i % 7 == 3 else "closed" if i % 9 == 8 else "open"
        field = by_code[c["fields"][0]]
        t = None
        if status == "open" and i % 4 != 2:
            t = {"id": 100 + i, "number": str(1001 + i * 3), "field": field["code"], "field_name": field["name"],
                 "status": "called", "counter": c["number"]}
        counters.append({"number": c["number"], "name": c.get("name") or f"Quầy {c['number']}", "status": status,
                         "fields": c["fields"], "officer": None, "ticket": t, "pause_reason": None,
                         "priority_only": c.get("priority_only", False)})
    counters[0]["ticket"] = {"id": 99, "number": "1005", "field": "ldtbxh", "field_name": LONG_FIELD,
                             "status": "called", "counter": 1}
    counters[0]["status"] = "open"
    recent = [{"ticket": {"id": 99, "number": "1005", "field": "ldtbxh", "field_name": LONG_FIELD},
               "counter": {"number": 1, "name": "Quầy 1"}, "at": "2026-11-23T09:05:00+07:00", "recall": False}]
    for k, c in enumerate(x for x in counters[1:] if x["ticket"]):
        recent.append({"ticket": c["ticket"], "counter": {"number": c["number"], "name": c["name"]},
                       "at": f"2026-11-23T09:0{4 - min(k, 4)}:00+07:00", "recall": False})
    snap = {"seq": 50, "centre": {"code": "tinh", "name": LONG_CENTRE, "timezone": "Asia/Ho_Chi_Minh", "voice": {}},
            "counters": counters, "fields": fields, "recent_calls": recent[:8], "ticker": LONG_TICKER,
            "now": "2026-11-23T09:05:07+07:00"}
    if device:
        snap["device"] = device
    return snap


def draw(size, snap, fonts, now=100.0, connection="online"):
    board = Board(clock=lambda: now)
    board.apply_state(snap)
    board.set_connection(connection)
    surface = pygame.Surface(size)
    screen = BoardScreen(size, fonts)
    screen.draw(surface, board, now)
    return board, screen, surface


def assert_tidy(screen: BoardScreen, size) -> None:
    whole = pygame.Rect(0, 0, *size)
    fixed = [p for p in screen.placements() if not p.scrolling]
    assert fixed
    for p in fixed:
        assert p.box.contains(p.ink), f"{p.text!r} sticks out of its box in {p.region}"
        assert whole.contains(p.ink), f"{p.text!r} is off screen"
        assert p.size >= screen.layout.px(1.2), f"{p.text!r} is too small to read ({p.size}px)"
    for a, b in itertools.combinations(fixed, 2):
        assert not a.ink.colliderect(b.ink), f"{a.text!r} overlaps {b.text!r}"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_province_board_fits_at_every_size(size, fonts, artifacts):
    snap = province_snapshot()
    board, screen, surface = draw(size, snap, fonts)
    pygame.image.save(surface, str(artifacts / f"display_province_{size[0]}x{size[1]}.png"))
    assert_tidy(screen, size)
    texts_drawn = [p.text for p in screen.placements()]
    assert "1005 — QUẦY 1" in texts_drawn
    assert texts.CALL_LABEL in texts_drawn
    assert LONG_CENTRE in texts_drawn
    assert LONG_FIELD in texts_drawn  # under the latest call, whole
    assert "12:05:07" not in texts_drawn and "09:05:07" in texts_drawn  # the centre's local time


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_counter_and_field_is_shown_on_some_page(size, fonts):
    snap = province_snapshot()
    board = Board(clock=lambda: 0.0)
    board.apply_state(snap)
    screen = BoardScreen(size, fonts)
    surface = pygame.Surface(size)
    seen: set[str] = set()
    for page in range(12):
        screen.draw(surface, board, page * PAGE_S + 1)
        assert_tidy(screen, size)
        seen |= {p.text for p in screen.placements() if p.region in ("counters", "fields")}
    for f in snap["fields"]:
        assert any(t.startswith(nfc(f["name"])) for t in seen), f["name"]
    assert any(t.endswith("(Đã hết số)") for t in seen)
    for c in snap["counters"]:
        assert f"Quầy {c['number']}" in seen


def test_a_zone_display_shows_its_counters_with_field_names(fonts, artifacts):
    snap = province_snapshot({"id": 3, "name": "Màn hình khu A", "role": "display",
                              "zone_fields": ["ldtbxh", "ho-tich", "dat-dai", "bhxh", "huong-dan", "van-hoa"],
                              "zone_counters": [1, 2, 3, 10, 11, 20]})
    board, screen, surface = draw((1920, 1080), snap, fonts)
    pygame.image.save(surface, str(artifacts / "display_zone_1920x1080.png"))
    assert_tidy(screen, (1920, 1080))
    counters = [p.text for p in screen.placed["counters"]]
    assert texts.FIELD_HEAD in counters  # the wide table, with a field column
    assert not any(p.text.startswith("Quầy 4") for p in screen.placed["counters"])
    fields = {p.text for p in screen.placed["fields"]}
    assert LONG_FIELD in fields and "Đất đai" in fields and "Thuế" not in fields


def test_offline_is_shown_discreetly_and_the_call_stays(fonts, artifacts):
    board, screen, surface = draw((1366, 768), province_snapshot(), fonts, connection="offline")
    pygame.image.save(surface, str(artifacts / "display_offline_1366x768.png"))
    assert_tidy(screen, (1366, 768))
    assert texts.OFFLINE in [p.text for p in screen.placed["header"]]
    assert "1005 — QUẦY 1" in [p.text for p in screen.placed["call"]]


def test_before_the_first_snapshot_it_says_it_is_connecting(fonts):
    board = Board()
    surface = pygame.Surface((1366, 768))
    screen = BoardScreen((1366, 768), fonts)
    screen.draw(surface, board, 0.0)
    assert texts.CONNECTING in [p.text for p in screen.placed["call"]]
    board.set_connection("unauthorized")
    screen.draw(surface, board, 0.0)
    assert texts.UNAUTHORIZED in [p.text for p in screen.placed["call"]]


def test_only_changed_regions_are_redrawn(fonts):
    board = Board(clock=lambda: 0.0, wall=lambda: 1_700_000_000.0)
    board.apply_state(province_snapshot())
    screen = BoardScreen((1920, 1080), fonts)
    surface = pygame.Surface((1920, 1080))
    assert screen.draw(surface, board, 1.0) == [surface.get_rect()]  # the first frame: all of it
    assert screen.draw(surface, board, 1.0) == []
    board.apply_event("ticker.changed", {"seq": 51, "ticker": "Nghỉ trưa"})
    assert screen.layout.ticker in screen.draw(surface, board, 1.0)


def test_paginate_balances_pages():
    assert paginate(3, 600, 60, 90, 2) == paginate(3, 600, 60, 90, 1)
    p = paginate(25, 420, 60, 90, 1)
    assert p.pages == 4 and p.rows == 7 and p.rows * p.row_h <= 420
    two = paginate(12, 420, 60, 90, 2)
    assert two.columns == 2 and two.pages == 1 and two.rows == 6


WORDS = ["Đất", "đai", "Hộ", "tịch", "–", "Bảo", "hiểm", "xã", "hội", "Quốc", "NGƯỜI", "ĐANG", "CHỜ", "Ấp",
         "Thương", "binh", "1005", "Giấy", "phép", "lái", "xe", "(tiếp", "nhận)", "Ưu", "tiên"]


@settings(max_examples=120, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=18), w=st.integers(40, 900),
       h=st.integers(20, 300), max_px=st.integers(8, 120), lines=st.integers(1, 3), bold=st.booleans())
def test_fitted_text_always_fits_its_box_and_keeps_every_word(fonts, words, w, h, max_px, lines, bold):
    text = " ".join(words)
    fitted = fonts.fit(text, w, h, max_px, min(12, max_px), bold, lines)
    assert " ".join(fitted.lines).split() == nfc(text).split()
    if fitted.size > 6:  # the floor size is the only case allowed to exceed a tiny box
        assert fitted.height <= h
        assert all(fonts.width(line, fitted.size, bold) <= w for line in fitted.lines)
        assert len(fitted.lines) <= lines
    surface = pygame.Surface((w + 20, h + 20))
    box = pygame.Rect(10, 10, w, h)
    ink = fonts.draw(surface, fitted, box, (255, 255, 255))
    if fitted.size > 6:
        assert box.contains(ink)


def test_stacked_diacritics_are_drawn_whole(fonts):
    """Capitals with two marks (Ấ, Ễ, Ờ) reach above the font's ascender: still inside the box."""
    surface = pygame.Surface((800, 200))
    box = pygame.Rect(0, 50, 800, 100)
    fitted = fonts.fit("ẤỄỜ QUẦY ĐẤT", box.width, box.height, 200, 10, True)
    ink = fonts.draw(surface, fitted, box, (255, 255, 255))
    assert box.contains(ink)
    lit = [y for y in range(surface.get_height()) if any(surface.get_at((x, y))[0] for x in range(0, 800, 2))]
    assert box.top <= min(lit) and max(lit) < box.bottom

