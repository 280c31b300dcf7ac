"""Drawing the kiosk's screens with pygame: large type, high contrast, Vietnamese text (NFC).

`draw(surface, view)` paints one `View` and returns the touch targets it drew, as (Rect, action)
pairs; the app dispatches a touch to the action under the finger. Nothing here talks to the
network or the printer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import pygame
from pygame import Rect

from layso.hardware.ticket_render import qr_matrix
from layso.text import date_line, nfc
from layso.textfit import FLOOR_PX, Fitted, fonts, line_height, slot_height

from . import texts
from .layout import HomeFrame, Metrics, home_frame, list_rects, paginate, split_row

# ---- palette: light text on deep navy, dark text on white buttons ---------------------------------
BG = (9, 24, 46)
HEADER_BG = (4, 13, 27)
WHITE = (255, 255, 255)
MUTED = (196, 210, 230)
INK = (9, 24, 46)
INK_SOFT = (52, 72, 98)
ACCENT = (0, 98, 204)
HEADING = (150, 200, 255)
HEADING_RULE = (62, 104, 160)
CLOSED_BG = (78, 86, 99)
CLOSED_INK = (205, 210, 218)
PRIORITY_BG = (255, 183, 0)
DANGER_BG = (183, 28, 28)
WARN_BG = (255, 196, 0)
OK_BG = (27, 120, 62)
DISABLED_BG = (40, 56, 80)
DISABLED_INK = (130, 146, 168)

HOME, PRIORITY, PRIORITY_FIELDS, ISSUING, TICKET, REFUSED, SERVER_AWAY = (
    "home", "priority", "priority_fields", "issuing", "ticket", "refused", "server_away")


@dataclass
class View:
    """Everything one frame shows; built by the app from its state."""

    screen: str
    centre_name: str = ""
    now: datetime | None = None
    fields: list[dict] = field(default_factory=list)
    categories: list[dict] = field(default_factory=list)
    page: int = 0
    priority: dict | None = None  # the chosen category {code, name}
    connection: str = "connecting"
    printer_fault: str | None = None  # "paper_out" | "cover_open" | "offline" | None
    has_printer: bool = True
    ticket: dict | None = None
    destination: str = ""
    print_state: str = "printing"  # printing | printed | failed | none
    refused_code: str = ""
    checkin: bool = False  # offer the check-in of online bookings (kiosk/checkin.py)


Action = tuple
Target = tuple[Rect, Action]


# ---- text (layso.textfit: one renderer for every device program) -----------------------------------------
def fit(text: str, bold: bool, size: int, min_size: int, width: int, height: float,
        max_lines: int = 3) -> tuple[int, list[str]]:
    """The largest size (≤ size; below min_size only rather than cut a word) at which `text` wraps into
    width×height on at most `max_lines` lines, and those lines."""
    f = fonts().fit(text, width, int(height), size, min_size, bold, max_lines)
    return f.size, list(f.lines)


def text_width(text: str, size: int, bold: bool = False) -> int:
    return fonts().width(nfc(text), size, bold)


def text_line(surface: pygame.Surface, text: str, size: int, bold: bool, color: tuple, x: int, top: int,
              align: str = "left", width: int = 0) -> int:
    """Draw one line whose slot (room for stacked marks above, descenders below) starts at `top`;
    returns the next line's top."""
    fonts().draw(surface, Fitted((nfc(text),), size, bold), Rect(x, top, width, slot_height(size)), color, align,
                 valign="top")
    return top + line_height(size)


def block_height(lines: list[str], size: int) -> int:
    return Fitted(tuple(lines), size, False).height if lines else 0


def text_block(surface: pygame.Surface, lines: list[str], size: int, bold: bool, color: tuple, rect: Rect,
               align: str = "left", valign: str = "top") -> int:
    """Lines inside `rect` (from its top, or centred: see `Fonts.draw`); returns the bottom of their slots."""
    fitted_lines = Fitted(tuple(nfc(line) for line in lines), size, bold)
    fonts().draw(surface, fitted_lines, rect, color, align, valign=valign)
    if valign == "top":
        return rect.top + fitted_lines.height
    return rect.top + (rect.height + fitted_lines.height) // 2


def fitted(surface: pygame.Surface, text: str, bold: bool, size: int, color: tuple, rect: Rect,
           align: str = "center", valign: str = "centre", max_lines: int = 3, min_size: int | None = None) -> int:
    s, lines = fit(text, bold, size, min_size or max(10, size * 6 // 10), rect.width, rect.height, max_lines)
    return text_block(surface, lines, s, bold, color, rect, align, valign)


# ---- QR codes ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def qr_surface(data: str, side: int) -> pygame.Surface:
    """The QR code (with its quiet zone) on white, at most `side` px, whole pixels per module."""
    matrix = qr_matrix(data, border=4)  # the same code as the paper's, with its quiet zone
    n = len(matrix)
    module = max(1, side // n)
    img = pygame.Surface((n * module, n * module))
    img.fill(WHITE)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                img.fill((0, 0, 0), Rect(x * module, y * module, module, module))
    return img


# ---- pieces ------------------------------------------------------------------------------------------------
def _radius(m: Metrics) -> int:
    return m.px(18)


def _header(surface: pygame.Surface, view: View, m: Metrics, status: tuple | None = None,
            button: tuple[str, Action] | None = None) -> list[Target]:
    """The top bar: the centre's name, or the status banner when there is one (so a printer fault
    or a lost connection never moves the fields below); the clock, or a button (the ticket's "Xong",
    where no screen that follows has a touch target)."""
    rect = Rect(0, 0, m.width, m.header_h)
    surface.fill(HEADER_BG, rect)
    inner = rect.inflate(-2 * m.margin, -m.px(20))
    clock_w = m.px(330)
    name_rect = Rect(inner.left, inner.top, inner.width - clock_w - m.gap, inner.height)
    if status is not None:
        _banner(surface, name_rect, *status, m)
    else:
        fitted(surface, view.centre_name or "", True, m.font_centre, WHITE, name_rect, align="left",
               max_lines=2, min_size=m.px(26))
    clock_rect = Rect(inner.right - clock_w, inner.top, clock_w, inner.height)
    if button is not None:
        _button(surface, clock_rect, button[0], m)
        return [(clock_rect, button[1])]
    if view.now is not None:
        total = slot_height(m.font_clock) + line_height(m.font_date)
        top = clock_rect.top + (clock_rect.height - total) // 2
        text_line(surface, view.now.strftime("%H:%M"), m.font_clock, True, WHITE, clock_rect.left, top,
                  "right", clock_w)
        top += slot_height(m.font_clock)
        text_line(surface, date_line(view.now), m.font_date, False, MUTED, clock_rect.left, top, "right", clock_w)
    return []


def _banner(surface: pygame.Surface, rect: Rect, message: str, bg: tuple, ink: tuple, m: Metrics) -> None:
    pygame.draw.rect(surface, bg, rect, border_radius=_radius(m))
    fitted(surface, message, True, m.font_banner, ink, rect.inflate(-2 * m.px(20), -m.px(10)), max_lines=3,
           min_size=m.px(24))


def _button(surface: pygame.Surface, rect: Rect, label: str, m: Metrics, bg=WHITE, ink=INK,
            size: int | None = None) -> None:
    pygame.draw.rect(surface, bg, rect, border_radius=_radius(m))
    fitted(surface, label, True, size or m.font_button, ink, rect.inflate(-2 * m.px(20), -m.px(12)), max_lines=2)


def _status_banner(view: View) -> tuple[str, tuple, tuple] | None:
    """The message shown above the fields, most serious first."""
    if view.connection == "unauthorized":
        return texts.UNAUTHORIZED, DANGER_BG, WHITE
    if view.connection != "online":
        return (texts.SERVER_AWAY if view.fields else texts.CONNECTING), DANGER_BG, WHITE
    if view.printer_fault:
        return texts.PRINTER_FAULTS.get(view.printer_fault, texts.PRINTER_FAULTS["offline"]), WARN_BG, INK
    return None


# ---- screens -----------------------------------------------------------------------------------------------
def draw(surface: pygame.Surface, view: View) -> list[Target]:
    m = Metrics(*surface.get_size())
    surface.fill(BG)
    if view.screen == TICKET:
        header = _header(surface, view, m, button=(texts.DONE, ("done",)))
    elif view.screen == REFUSED:
        header = _header(surface, view, m, button=(f"‹ {texts.BACK}", ("back",)))
    else:
        header = _header(surface, view, m, status=_status_banner(view) if view.screen != ISSUING else None)
    painter = {HOME: _home, PRIORITY_FIELDS: _home, SERVER_AWAY: _home, PRIORITY: _priority,
               ISSUING: _issuing, TICKET: _ticket, REFUSED: _refused}[view.screen]
    return header + painter(surface, view, m)


def home_pages(view: View, m: Metrics) -> tuple[HomeFrame, list]:
    """The frame and the pages of field buttons of the home screen for `view`."""
    priority = bool(view.categories) or view.screen == PRIORITY_FIELDS or view.checkin
    frame = home_frame(m, False, nav=False, priority=priority)  # the status shows in the header
    pages = paginate(view.fields, frame.grid, m)
    if len(pages) > 1:
        frame = home_frame(m, False, nav=True, priority=priority)
        pages = paginate(view.fields, frame.grid, m)
    return frame, pages


def _home(surface: pygame.Surface, view: View, m: Metrics) -> list[Target]:
    targets: list[Target] = []
    frame, pages = home_pages(view, m)
    online = view.connection == "online"
    if view.screen == SERVER_AWAY:
        fitted(surface, texts.SERVER_AWAY_HINT, True, m.font_info, MUTED, frame.title, max_lines=2)
    elif view.screen == PRIORITY_FIELDS and view.priority:
        title = texts.PRIORITY_FIELDS_TITLE.format(name=view.priority["name"])
        fitted(surface, title, True, m.font_title, PRIORITY_BG, frame.title, max_lines=2)
    else:
        fitted(surface, texts.TAKE_NUMBER, True, m.font_title, WHITE, frame.title, max_lines=1)
    page_no = min(view.page, len(pages) - 1)
    page = pages[page_no]
    for heading in page.headings:
        label = texts.CONTINUED.format(agency=heading.agency) if heading.continued else heading.agency
        text_box = heading.rect.inflate(0, -m.px(8)).move(0, -m.px(4))
        fitted(surface, label.upper(), True, m.font_heading, HEADING, text_box, align="left",
               valign="centre", max_lines=1, min_size=m.px(20))
        # a rule under the heading as wide as its section: the columns it spans read as one group
        rule = Rect(heading.rect.left, heading.rect.bottom - m.px(10), heading.rect.width, max(2, m.px(3)))
        pygame.draw.rect(surface, HEADING_RULE, rule, border_radius=rule.height // 2)
    by_code = {f["code"]: f for f in view.fields}
    for slot in page.buttons:
        f = by_code[slot.code]
        usable = online and f.get("accepting", False)
        _field_button(surface, slot.rect, f, usable, online, m, priority_path=view.screen == PRIORITY_FIELDS)
        if usable:
            targets.append((slot.rect, ("field", f["code"])))
    if frame.nav is not None:
        targets += _nav(surface, frame.nav, page_no, len(pages), m)
    if frame.priority is not None:
        if view.screen == PRIORITY_FIELDS:
            _button(surface, frame.priority, f"‹ {texts.BACK}", m, bg=WHITE, ink=INK)
            targets.append((frame.priority, ("back",)))
        else:
            row = frame.priority
            if view.checkin:  # the bottom row is shared with the check-in of online bookings
                from .checkin import home_button
                row, checkin_rect = split_row(row, 2, m.gap) if view.categories else (None, row)
                target = home_button(surface, checkin_rect, online, m)
                targets += [target] if target else []
            if row is not None:
                _priority_button(surface, row, online, m)
                if online:
                    targets.append((row, ("priority",)))
    return targets


def _field_button(surface: pygame.Surface, rect: Rect, f: dict, usable: bool, online: bool, m: Metrics,
                  priority_path: bool = False) -> None:
    """One field: its name, how many wait and the estimated wait. On the priority path neither: the
    count and the estimate are the field's whole queue, which a priority ticket passes, and would
    mislead a priority citizen; a line says that priority numbers are called sooner. Offline, only
    the name: the figures would be as old as the connection."""
    closed = not f.get("accepting", False)
    bg, ink, soft = (WHITE, INK, INK_SOFT) if usable else ((CLOSED_BG, CLOSED_INK, WHITE) if closed and online
                                                           else (DISABLED_BG, DISABLED_INK, DISABLED_INK))
    pygame.draw.rect(surface, bg, rect, border_radius=_radius(m))
    if usable:
        bar = Rect(rect.left, rect.top, m.px(14), rect.height)
        pygame.draw.rect(surface, ACCENT, bar, border_top_left_radius=_radius(m), border_bottom_left_radius=_radius(m))
    pad_x, pad_y = m.px(34), max(m.px(10), rect.height // 14)
    inner = Rect(rect.left + pad_x, rect.top + pad_y, rect.width - pad_x - m.px(20), rect.height - 2 * pad_y)
    info_max = min(m.px(36), max(m.px(24), rect.height * 18 // 100))
    # the name as large as the button allows (portrait buttons are shorter and wider)
    name_max = min(m.px(60), max(m.px(30), rect.height * (30 if m.portrait else 24) // 100))
    if not online:  # the queue's figures are as old as the lost connection: no figures rather than stale ones
        options = [([], False)]
    elif closed:
        options = [([texts.closed_reason(f.get("closed_reason"))], True)]
    elif priority_path:
        options = [([texts.PRIORITY_SOONER], False)]
    else:
        waiting, est = f.get("waiting", 0), f.get("est_wait_s")
        options = [(texts.field_queue_lines(waiting, est, one_line=True), False),
                   (texts.field_queue_lines(waiting, est), False)]
        if rect.height >= m.px(200):  # room enough: the wait on a line of its own
            options.reverse()
    # The name is what a citizen looks for: the arrangement that draws it largest, the queue line still
    # readable (not below px(20)) where any arrangement allows it.
    laid = [_field_text(f["name"], parts, bold, name_max, info_max, inner, m) for parts, bold in options]
    readable = [t for t in laid if t[3] >= m.px(20)] or laid
    name_lines, n_size, info_lines, size, info_bold = max(readable, key=lambda t: t[1])
    info_h = block_height(info_lines, size)
    name_box = Rect(inner.left, inner.top, inner.width, inner.height - info_h - (m.px(4) if info_h else 0))
    text_block(surface, name_lines, n_size, True, ink, name_box, "left", "centre")
    text_block(surface, info_lines, size, info_bold, soft,
               Rect(inner.left, inner.bottom - info_h, inner.width, info_h), "left")


def _field_text(name: str, parts: list[str], bold: bool, name_max: int, info_max: int, inner: Rect,
                m: Metrics) -> tuple[list[str], int, list[str], int, bool]:
    """A field button's name and queue lines laid out in `inner`: (name lines, name size, queue
    lines, their size, bold); the queue lines at one size, each on one line, under the name."""
    size = min((fonts().size_for(p, inner.width, info_max, FLOOR_PX, bold) for p in parts), default=info_max)
    info_lines = [nfc(p) for p in parts]
    name_h = inner.height - block_height(info_lines, size) - (m.px(4) if info_lines else 0)
    n_size, lines = fit(name, True, name_max, m.px(22), inner.width, name_h, max_lines=3)
    return lines, n_size, info_lines, size, bold


def _priority_button(surface: pygame.Surface, rect: Rect, online: bool, m: Metrics) -> None:
    bg, ink = (PRIORITY_BG, INK) if online else (DISABLED_BG, DISABLED_INK)
    pygame.draw.rect(surface, bg, rect, border_radius=_radius(m))
    inner = rect.inflate(-2 * m.px(28), -m.px(16))
    title_h = line_height(m.px(50))
    block = Rect(inner.left, inner.top + (inner.height - title_h - slot_height(m.font_info)) // 2,
                 inner.width, title_h)
    text_line(surface, texts.PRIORITY_BUTTON, m.px(50), True, ink, block.left, block.top, "center", block.width)
    hint = Rect(inner.left, block.bottom, inner.width, inner.bottom - block.bottom)
    fitted(surface, texts.PRIORITY_BUTTON_HINT, False, m.font_info, ink, hint, valign="top", max_lines=1,
           min_size=m.px(18))


def _nav(surface: pygame.Surface, rect: Rect, page: int, pages: int, m: Metrics) -> list[Target]:
    prev_rect, label_rect, next_rect = split_row(rect, 3, m.gap)
    targets: list[Target] = []
    for r, label, action, enabled, left in ((prev_rect, texts.PAGE_PREVIOUS, ("page", page - 1), page > 0, True),
                                           (next_rect, texts.PAGE_NEXT, ("page", page + 1), page < pages - 1, False)):
        bg, ink = (WHITE, INK) if enabled else (DISABLED_BG, DISABLED_INK)
        pygame.draw.rect(surface, bg, r, border_radius=_radius(m))
        arrow = m.px(22)
        cy = r.centery
        if left:
            ax = r.left + m.px(28)
            points = [(ax, cy), (ax + arrow, cy - arrow), (ax + arrow, cy + arrow)]
            box = Rect(ax + arrow + m.px(10), r.top, r.right - ax - arrow - m.px(20), r.height)
        else:
            ax = r.right - m.px(28)
            points = [(ax, cy), (ax - arrow, cy - arrow), (ax - arrow, cy + arrow)]
            box = Rect(r.left + m.px(10), r.top, ax - arrow - r.left - m.px(20), r.height)
        pygame.draw.polygon(surface, ink, points)
        fitted(surface, label, True, m.px(38), ink, box, max_lines=1, min_size=m.px(18))
        if enabled:
            targets.append((r, action))
    fitted(surface, texts.PAGE_OF.format(page=page + 1, pages=pages), True, m.px(38), WHITE, label_rect,
           max_lines=1)
    return targets


def _priority(surface: pygame.Surface, view: View, m: Metrics) -> list[Target]:
    targets: list[Target] = []
    top = m.header_h + m.gap
    title = Rect(m.margin, top, m.width - 2 * m.margin, m.title_h)
    fitted(surface, texts.PRIORITY_TITLE, True, m.font_title, PRIORITY_BG, title, max_lines=1)
    back = Rect(m.margin, m.height - m.margin - m.priority_h, m.width - 2 * m.margin, m.priority_h)
    if not m.portrait:
        back.width = (m.width - 2 * m.margin) // 2
    note = Rect(m.margin, back.top - m.gap - m.px(90), m.width - 2 * m.margin, m.px(90))
    fitted(surface, texts.PRIORITY_NOTE, False, m.font_info, MUTED, note, max_lines=2)
    area = Rect(m.margin, title.bottom + m.gap, m.width - 2 * m.margin, note.top - title.bottom - 2 * m.gap)
    online = view.connection == "online"
    for rect, category in zip(list_rects(area, len(view.categories), m), view.categories):
        bg, ink = (WHITE, INK) if online else (DISABLED_BG, DISABLED_INK)
        pygame.draw.rect(surface, bg, rect, border_radius=_radius(m))
        if online:
            pygame.draw.rect(surface, PRIORITY_BG, Rect(rect.left, rect.top, m.px(18), rect.height),
                             border_top_left_radius=_radius(m), border_bottom_left_radius=_radius(m))
            targets.append((rect, ("category", category["code"])))
        fitted(surface, category["name"], True, m.px(50), ink, rect.inflate(-2 * m.px(40), -m.px(16)),
               align="left", max_lines=2)
    _button(surface, back, f"‹ {texts.BACK}", m)
    targets.append((back, ("back",)))
    return targets


def _issuing(surface: pygame.Surface, view: View, m: Metrics) -> list[Target]:
    area = Rect(m.margin, m.header_h, m.width - 2 * m.margin, m.height - m.header_h)
    fitted(surface, texts.ISSUING, True, m.px(60), WHITE, area, max_lines=3)
    return []


def _ticket(surface: pygame.Surface, view: View, m: Metrics) -> list[Target]:
    """The ticket: number, where to go, the QR code and whether it printed. Its "Xong" button is in
    the header (drawn by `draw`), where the home screen that follows has nothing to touch."""
    t = view.ticket or {}
    mg, gap = m.margin, m.gap
    status_h = m.px(150 if m.portrait else 120)
    status = Rect(mg, m.height - mg - status_h, m.width - 2 * mg, status_h)
    status_text, status_bg, status_ink = _print_status(view)
    body = Rect(mg, m.header_h + gap, m.width - 2 * mg, status.top - gap - m.header_h - gap)
    if m.portrait:
        qr_side = min(m.px(460), body.height * 36 // 100)
        info = Rect(body.left, body.top, body.width, body.height - qr_side - m.px(60))
        qr_box = Rect(body.left, info.bottom, body.width, body.bottom - info.bottom)
    else:
        qr_side = min(m.px(520), body.height - m.px(70))
        qr_box = Rect(body.right - qr_side - m.px(40), body.top, qr_side + m.px(40), body.height)
        info = Rect(body.left, body.top, qr_box.left - gap - body.left, body.height)
    _ticket_info(surface, t, view, info, m)
    if t.get("track_url"):
        img = qr_surface(t["track_url"], qr_side)
        x = qr_box.left + (qr_box.width - img.get_width()) // 2
        surface.blit(img, (x, qr_box.top))
        caption = Rect(qr_box.left, qr_box.top + img.get_height() + m.px(8), qr_box.width, m.px(50))
        fitted(surface, texts.TICKET_QR, False, m.font_info, MUTED, caption, max_lines=1, min_size=m.px(18))
    pygame.draw.rect(surface, status_bg, status, border_radius=_radius(m))
    fitted(surface, status_text, True, m.font_banner, status_ink, status.inflate(-2 * m.px(24), -m.px(12)),
           max_lines=3)
    return []


def _ticket_info(surface: pygame.Surface, t: dict, view: View, area: Rect, m: Metrics) -> None:
    """Title, the number very large, field, destination, priority, people ahead and the wait."""
    lines: list[tuple[str, int, bool, tuple]] = [(texts.TICKET_TITLE, m.px(52), True, MUTED)]
    number_size = m.font_number
    while number_size > m.px(80) and text_width(t.get("number", ""), number_size, True) > area.width:
        number_size -= m.px(10)
    lines.append((t.get("number", ""), number_size, True, WHITE))
    lines.append((t.get("field_name", ""), m.px(56), True, WHITE))
    if view.destination:
        lines.append((texts.TICKET_GO_TO.format(destination=view.destination), m.px(46), True, HEADING))
    if t.get("priority_name"):
        lines.append((texts.priority_line(t["priority_name"]), m.px(40), True, PRIORITY_BG))
    lines.append((texts.format_ahead(t.get("ahead") or 0), m.px(40), False, WHITE))
    if t.get("status", "waiting") == "waiting":
        for line in texts.wait_lines(t.get("est_wait_s"), t.get("est_wait_reason")):
            lines.append((line, m.px(40), False, WHITE))
    spacing = m.px(10)
    for scale in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):  # everything smaller together until it all fits the area
        blocks = []
        for text, size, bold, color in lines:
            size = max(m.px(20), round(size * scale))
            s, wrapped = fit(text, bold, size, max(m.px(20), size * 6 // 10), area.width, size * 3, max_lines=2)
            blocks.append((wrapped, s, bold, color))
        total = sum(block_height(w, s) for w, s, _b, _c in blocks) + spacing * (len(blocks) - 1)
        if total <= area.height:
            break
    top = area.top + max(0, (area.height - total) // 2)
    for wrapped, s, bold, color in blocks:
        top = text_block(surface, wrapped, s, bold, color, Rect(area.left, top, area.width, area.height),
                         "center") + spacing


def _print_status(view: View) -> tuple[str, tuple, tuple]:
    if view.print_state == "failed" or (view.print_state == "printing" and view.printer_fault):
        fault = view.printer_fault or "offline"
        return texts.PRINTER_FAULTS.get(fault, texts.PRINTER_FAULTS["offline"]), WARN_BG, INK
    if view.print_state == "none" or not view.has_printer:
        return texts.TICKET_NO_PRINTER, DISABLED_BG, WHITE
    if view.print_state == "printed":
        return texts.TICKET_PRINTED, OK_BG, WHITE
    return texts.TICKET_PRINTING, DISABLED_BG, WHITE


def _refused(surface: pygame.Surface, view: View, m: Metrics) -> list[Target]:
    """Why no number was given; "Quay lại" is in the header (drawn by `draw`)."""
    mg = m.margin
    area = Rect(mg + m.px(40), m.header_h, m.width - 2 * mg - m.px(80), m.height - mg - m.header_h)
    size, lines = fit(texts.refused(view.refused_code), True, m.px(52), m.px(30), area.width, area.height // 2, 5)
    title_h = slot_height(m.px(64))
    body_h = block_height(lines, size)
    top = area.top + (area.height - title_h - m.px(40) - body_h) // 2
    text_line(surface, texts.REFUSED_TITLE, m.px(64), True, PRIORITY_BG, area.left, top, "center", area.width)
    text_block(surface, lines, size, True, WHITE, Rect(area.left, top + title_h + m.px(40), area.width, body_h),
               "center")
    return []
