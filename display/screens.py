"""Drawing the lobby board with pygame, region by region.

Each region (header, latest call, recent calls, counters, fields, ticker) is redrawn only when
what it shows changes, and `draw` returns the rectangles that changed so the frame loop updates
just those. Every text drawn is recorded in `placed` (its ink and its box) so tests can check
that nothing is clipped or overlapping.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import pygame

from layso.client import ONLINE, UNAUTHORIZED
from layso.display import texts
from layso.display.board import Board, Call
from layso.display.layout import Layout, compute_layout
from layso.text import date_line, local_now, nfc
from layso.textfit import Fonts

PAGE_S = 8.0  # a long list turns a page this often
RECENT_ROWS = 5
TICKER_SPEED = 9.0  # hundredths of the screen height per second

NAVY = (8, 24, 48)
PANEL = (14, 40, 74)
ROW_A = (17, 48, 88)
ROW_B = (12, 37, 70)
TITLE = (22, 66, 120)
WHITE = (255, 255, 255)
SOFT = (200, 215, 235)
YELLOW = (255, 214, 64)
RED = (183, 28, 28)
ORANGE = (255, 167, 38)
GREY = (140, 152, 168)
DARK = (10, 20, 40)
PILL = (200, 40, 40)

Rect = pygame.Rect


@dataclass(frozen=True)
class Placed:
    region: str
    text: str
    ink: Rect
    box: Rect
    size: int
    scrolling: bool = False


@dataclass(frozen=True)
class Pages:
    columns: int
    rows: int  # per column
    row_h: int
    pages: int

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


def paginate(n: int, avail_h: int, min_row: int, max_row: int, max_columns: int) -> Pages:
    """How a list of n rows is laid out: columns, rows per column, row height, pages."""
    fit = max(1, avail_h // min_row)  # rows that fit in one column
    if n <= fit:
        rows = max(1, n)
        return Pages(1, rows, min(max_row, avail_h // rows), 1)
    columns = min(max_columns, math.ceil(n / fit))
    pages = math.ceil(n / (columns * fit))
    rows = math.ceil(n / (columns * pages))  # balanced: no nearly empty last page
    return Pages(columns, rows, min(max_row, avail_h // rows), pages)


class BoardScreen:
    def __init__(self, size: tuple[int, int], fonts: Fonts | None = None):
        self.layout: Layout = compute_layout(*size)
        # rendered lines cached up to a quarter of the screen's pixels: the texts redrawn often stay
        self.fonts = fonts or Fonts(cache_bytes=max(4 << 20, size[0] * size[1]))
        self.placed: dict[str, list[Placed]] = {}
        self._keys: dict[str, object] = {}
        self._region: str = ""

    def placements(self) -> list[Placed]:
        return [p for ps in self.placed.values() for p in ps]

    # ---- the frame ------------------------------------------------------------------------
    def draw(self, surface: pygame.Surface, board: Board, now: float) -> list[Rect]:
        """Redraw what changed; `now` is monotonic seconds (highlight, pages, ticker)."""
        lo = self.layout
        first = not self._keys
        if first:
            surface.fill(NAVY)
        changed: list[Rect] = []
        local = local_now(board.centre.get("timezone"), board.server_time())
        regions = (
            ("header", lo.header, self._header_key(board, local), lambda s, r: self._header(s, r, board, local)),
            ("call", lo.call, self._call_key(board, now), lambda s, r: self._call(s, r, board, now)),
            ("recent", lo.recent, self._recent_rows(board), lambda s, r: self._recent(s, r, board)),
            ("counters", lo.counters, self._counter_key(board, now), lambda s, r: self._counters(s, r, board, now)),
            ("fields", lo.fields, self._field_key(board, now), lambda s, r: self._fields(s, r, board, now)),
            ("ticker", lo.ticker, self._ticker_key(board, now), lambda s, r: self._ticker(s, r, board, now)),
        )
        for name, rect, key, paint in regions:
            if self._keys.get(name, object()) == key:
                continue
            self._keys[name] = key
            self._region = name
            self.placed[name] = []
            surface.set_clip(rect)
            paint(surface, rect)
            surface.set_clip(None)
            changed.append(rect)
        return [surface.get_rect()] if first else changed

    # ---- text -----------------------------------------------------------------------------
    def _text(self, surface, text: str, box: Rect, color, max_px: float, min_px: float, bold=False,
              lines=1, align="left") -> Rect:
        text = nfc(text)
        fitted = self.fonts.fit(text, box.width, box.height, int(max_px), int(min_px), bold, lines)
        bg = tuple(surface.get_at(box.midleft))[:3]  # backgrounds are plain and drawn first: render opaque on it
        ink = self.fonts.draw(surface, fitted, box, color, align, bg)
        if fitted.lines:
            self.placed[self._region].append(Placed(self._region, text, ink, Rect(box), fitted.size))
        return ink

    def _panel(self, surface, rect: Rect, title: str, note: str = "") -> Rect:
        """A panel with a title bar; returns the area below the title."""
        lo = self.layout
        surface.fill(PANEL, rect)
        bar = Rect(rect.x, rect.y, rect.width, lo.panel_title)
        surface.fill(TITLE, bar)
        pad = lo.px(1.2)
        inner = bar.inflate(-2 * pad, -lo.px(0.8))
        note_w = inner.width // 4 if note else 0
        self._text(surface, title, Rect(inner.x, inner.y, inner.width - note_w - pad, inner.height), WHITE,
                   lo.px(3.2), lo.px(1.8), bold=True)
        if note:
            self._text(surface, note, Rect(inner.right - note_w, inner.y, note_w, inner.height), SOFT,
                       lo.px(2.4), lo.px(1.4), align="right")
        return Rect(rect.x, bar.bottom, rect.width, rect.height - lo.panel_title)

    # ---- header ---------------------------------------------------------------------------
    @staticmethod
    def _header_key(board: Board, local: datetime):
        return (board.centre.get("name", ""), local.strftime("%Y-%m-%d %H:%M:%S"), board.connection, board.has_state)

    def _header(self, surface, rect: Rect, board: Board, local: datetime) -> None:
        lo = self.layout
        surface.fill(NAVY, rect)
        m = lo.margin
        inner = rect.inflate(-2 * m, -lo.px(1.2))
        clock_w = round(rect.width * 0.22)
        pill_w = round(rect.width * 0.2)
        name_box = Rect(inner.x, inner.y, inner.width - clock_w - pill_w - 2 * m, inner.height)
        self._text(surface, board.centre.get("name", ""), name_box, WHITE, lo.px(4.2), lo.px(2.0), bold=True, lines=2)
        clock = Rect(inner.right - clock_w, inner.y, clock_w, inner.height)
        date_box = Rect(clock.x, clock.y, clock.width, round(clock.height * 0.4))
        time_box = Rect(clock.x, date_box.bottom, clock.width, clock.height - date_box.height)
        self._text(surface, date_line(local), date_box, SOFT, lo.px(2.6), lo.px(1.4), align="right")
        self._text(surface, local.strftime("%H:%M:%S"), time_box, YELLOW, lo.px(4.4), lo.px(2.0), bold=True,
                   align="right")
        if board.connection != ONLINE and board.has_state:
            pill = Rect(name_box.right + m, inner.y + lo.px(0.6), pill_w, inner.height - lo.px(1.2))
            pygame.draw.rect(surface, PILL, pill, border_radius=lo.px(1.2))
            self._text(surface, texts.OFFLINE, pill.inflate(-lo.px(1.6), -lo.px(0.6)), WHITE, lo.px(2.2),
                       lo.px(1.2), lines=2, align="center")

    # ---- latest call ----------------------------------------------------------------------
    @staticmethod
    def _call_key(board: Board, now: float):
        elapsed = board.highlighted(now)
        phase = None if elapsed is None else int(elapsed * 2) % 2
        return (board.latest, phase, board.has_state, board.connection == UNAUTHORIZED)

    def _call(self, surface, rect: Rect, board: Board, now: float) -> None:
        lo = self.layout
        elapsed = board.highlighted(now)
        if elapsed is None:
            bg, label_c, big_c, small_c = ROW_A, WHITE, YELLOW, SOFT
        elif int(elapsed * 2) % 2 == 0:
            bg, label_c, big_c, small_c = YELLOW, DARK, DARK, DARK
        else:
            bg, label_c, big_c, small_c = RED, WHITE, WHITE, WHITE
        surface.fill(NAVY, rect)
        pygame.draw.rect(surface, bg, rect, border_radius=lo.px(1.2))
        inner = rect.inflate(-2 * lo.px(2), -2 * lo.px(1.2))
        label = Rect(inner.x, inner.y, inner.width, round(inner.height * 0.2))
        big = Rect(inner.x, label.bottom, inner.width, round(inner.height * 0.55))
        small = Rect(inner.x, big.bottom, inner.width, inner.bottom - big.bottom)
        call = board.latest
        if board.connection == UNAUTHORIZED:
            self._text(surface, texts.UNAUTHORIZED, inner, WHITE, lo.px(5), lo.px(2), bold=True, lines=3,
                       align="center")
        elif not board.has_state:
            self._text(surface, texts.CONNECTING, inner, WHITE, lo.px(6), lo.px(2), bold=True, lines=2,
                       align="center")
        elif call is None:
            self._text(surface, texts.NO_CALL_YET, Rect(inner.x, inner.y, inner.width, label.height + big.height),
                       big_c, lo.px(9), lo.px(3), bold=True, align="center")
            self._text(surface, texts.NO_CALL_HINT, small, small_c, lo.px(3.4), lo.px(1.8), lines=2, align="center")
        else:
            self._text(surface, texts.RECALL_LABEL if call.recall else texts.CALL_LABEL, label, label_c,
                       lo.px(4.6), lo.px(2), bold=True, align="center")
            line = texts.CALL_LINE.format(number=call.number, counter=call.counter if call.counter is not None else "")
            self._text(surface, line, big, big_c, lo.px(14), lo.px(4), bold=True, align="center")
            self._text(surface, call.field_name, small, small_c, lo.px(3.6), lo.px(1.8), lines=2, align="center")

    # ---- recent calls ---------------------------------------------------------------------
    @staticmethod
    def _recent_rows(board: Board) -> tuple[Call, ...]:
        return tuple(board.visible_calls()[1:1 + RECENT_ROWS])

    def _recent(self, surface, rect: Rect, board: Board) -> None:
        lo = self.layout
        area = self._panel(surface, rect, texts.RECENT_TITLE)
        calls = self._recent_rows(board)
        rows = max(1, min(RECENT_ROWS, area.height // lo.min_row))
        row_h = area.height // rows
        pad = lo.px(1.2)
        if not calls:
            self._text(surface, texts.RECENT_NONE, area.inflate(-2 * pad, -2 * pad), GREY, lo.px(3), lo.px(1.6),
                       align="center")
            return
        for i, call in enumerate(calls[:rows]):
            row = Rect(area.x, area.y + i * row_h, area.width, row_h)
            surface.fill(ROW_A if i % 2 == 0 else ROW_B, row)
            cell = row.inflate(-2 * pad, -lo.px(0.8))
            left = Rect(cell.x, cell.y, round(cell.width * 0.45), cell.height)
            right = Rect(left.right + pad, cell.y, cell.right - left.right - pad, cell.height)
            self._text(surface, call.number, left, YELLOW, lo.px(4.4), lo.px(2), bold=True)
            counter = texts.RECENT_COUNTER.format(counter=call.counter if call.counter is not None else "")
            self._text(surface, "→ " + counter, right, WHITE, lo.px(3.6), lo.px(1.8), align="right")

    # ---- counters -------------------------------------------------------------------------
    @staticmethod
    def _counter_row(c: dict) -> tuple[str, str, str, str, tuple]:
        """(short name, name, number or status, field or status, colours) for one counter."""
        short = texts.COUNTER_SHORT.format(counter=c.get("number"))
        name = nfc(c.get("name") or short)
        ticket = c.get("ticket") if isinstance(c.get("ticket"), dict) else None
        status = c.get("status")
        if status == "paused":
            return short, name, "—", texts.COUNTER_PAUSED, (SOFT, ORANGE, ORANGE)
        if status == "closed":
            return short, name, "—", texts.COUNTER_CLOSED, (GREY, GREY, GREY)
        if ticket is not None and ticket.get("status") == "called":
            return short, name, nfc(ticket.get("number", "")), nfc(ticket.get("field_name") or ""), (WHITE, YELLOW, SOFT)
        idle = texts.COUNTER_PRIORITY + " · " + texts.COUNTER_IDLE if c.get("priority_only") else texts.COUNTER_IDLE
        return short, name, "—", idle, (WHITE, SOFT, SOFT)

    # ---- paged tables (counters, fields): a long list turns a page every PAGE_S seconds ----------
    def _paged(self, rows: list[tuple], box: Rect, max_columns: int, now: float) -> tuple[list[tuple], Pages, int]:
        lo = self.layout
        pages = paginate(len(rows), box.height - lo.panel_title - lo.px(4), lo.min_row, lo.max_row, max_columns)
        page = int(now // PAGE_S) % pages.pages if pages.pages > 1 else 0
        return rows, pages, page

    def _counter_pages(self, board: Board, now: float) -> tuple[list[tuple], Pages, int]:
        return self._paged([self._counter_row(c) for c in board.visible_counters()], self.layout.counters, 2, now)

    def _field_pages(self, board: Board, now: float) -> tuple[list[tuple], Pages, int]:
        return self._paged([self._field_row(f) for f in board.visible_fields()], self.layout.fields, 1, now)

    def _counter_key(self, board: Board, now: float):
        rows, _pages, page = self._counter_pages(board, now)
        return tuple(rows), page

    def _field_key(self, board: Board, now: float):
        rows, _pages, page = self._field_pages(board, now)
        return tuple(rows), page

    def _paged_panel(self, surface, rect: Rect, title: str, empty: str, rows, pages: Pages, page: int) -> Rect | None:
        """The panel with its page note; None (after saying `empty`) when there is nothing to list."""
        lo = self.layout
        note = texts.PAGE.format(page=page + 1, pages=pages.pages) if pages.pages > 1 else ""
        area = self._panel(surface, rect, title, note)
        if not rows:
            self._text(surface, empty, area.inflate(-lo.px(3), -lo.px(3)), GREY, lo.px(3), lo.px(1.6), align="center")
            return None
        return area

    def _counters(self, surface, rect: Rect, board: Board, now: float) -> None:
        lo = self.layout
        rows, pages, page = self._counter_pages(board, now)
        area = self._paged_panel(surface, rect, texts.COUNTERS_TITLE, texts.NO_COUNTERS, rows, pages, page)
        if area is None:
            return
        pad = lo.px(1.2)
        head = Rect(area.x, area.y, area.width, lo.px(4))
        col_w = area.width // pages.columns
        wide = pages.columns == 1
        shares = (0.34, 0.22, 0.44) if wide else (0.55, 0.45, 0.0)
        for col in range(pages.columns):
            x0 = area.x + col * col_w
            cells = self._cells(Rect(x0, head.y, col_w, head.height), shares, pad)
            heads = (texts.COUNTER_HEAD, texts.SERVING_HEAD, texts.FIELD_HEAD) if wide else \
                (texts.COUNTER_HEAD, texts.SERVING_HEAD)
            for cell, title, align in zip(cells, heads, ("left", "center", "left")):
                self._text(surface, title, cell, SOFT, lo.px(2.4), lo.px(1.3), align=align)
        shown = rows[page * pages.per_page:(page + 1) * pages.per_page]
        for i, (short, name, number, detail, colours) in enumerate(shown):
            col, r = divmod(i, pages.rows)
            row = Rect(area.x + col * col_w, head.bottom + r * pages.row_h, col_w, pages.row_h)
            surface.fill(ROW_A if r % 2 == 0 else ROW_B, row)
            if col:
                pygame.draw.line(surface, NAVY, row.topleft, row.bottomleft, max(1, lo.px(0.3)))
            cells = self._cells(row.inflate(0, -lo.px(0.6)), shares, pad)
            if wide:
                self._text(surface, name, cells[0], colours[0], lo.px(3.4), lo.px(1.8), bold=True, lines=2)
            else:
                self._text(surface, short, cells[0], colours[0], lo.px(3.8), lo.px(1.8), bold=True)
            if wide or number != "—":
                self._text(surface, number, cells[1], colours[1], lo.px(4.6), lo.px(2), bold=True, align="center")
            else:
                self._text(surface, detail, cells[1], colours[1], lo.px(3), lo.px(1.5), lines=2, align="center")
            if wide:
                self._text(surface, detail, cells[2], colours[2], lo.px(3), lo.px(1.5), lines=3)

    @staticmethod
    def _cells(row: Rect, shares: tuple[float, ...], pad: int) -> list[Rect]:
        cells, x = [], row.x + pad
        usable = row.width - pad * (len([s for s in shares if s]) + 1)
        for share in shares:
            if not share:
                continue
            w = round(usable * share)
            cells.append(Rect(x, row.y, w, row.height))
            x += w + pad
        return cells

    # ---- fields ---------------------------------------------------------------------------
    @staticmethod
    def _field_row(f: dict) -> tuple[str, str, bool]:
        name = nfc(f.get("name") or f.get("code", ""))
        reason = texts.FIELD_NOT_ACCEPTING.get(f.get("closed_reason") or "") if not f.get("accepting", True) else None
        if reason:
            name = f"{name} ({reason})"
        return name, str(f.get("waiting", 0)), reason is None

    def _fields(self, surface, rect: Rect, board: Board, now: float) -> None:
        lo = self.layout
        rows, pages, page = self._field_pages(board, now)
        area = self._paged_panel(surface, rect, texts.FIELDS_TITLE, texts.NO_FIELDS, rows, pages, page)
        if area is None:
            return
        pad = lo.px(1.2)
        shares = (0.76, 0.24)
        head = Rect(area.x, area.y, area.width, lo.px(4))
        for cell, title, align in zip(self._cells(head, shares, pad), (texts.FIELD_NAME_HEAD, texts.WAITING_HEAD),
                                      ("left", "right")):
            self._text(surface, title, cell, SOFT, lo.px(2.4), lo.px(1.3), align=align)
        shown = rows[page * pages.per_page:(page + 1) * pages.per_page]
        for i, (name, waiting, accepting) in enumerate(shown):
            row = Rect(area.x, head.bottom + i * pages.row_h, area.width, pages.row_h)
            surface.fill(ROW_A if i % 2 == 0 else ROW_B, row)
            cells = self._cells(row.inflate(0, -lo.px(0.6)), shares, pad)
            self._text(surface, name, cells[0], WHITE if accepting else ORANGE, lo.px(3.2), lo.px(1.7), lines=2)
            self._text(surface, waiting, cells[1], YELLOW, lo.px(4.4), lo.px(2), bold=True, align="right")

    # ---- ticker ---------------------------------------------------------------------------
    def _ticker_size(self) -> int:
        return self.layout.px(3.8)

    def _ticker_scroll(self, board: Board, now: float) -> int | None:
        """The scroll offset in pixels, or None when the ticker fits without scrolling."""
        lo = self.layout
        if not board.ticker_line:
            return None
        width = self.fonts.width(board.ticker_line, self._ticker_size(), False)
        if width <= lo.ticker.width - 2 * lo.margin:
            return None
        period = width + lo.ticker.width // 3
        return int(now * lo.unit * TICKER_SPEED) % period

    def _ticker_key(self, board: Board, now: float):
        return (board.ticker_line, self._ticker_scroll(board, now))

    def _ticker(self, surface, rect: Rect, board: Board, now: float) -> None:
        lo = self.layout
        surface.fill(YELLOW, rect)
        if not board.ticker_line:
            return
        offset = self._ticker_scroll(board, now)
        inner = rect.inflate(-2 * lo.margin, 0)
        if offset is None:
            self._text(surface, board.ticker_line, inner, DARK, self._ticker_size(), lo.px(1.6), align="center")
            return
        size = self._ticker_size()
        surf, ink = self.fonts.render(board.ticker_line, size, False, DARK, YELLOW)
        width = self.fonts.width(board.ticker_line, size, False)
        period = width + rect.width // 3
        baseline = rect.y + (rect.height - round(size * 1.36)) // 2 + round(size * 1.1)
        x = rect.right - offset
        while x > rect.x:
            x -= period
        while x < rect.right:
            dest = Rect(x + max(0, ink.x), baseline - ink.y, ink.width, ink.height)
            surface.blit(surf, dest)
            self.placed["ticker"].append(Placed("ticker", board.ticker_line, dest, Rect(rect), size, scrolling=True))
            x += period
