"""Every kiosk screen drawn headless in portrait and landscape, in Vietnamese, saved to tests/artifacts/
(kiosk_screen_*.png) for a look, and checked: touch targets on screen and apart, the status banner in
the header, "Xong" where the home screen has nothing to touch, no ellipsis anywhere."""
from __future__ import annotations

from datetime import datetime

import pygame
import pytest
from conftest import config_data

from layso.kiosk import screens as sc
from layso.kiosk.layout import Metrics
from layso.text import zone
from layso.textfit import fonts

SIZES = [(1080, 1920), (1920, 1080)]
NOW = datetime(2026, 12, 3, 9, 41, tzinfo=zone(None))
CENTRE = "Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh"


def fields(preset: str) -> list[dict]:
    out = []
    for i, f in enumerate(config_data(preset)["fields"]):
        waiting = (i * 3) % 11
        out.append({"code": f["code"], "name": f["name"], "agency": f.get("agency", ""), "waiting": waiting,
                    "est_wait_s": waiting * 420 or None, "accepting": i != 4,
                    "closed_reason": None if i != 4 else "daily_cap_reached"})
    return out


CATEGORIES = [{"code": c["code"], "name": c["name"]} for c in config_data()["priority"]["categories"]]
TICKET = {"id": 1, "number": "1005", "field": "lao-dong", "field_name": "Lao động – Người có công – Bảo trợ xã hội",
          "priority": "elderly", "priority_name": "Người cao tuổi (từ 60 tuổi)", "status": "waiting", "ahead": 12,
          "est_wait_s": 1500, "track_url": "https://layso.example.vn/t/Zx8Kq2LmN4pR7sTvW3yB"}
VIEWS = {
    "home_commune": dict(screen=sc.HOME, fields=fields("commune"), categories=CATEGORIES),
    "home_province": dict(screen=sc.HOME, fields=fields("province"), categories=CATEGORIES),
    "home_printer_fault": dict(screen=sc.HOME, fields=fields("commune"), categories=CATEGORIES,
                               printer_fault="paper_out"),
    "server_away": dict(screen=sc.SERVER_AWAY, fields=fields("commune"), categories=CATEGORIES, connection="offline"),
    "priority": dict(screen=sc.PRIORITY, categories=CATEGORIES),
    "priority_fields": dict(screen=sc.PRIORITY_FIELDS, fields=fields("commune"), categories=CATEGORIES,
                            priority=CATEGORIES[3]),
    "issuing": dict(screen=sc.ISSUING),
    "ticket": dict(screen=sc.TICKET, ticket=TICKET, destination="Quầy 1, 2, 4", print_state="printed"),
    "ticket_before_opening": dict(screen=sc.TICKET, ticket={**TICKET, "ahead": 0, "est_wait_s": 1500,
                                                           "est_wait_reason": "opens_later", "priority": None,
                                                           "priority_name": None},
                                  destination="Quầy 1, 2, 4", print_state="printed"),
    "ticket_printer_fault": dict(screen=sc.TICKET, ticket=TICKET, destination="Quầy 1, 2, 4", print_state="failed",
                                 printer_fault="paper_out"),
    "refused": dict(screen=sc.REFUSED, refused_code="daily_cap_reached"),
}


@pytest.fixture
def drawn():
    """Every line the kiosk draws, recorded by the shared renderer."""
    record: list = []
    fonts().record = record
    yield record
    fonts().record = None


def view(name: str, page: int = 0) -> sc.View:
    kw = {"connection": "online", **VIEWS[name]}
    return sc.View(centre_name=CENTRE, now=NOW, page=page, **kw)


def pages_of(v: sc.View, size) -> int:
    if v.screen in (sc.HOME, sc.PRIORITY_FIELDS, sc.SERVER_AWAY):
        return len(sc.home_pages(v, Metrics(*size))[1])
    return 1


@pytest.mark.parametrize("size", SIZES, ids=["portrait", "landscape"])
@pytest.mark.parametrize("name", list(VIEWS))
def test_each_screen_draws_in_both_orientations(name, size, artifacts, drawn):
    v = view(name)
    for page in range(pages_of(v, size)):
        v.page = page
        surface = pygame.Surface(size)
        targets = sc.draw(surface, v)
        pygame.image.save(surface, str(artifacts / f"kiosk_screen_{name}_p{page + 1}_{size[0]}x{size[1]}.png"))
        rects = [r for r, _a in targets]
        assert all(surface.get_rect().contains(r) for r in rects)
        assert not any(a.colliderect(b) for i, a in enumerate(rects) for b in rects[i + 1:])
        for line in drawn:  # every letter whole: inside the screen and inside the box it was given
            assert surface.get_rect().contains(line.ink), line
            assert line.box is None or line.box.contains(line.ink), f"{line.text!r} overflows its box"
    assert drawn
    if name != "issuing":  # its own text ends with "…" (a wait); elsewhere one would be a cut word
        assert not any("…" in line.text for line in drawn)


@pytest.mark.parametrize("size", SIZES, ids=["portrait", "landscape"])
def test_leaving_a_ticket_or_a_refusal_is_where_home_has_no_target(size):
    m = Metrics(*size)
    home_targets = sc.draw(pygame.Surface(size), view("home_commune"))
    for name, action in (("ticket", ("done",)), ("refused", ("back",))):
        (rect,) = [r for r, a in sc.draw(pygame.Surface(size), view(name)) if a == action]
        assert rect.bottom <= m.header_h
        assert rect.collidelist([r for r, _a in home_targets]) == -1


def test_the_priority_path_shows_neither_the_fields_queue_nor_its_estimate(drawn):
    """The count and the estimate are the field's whole queue, which a priority ticket passes."""
    sc.draw(pygame.Surface((1080, 1920)), view("priority_fields"))
    texts = [line.text for line in drawn]
    assert not any("khoảng" in t for t in texts)  # the fields' estimates are for normal tickets
    assert not any(t.startswith("Đang chờ") for t in texts)
    accepting = [f for f in view("priority_fields").fields if f.get("accepting")]
    assert sum(t == "Số ưu tiên được gọi sớm hơn" for t in texts) == len(accepting) > 0
    drawn.clear()
    sc.draw(pygame.Surface((1080, 1920)), view("home_commune"))
    assert any("khoảng" in line.text for line in drawn)


def test_a_ticket_taken_before_opening_says_why_nobody_ahead_still_waits(drawn):
    sc.draw(pygame.Surface((1080, 1920)), view("ticket_before_opening"))
    texts = [line.text for line in drawn]
    assert "Không có ai chờ trước bạn" in texts
    assert texts.index("Trung tâm chưa đến giờ làm việc") < texts.index("Thời gian chờ dự kiến: khoảng 25 phút")
    drawn.clear()
    sc.draw(pygame.Surface((1080, 1920)), view("ticket"))
    assert "Trung tâm chưa đến giờ làm việc" not in [line.text for line in drawn]


def test_without_the_server_no_stale_queue_figures(drawn):
    """The fields stay on screen (greyed) while the server is away, but not their waits and estimates:
    those are as old as the lost connection."""
    sc.draw(pygame.Surface((1080, 1920)), view("server_away"))
    texts = [line.text for line in drawn]
    assert any("Tư pháp" in t for t in texts)
    assert not any(t.startswith("Đang chờ") or "khoảng" in t or "Không có người chờ" in t for t in texts), texts
