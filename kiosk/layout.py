"""Screen geometry, computed from the screen size: portrait (1080×1920), landscape (1920×1080) and
anything in between. Pure functions over pygame.Rect; no drawing here.

The home screen lays the fields out like a newspaper: each agency's section (a heading, then one large
button per field) is a block, one column wide when it fits a column, else as many adjacent columns as
it needs under one heading that spans them. Blocks go in order, each into the leftmost column where it
fits (so a small section may sit in the room under a wide one), then onto the next page; only a section
larger than a whole page is cut. The fewest pages win, then the tallest buttons; the columns are
evened out and the buttons grow to fill the screen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pygame import Rect


@dataclass(frozen=True)
class Metrics:
    """Sizes in pixels for one screen size; `u` is one "design pixel" of a 1080-wide portrait."""

    width: int
    height: int

    @property
    def portrait(self) -> bool:
        return self.height >= self.width

    @property
    def u(self) -> float:
        return min(self.width, self.height) / 1080

    def px(self, design: float) -> int:
        return max(1, round(design * self.u))

    @property
    def margin(self) -> int:
        return self.px(28)

    @property
    def gap(self) -> int:
        return self.px(18)

    @property
    def header_h(self) -> int:
        return self.px(170 if self.portrait else 124)

    @property
    def banner_h(self) -> int:
        return self.px(150 if self.portrait else 120)

    @property
    def title_h(self) -> int:
        return self.px(100 if self.portrait else 72)

    @property
    def nav_h(self) -> int:
        return self.px(120 if self.portrait else 110)

    @property
    def priority_h(self) -> int:
        return self.px(150 if self.portrait else 120)

    @property
    def heading_h(self) -> int:
        return self.px(52)

    @property
    def button_min_h(self) -> int:
        return self.px(140 if self.portrait else 124)

    @property
    def button_floor_h(self) -> int:
        """The shortest a field button may get to save a page."""
        return self.px(120 if self.portrait else 110)

    @property
    def button_comfortable_h(self) -> int:
        return self.px(200)

    @property
    def button_max_h(self) -> int:
        return self.px(270)

    @property
    def columns(self) -> int:
        return max(1, int(self.width / self.u // 460))

    # type sizes
    @property
    def font_centre(self) -> int:
        return self.px(42)

    @property
    def font_clock(self) -> int:
        return self.px(70)

    @property
    def font_date(self) -> int:
        return self.px(30)

    @property
    def font_title(self) -> int:
        return self.px(50)

    @property
    def font_field(self) -> int:
        return self.px(44)

    @property
    def font_info(self) -> int:
        return self.px(31)

    @property
    def font_heading(self) -> int:
        return self.px(32)

    @property
    def font_banner(self) -> int:
        return self.px(40)

    @property
    def font_button(self) -> int:
        return self.px(44)

    @property
    def font_number(self) -> int:
        return self.px(300)


@dataclass(frozen=True)
class HomeFrame:
    """The fixed parts of the home screen."""

    header: Rect
    banner: Rect | None
    title: Rect
    grid: Rect
    nav: Rect | None
    priority: Rect | None


def home_frame(m: Metrics, banner: bool, nav: bool, priority: bool) -> HomeFrame:
    w, h, mg = m.width, m.height, m.margin
    header = Rect(0, 0, w, m.header_h)
    y = header.bottom + m.gap
    banner_rect = None
    if banner:
        banner_rect = Rect(mg, y, w - 2 * mg, m.banner_h)
        y = banner_rect.bottom + m.gap
    title = Rect(mg, y, w - 2 * mg, m.title_h)
    bottom = h - mg
    priority_rect = nav_rect = None
    if m.portrait:
        if priority:
            priority_rect = Rect(mg, bottom - m.priority_h, w - 2 * mg, m.priority_h)
            bottom = priority_rect.top - m.gap
        if nav:
            nav_rect = Rect(mg, bottom - m.nav_h, w - 2 * mg, m.nav_h)
            bottom = nav_rect.top - m.gap
    elif priority or nav:  # landscape: one row, the priority button on the left, paging on the right
        row_h = max(m.priority_h if priority else 0, m.nav_h if nav else 0)
        row = Rect(mg, bottom - row_h, w - 2 * mg, row_h)
        if priority and nav:
            split = round(row.width * 0.5)
            priority_rect = Rect(row.left, row.top, split - m.gap // 2, row_h)
            nav_rect = Rect(row.left + split + m.gap // 2, row.top, row.width - split - m.gap // 2, row_h)
        elif priority:
            priority_rect = row
        else:
            nav_rect = row
        bottom = row.top - m.gap
    grid = Rect(mg, title.bottom + m.gap, w - 2 * mg, max(0, bottom - title.bottom - m.gap))
    return HomeFrame(header, banner_rect, title, grid, nav_rect, priority_rect)


def split_row(area: Rect, parts: int, gap: int) -> list[Rect]:
    """`parts` equal rects side by side."""
    width = (area.width - gap * (parts - 1)) / parts
    return [Rect(round(area.left + i * (width + gap)), area.top, round(width), area.height) for i in range(parts)]


# ---- the field grid ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Heading:
    agency: str
    continued: bool
    rect: Rect


@dataclass(frozen=True)
class FieldSlot:
    code: str
    rect: Rect


@dataclass(frozen=True)
class Section:
    """One agency's block on a page: its heading and every button under it (the box a backdrop fills)."""

    agency: str
    rect: Rect


@dataclass
class Page:
    headings: list[Heading] = field(default_factory=list)
    buttons: list[FieldSlot] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def group_by_agency(fields: list[dict]) -> list[tuple[str, list[dict]]]:
    """Sections in the order each agency first appears; fields keep their configured order."""
    groups: dict[str, list[dict]] = {}
    for f in fields:
        groups.setdefault((f.get("agency") or "").strip(), []).append(f)
    return list(groups.items())


@dataclass(frozen=True)
class Block:
    """A section (or, when it is larger than a page, a page's share of it) as placed by the flow:
    `width` columns from `column`, `rows` buttons down each, filled column by column."""

    agency: str
    codes: tuple[str, ...]
    continued: bool
    column: int
    width: int
    rows: int


def _flow(groups: list[tuple[str, list[str]]], cols: int, capacity: float, button_h: float,
          heading_h: float, gap: float, headings: bool) -> list[list[Block]]:
    """Pages of blocks. A section is one block: one column when it fits a column's `capacity`, else
    the fewest side-by-side columns that hold it under one heading. Blocks go in reading order: down a
    column, then on to the columns to the right (never back to the left), then the next page. Only a
    section larger than a whole page is cut, into one block a page."""
    head = heading_h if headings else 0.0
    step = button_h + gap
    rows_max = max(1, int((capacity - head) // step))
    pages: list[list[Block]] = []
    page: list[Block] = []
    used = [0.0] * cols
    for agency, codes in groups:
        per_page = cols * rows_max
        for part, i in enumerate(range(0, len(codes), per_page)):
            chunk = tuple(codes[i:i + per_page])
            width = math.ceil(len(chunk) / rows_max)
            rows = math.ceil(len(chunk) / width)
            height = head + rows * step
            spot = next(((x, top) for x in range(cols - width + 1)
                         if (top := max(used[x:x + width])) + height <= capacity), None)
            if spot is None:
                if page:
                    pages.append(page)
                page, used = [], [0.0] * cols
                spot = (0, 0.0)
            x, top = spot
            page.append(Block(agency, chunk, part > 0, x, width, rows))
            used[x:x + width] = [top + height] * width
    if page:
        pages.append(page)
    return pages or [[]]


def paginate(fields: list[dict], grid: Rect, m: Metrics) -> list[Page]:
    """Place one button per field, in agency sections, on as few pages as the screen allows; a
    section stays whole (in one column, or in adjacent columns under one heading)."""
    groups = [(agency, [f["code"] for f in fs]) for agency, fs in group_by_agency(fields)]
    headings = len(groups) > 1
    gap, head = m.gap, m.heading_h
    capacity = grid.height + gap  # the last button needs no gap below it

    def flow(button_h: float, cap: float = capacity, cols: int = m.columns) -> list[list[Block]]:
        return _flow(groups, cols, cap, button_h, head, gap, headings)

    # Few fields: the fewest columns that hold them all on one page at a comfortable height
    # (wide buttons, long names on one line); many fields: every column the screen allows.
    cols = next((n for n in range(1, m.columns) if len(flow(m.button_comfortable_h, cols=n)) == 1), m.columns)
    # The fewest pages, then the tallest buttons (between button_floor_h and button_min_h).
    heights = range(m.button_min_h, m.button_floor_h - 1, -max(1, m.px(4)))
    button_h = min(heights, key=lambda h: (len(flow(h, cols=cols)), -h))
    pages = flow(button_h, cols=cols)
    # Even out: the smallest column height that needs no more pages, so the columns (and the last
    # page) are balanced rather than the last one holding a lone button; never so short that a
    # block would have to change shape.
    low = max(((head if headings else 0.0) + b.rows * (button_h + gap) for p in pages for b in p), default=0.0)
    high = max(low, capacity)
    if len(flow(button_h, low, cols)) <= len(pages):
        high = low
    for _ in range(16):
        mid = (low + high) / 2
        if len(flow(button_h, mid, cols)) <= len(pages):
            high = mid
        else:
            low = mid
    return [_place(page, grid, cols, m, headings) for page in flow(button_h, high, cols)]


def _tops(blocks: list[Block], cols: int, button_h: float, head: float, gap: float) -> tuple[list[float], float]:
    """Each block's top for buttons `button_h` tall, and the height of the whole (gap included)."""
    used, tops = [0.0] * cols, []
    for b in blocks:
        top = max(used[b.column:b.column + b.width])
        tops.append(top)
        used[b.column:b.column + b.width] = [top + head + b.rows * (button_h + gap)] * b.width
    return tops, max(used)


def _place(blocks: list[Block], grid: Rect, cols: int, m: Metrics, headings: bool) -> Page:
    """Pixels for one page: one button height for the whole page, as tall as the grid allows (the
    tallest stack of blocks decides), up to button_max_h."""
    gap, head = m.gap, (m.heading_h if headings else 0)
    width = (grid.width - gap * (cols - 1)) / cols
    low, high = 1, m.button_max_h
    while low < high:
        mid = (low + high + 1) // 2
        if _tops(blocks, cols, mid, head, gap)[1] <= grid.height + gap:
            low = mid
        else:
            high = mid - 1
    button_h = low
    tops, _total = _tops(blocks, cols, button_h, head, gap)
    lefts = [round(grid.left + c * (width + gap)) for c in range(cols)]
    rights = [round(grid.left + c * (width + gap) + width) for c in range(cols)]
    page = Page()
    for b, top in zip(blocks, tops):
        left, right = lefts[b.column], rights[b.column + b.width - 1]
        y = grid.top + round(top)
        if headings:
            page.headings.append(Heading(b.agency, b.continued, Rect(left, y, right - left, head)))
        for i, code in enumerate(b.codes):
            c = b.column + i // b.rows
            row_top = y + head + round((i % b.rows) * (button_h + gap))
            page.buttons.append(FieldSlot(code, Rect(lefts[c], row_top, rights[c] - lefts[c], button_h)))
        bottom = y + head + round(b.rows * (button_h + gap) - gap)
        page.sections.append(Section(b.agency, Rect(left, y, right - left, bottom - y)))
    return page


def list_rects(area: Rect, count: int, m: Metrics, max_h: int | None = None) -> list[Rect]:
    """`count` full-width buttons stacked in `area` (two columns on a landscape screen)."""
    if count == 0:
        return []
    cols = 1 if m.portrait else 2
    rows = math.ceil(count / cols)
    gap = m.gap
    h = min(max_h or m.px(220), (area.height - gap * (rows - 1)) / rows)
    width = (area.width - gap * (cols - 1)) / cols
    return [Rect(round(area.left + (i % cols) * (width + gap)), round(area.top + (i // cols) * (h + gap)),
                 round(width), round(h)) for i in range(count)]
