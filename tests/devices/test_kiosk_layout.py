"""Kiosk geometry and texts without a server: every field gets exactly one button, inside the grid,
never overlapping, grouped under its agency; pages only when needed."""
from __future__ import annotations

import pytest
from conftest import config_data, small_config_data
from layso.kiosk import texts
from layso.kiosk.layout import Metrics, group_by_agency, home_frame, paginate
from layso.kiosk.ticket import destination_of

# what the kiosk is run at: full HD, 10" (1280×800), 7" (1024×600, 800×480) and TV (1366×768) panels,
# each in portrait and landscape
SIZES = [(1080, 1920), (1920, 1080), (800, 1280), (1280, 800), (600, 1024), (1024, 600), (768, 1366),
         (1366, 768), (480, 800), (800, 480)]


def fields_of(data: dict) -> list[dict]:
    return [{"code": f["code"], "name": f["name"], "agency": f.get("agency", "")} for f in data["fields"]]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", ["province", "commune", "small"])
def test_every_field_once_inside_the_grid_without_overlap(size, preset):
    data = small_config_data() if preset == "small" else config_data(preset)
    fields = fields_of(data)
    m = Metrics(*size)
    frame = home_frame(m, banner=True, nav=True, priority=True)
    pages = paginate(fields, frame.grid, m)
    codes = [b.code for p in pages for b in p.buttons]
    assert sorted(codes) == sorted(f["code"] for f in fields)
    for page in pages:
        rects = [b.rect for b in page.buttons] + [h.rect for h in page.headings]
        for i, r in enumerate(rects):
            assert frame.grid.contains(r), (r, frame.grid)
            assert r.collidelist(rects[i + 1:]) == -1, f"{r} overlaps another button or heading"
        assert all(b.rect.height >= m.px(100) for b in page.buttons)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", ["province", "commune"])
@pytest.mark.parametrize("banner", [False, True])
def test_no_section_is_split(size, preset, banner):
    """Every agency's fields stay together: one heading (never "(tiếp)"), on one page, in one block of
    adjacent columns under that heading, filled column by column; no other section inside the block."""
    fields = fields_of(config_data(preset))
    m = Metrics(*size)
    frame = home_frame(m, banner=banner, nav=True, priority=True)
    pages = paginate(fields, frame.grid, m)
    agency_of = {f["code"]: f["agency"] for f in fields}
    headings = [h for p in pages for h in p.headings]
    assert sorted(h.agency for h in headings) == sorted({f["agency"] for f in fields}), "a section has two headings"
    assert not any(h.continued for h in headings)
    for page in pages:
        by_agency = {s.agency: s.rect for s in page.sections}
        for heading in page.headings:
            block = by_agency[heading.agency]
            mine = [b for b in page.buttons if agency_of[b.code] == heading.agency]
            assert [b.code for b in mine] == [f["code"] for f in fields if f["agency"] == heading.agency]
            assert heading.rect.left == block.left and heading.rect.width == block.width
            assert heading.rect.top == block.top
            assert all(block.contains(b.rect) and b.rect.top >= heading.rect.bottom for b in mine)
            reading = sorted(mine, key=lambda b: (b.rect.x, b.rect.y))
            assert reading == mine, "a section's fields are not in reading order, column by column"
            others = [s.rect for s in page.sections if s.agency != heading.agency]
            assert block.collidelist(others) == -1, f"{heading.agency} shares its block with another section"


def test_within_a_column_sections_keep_their_configured_order():
    fields = fields_of(config_data("province"))
    order = [agency for agency, _ in group_by_agency(fields)]
    for size in SIZES:
        m = Metrics(*size)
        for page in paginate(fields, home_frame(m, False, True, True).grid, m):
            columns: dict[int, list[tuple[int, str]]] = {}
            for s in page.sections:
                for b in page.buttons:
                    if s.rect.contains(b.rect):
                        columns.setdefault(b.rect.x, []).append((s.rect.top, s.agency))
            for stack in columns.values():
                agencies = [a for _top, a in sorted(set(stack))]
                assert agencies == sorted(agencies, key=order.index)


def test_many_fields_page_few_fields_do_not():
    m = Metrics(1080, 1920)
    frame = home_frame(m, banner=False, nav=False, priority=True)
    assert len(paginate(fields_of(small_config_data()), frame.grid, m)) == 1
    assert len(paginate(fields_of(config_data("province")), frame.grid, m)) >= 2


def test_portrait_and_landscape_use_their_width():
    fields = fields_of(config_data("province"))
    for size, columns in (((1080, 1920), 2), ((1920, 1080), 4)):
        m = Metrics(*size)
        page = paginate(fields, home_frame(m, False, True, True).grid, m)[0]
        assert len({b.rect.x for b in page.buttons}) == columns


def test_queue_lines_and_reasons_in_vietnamese():
    assert texts.field_queue_lines(0, 0) == ["Không có người chờ"]
    assert texts.field_queue_lines(5, 1500) == ["Đang chờ: 5 người", "Dự kiến khoảng 25 phút"]
    assert texts.field_queue_lines(5, 1500, one_line=True) == ["Đang chờ: 5 người · khoảng 25 phút"]
    assert texts.field_queue_lines(2, None) == ["Đang chờ: 2 người"]
    assert texts.closed_reason("daily_cap_reached") == "Đã hết số"
    assert texts.closed_reason("outside_hours") == "Ngoài giờ làm việc"
    assert texts.closed_reason("field_closed") == "Ngoài giờ làm việc"


def test_destination_lists_the_counters_the_server_gives():
    assert destination_of({"field": "dat-dai", "serving_counters": [2, 1]}) == "Quầy 1, 2"
    assert destination_of({"field": "dat-dai", "serving_counters": [1, 2, 4], "priority": "elderly"}) == "Quầy 1, 2, 4"


def test_a_section_is_kept_in_one_column_when_the_page_allows():
    """Portrait commune preset: "Phòng Kinh tế" starts a column rather than leaving "Đất đai" (its busiest
    field) alone at the foot of the column before."""
    fields = fields_of(config_data("commune"))
    m = Metrics(1080, 1920)
    frame = home_frame(m, banner=False, nav=False, priority=True)
    pages = paginate(fields, frame.grid, m)
    assert len(pages) == 1
    agency_of = {f["code"]: f["agency"] for f in fields}
    columns: dict[int, list[str]] = {}
    for b in sorted(pages[0].buttons, key=lambda b: (b.rect.x, b.rect.y)):
        columns.setdefault(b.rect.x, []).append(agency_of[b.code])
    for agency in {f["agency"] for f in fields}:
        holding = [x for x, agencies in columns.items() if agency in agencies]
        size = sum(1 for f in fields if f["agency"] == agency)
        if size <= max(len(c) for c in columns.values()):
            assert len(holding) == 1, f"{agency} is cut across columns"
    assert not any(h.continued for h in pages[0].headings)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("preset", ["province", "commune"])
def test_a_status_banner_never_moves_the_fields(size, preset):
    """The printer-fault or connection banner shows in the header: the same pages, the same buttons."""
    import pygame
    from layso.kiosk import screens
    data = config_data(preset)
    fields = [dict(f, waiting=3, est_wait_s=600, accepting=True) for f in fields_of(data)]
    cats = [{"code": c["code"], "name": c["name"]} for c in data["priority"]["categories"]]
    plain = screens.View(screen=screens.HOME, fields=fields, categories=cats, connection="online")
    faulty = screens.View(screen=screens.HOME, fields=fields, categories=cats, connection="online",
                          printer_fault="paper_out")
    m = Metrics(*size)
    (frame_a, pages_a), (frame_b, pages_b) = screens.home_pages(plain, m), screens.home_pages(faulty, m)
    assert frame_a == frame_b
    assert [[b.rect for b in p.buttons] for p in pages_a] == [[b.rect for b in p.buttons] for p in pages_b]
    surface = pygame.Surface(size)
    targets = screens.draw(surface, faulty)
    assert all(r.top >= m.header_h for r, _a in targets)


def test_text_is_never_cut_with_an_ellipsis():
    import pygame
    from layso.kiosk import screens
    long = "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG (TIẾP)"
    for width in (440, 340):  # a landscape column, and narrower still
        size, lines = screens.fit(long, True, 32, 20, width, 52, max_lines=1)
        assert lines == [long] and "…" not in lines[0]
        assert screens.text_width(lines[0], size, True) <= width
