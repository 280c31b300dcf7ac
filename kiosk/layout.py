"""Screen geometry, computed from the screen size: portrait (1080×1920), landscape (1920×1080) and
anything in between. Pure functions over pygame.Rect; no drawing here.

The home screen lays the fields out like a newspaper: agency sections (a heading, then one large
button per field) flow down the columns, then onto the next page; a section cut by the end of a
column goes on under a repeated heading. When everything fits on one page the columns are
balanced and the buttons grow to fill the screen; with several pages, the pages are evened out.
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
        """The shortest a field button may get to keep its agency's section in one column."""
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


@dataclass
class Page:
    headings: list[Heading] = field(default_factory=list)
    buttons: list[FieldSlot] = field(default_factory=list)


def group_by_agency(fields: list[dict]) -> list[tuple[str, list[dict]]]:
    """Sections in the order each agency first appears; fields keep their configured order."""
    groups: dict[str, list[dict]] = {}
    for f in fields:
        groups.setdefault((f.get("agency") or "").strip(), []).append(f)
    return list(groups.items())


# A column is a list of entries: ("heading", agency, continued) or ("field", code).
Entry = tuple
Column = list[Entry]


def _flow(groups: list[tuple[str, list[str]]], cols: int, capacity: float, button_h: float,
          heading_h: float, gap: float, headings: bool, keep_together: float = 0.0) -> list[list[Column]]:
    """Pages of columns, filled top to bottom; `capacity` is the usable column height. Every
    column takes at least one button, so the flow always ends. With `keep_together` (a column height),
    a section that does not fit the rest of a column but fits a whole column of that height starts the
    next column instead of being cut (a field is then never left at the foot of a column, away from
    its section's other fields)."""
    pages: list[list[Column]] = []
    page: list[Column] = []
    column: Column = []
    used = 0.0

    def close_column() -> None:
        nonlocal column, used, page
        page.append(column)
        column, used = [], 0.0
        if len(page) == cols:
            pages.append(page)
            page = []

    head = heading_h if headings else 0.0
    for agency, codes in groups:
        whole = head + len(codes) * (button_h + gap)
        if column and used + head + button_h > capacity:
            close_column()  # never a heading without a button under it
        elif column and used + whole > capacity and whole <= keep_together:
            close_column()
        i = 0
        while i < len(codes):
            if headings:
                column.append(("heading", agency, i > 0))
                used += head
            placed = 0
            while i < len(codes) and (used + button_h <= capacity or placed == 0):
                column.append(("field", codes[i]))
                used += button_h + gap
                i += 1
                placed += 1
            if i < len(codes):
                close_column()
    if column:
        close_column()
    if page:
        pages.append(page)
    return pages or [[]]


def paginate(fields: list[dict], grid: Rect, m: Metrics) -> list[Page]:
    """Place one button per field (and agency headings) on as few pages as the screen allows."""
    groups = [(agency, [f["code"] for f in fs]) for agency, fs in group_by_agency(fields)]
    headings = len(groups) > 1
    gap, head = m.gap, m.heading_h
    capacity = grid.height + gap  # the last button needs no gap below it
    # Few fields: the fewest columns that hold them all on one page at a comfortable height
    # (wide buttons, long names on one line); many fields: every column the screen allows.
    cols = m.columns
    for n in range(1, m.columns):
        if len(_flow(groups, n, capacity, m.button_comfortable_h, head, gap, headings)) == 1:
            cols = n
            break
    pages = _flow(groups, cols, capacity, m.button_min_h, head, gap, headings)
    # Sections kept whole in one column when that costs no extra page (buttons a little shorter, down
    # to button_floor_h, if need be).
    button_h, together = m.button_min_h, False
    if headings:
        for h in range(m.button_min_h, m.button_floor_h - 1, -max(1, m.px(4))):
            if len(_flow(groups, cols, capacity, h, head, gap, headings, capacity)) <= len(pages):
                button_h, together = h, True
                break

    def flow(cap: float) -> list[list[Column]]:
        return _flow(groups, cols, cap, button_h, head, gap, headings, cap if together else 0.0)

    # Even out: the smallest column height that needs no more pages, so the columns (and the last
    # page) are balanced rather than the last one holding a lone button.
    low, high = 0.0, capacity
    if together:  # never so short that a section kept whole would have to be cut after all
        wholes = [(head + len(codes) * (button_h + gap)) for _agency, codes in groups]
        low = max([w for w in wholes if w <= capacity], default=0.0)
        if len(flow(low)) <= len(pages):
            high = low
    for _ in range(16):
        mid = (low + high) / 2
        if len(flow(mid)) <= len(pages):
            high = mid
        else:
            low = mid
    pages = flow(high)
    return [_place(page, grid, cols, m) for page in pages]


def _place(columns: list[Column], grid: Rect, cols: int, m: Metrics) -> Page:
    gap, head = m.gap, m.heading_h
    width = (grid.width - gap * (cols - 1)) / cols
    button_h = float(m.button_max_h)
    for column in columns:  # one button height for the whole page: the tallest column decides
        n = sum(1 for e in column if e[0] == "field")
        if n:
            n_head = sum(1 for e in column if e[0] == "heading")
            button_h = min(button_h, (grid.height - n_head * head - (n - 1) * gap) / n)
    button_h = max(1.0, math.floor(button_h))
    page = Page()
    for c, column in enumerate(columns):
        x = round(grid.left + c * (width + gap))
        y = float(grid.top)
        for entry in column:
            if entry[0] == "heading":
                page.headings.append(Heading(entry[1], entry[2], Rect(x, round(y), round(width), head)))
                y += head
            else:
                page.buttons.append(FieldSlot(entry[1], Rect(x, round(y), round(width), round(button_h))))
                y += button_h + gap
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
