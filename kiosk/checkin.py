"""Checking in a number or appointment booked online, at the kiosk.

Two ways in, both ending in POST /api/v1/bookings/<code>/check-in, whose answer is a ticket the kiosk
prints and shows like any other:
- a USB or serial barcode scanner that acts as a keyboard: it "types" the booking's QR (its link with
  `c=CODE`) and presses Enter. `ScanReader` collects those key presses on any screen; a pause longer
  than `gap_s` between keys starts a new scan, so stray presses never join a later one;
- the touch screen: the home screen's "booked online" button opens a keypad of the code's alphabet.

Drawing uses the kiosk's own look (`screens`); the texts live in `texts`.
"""
from __future__ import annotations

from dataclasses import dataclass

import pygame
from pygame import Rect

from layso.protocol import BOOKING_CODE_ALPHABET, read_booking_code

from . import screens, texts
from .layout import Metrics, split_row

CHECKIN = "checkin"
MAX_CODE = 8


@dataclass
class ScanReader:
    """Key presses → lines (a scanner ends each scan with Enter)."""

    gap_s: float = 1.0
    _text: str = ""
    _last: float = -1e9

    def feed(self, event: pygame.event.Event, now: float) -> str | None:
        """Take one KEYDOWN; the line so far when it was Enter (None otherwise or when empty)."""
        if event.type != pygame.KEYDOWN:
            return None
        if now - self._last > self.gap_s:
            self._text = ""
        self._last = now
        if event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            line, self._text = self._text, ""
            return line or None
        ch = getattr(event, "unicode", "") or ""
        if ch.isprintable() and len(self._text) < 300:
            self._text += ch
        return None


def code_of(text: str) -> str | None:
    """The booking code in a scan or in what was typed on the keypad."""
    return read_booking_code(text)


def add_key(code: str, action: tuple) -> str:
    """The typed code after a keypad touch (a key, or erase)."""
    if action[0] == "key" and len(code) < MAX_CODE and action[1] in BOOKING_CODE_ALPHABET:
        return code + action[1]
    if action[0] == "erase":
        return code[:-1]
    return code


def home_button(surface: pygame.Surface, rect: Rect, online: bool, m: Metrics) -> screens.Target | None:
    """The home screen's "booked online" button (in the bottom row, beside the priority button)."""
    bg, ink = (screens.WHITE, screens.INK) if online else (screens.DISABLED_BG, screens.DISABLED_INK)
    pygame.draw.rect(surface, bg, rect, border_radius=screens._radius(m))
    inner = rect.inflate(-2 * m.px(24), -m.px(16))
    title = Rect(inner.left, inner.top, inner.width, inner.height * 3 // 5)
    screens.fitted(surface, texts.CHECKIN_BUTTON, True, m.px(44), ink, title, max_lines=2, min_size=m.px(22))
    hint = Rect(inner.left, title.bottom, inner.width, inner.bottom - title.bottom)
    screens.fitted(surface, texts.CHECKIN_BUTTON_HINT, False, m.font_info, ink, hint, valign="top", max_lines=1,
                   min_size=m.px(16))
    return (rect, ("checkin",)) if online else None


def draw(surface: pygame.Surface, view: screens.View, code: str) -> list[screens.Target]:
    """The code entry screen: the code typed so far, a keypad of the code's alphabet, erase and confirm."""
    m = Metrics(*surface.get_size())
    surface.fill(screens.BG)
    targets: list[screens.Target] = screens._header(surface, view, m, status=screens._status_banner(view))
    mg, gap = m.margin, m.gap
    top = m.header_h + gap
    width = m.width - 2 * mg
    title = Rect(mg, top, width, m.px(90))
    screens.fitted(surface, texts.CHECKIN_TITLE, True, m.font_title, screens.WHITE, title, max_lines=1)
    hint = Rect(mg, title.bottom, width, m.px(60))
    screens.fitted(surface, texts.CHECKIN_HINT, False, m.font_info, screens.MUTED, hint, max_lines=2)
    box = Rect(mg, hint.bottom + gap, width, m.px(150))
    pygame.draw.rect(surface, screens.WHITE, box, border_radius=screens._radius(m))
    shown = " ".join(code.ljust(7, "_"))
    screens.fitted(surface, shown, True, m.px(100), screens.INK, box.inflate(-m.px(30), -m.px(10)), max_lines=1)
    bottom_h = m.px(130)
    bottom = Rect(mg, m.height - mg - bottom_h, width, bottom_h)
    pad = Rect(mg, box.bottom + gap, width, bottom.top - gap - box.bottom - gap)
    cols = 6 if m.portrait else 8
    keys = list(BOOKING_CODE_ALPHABET)
    rows = -(-len(keys) // cols)
    key_h = min((pad.height - gap * (rows - 1)) // rows, m.px(150))
    for r in range(rows):
        row = Rect(pad.left, pad.top + r * (key_h + gap), pad.width, key_h)
        for rect, ch in zip(split_row(row, cols, gap), keys[r * cols:(r + 1) * cols]):
            screens._button(surface, rect, ch, m, size=m.px(64))
            targets.append((rect, ("key", ch)))
    back, erase, ok = split_row(bottom, 3, gap)
    screens._button(surface, back, f"‹ {texts.BACK}", m)
    screens._button(surface, erase, texts.CHECKIN_ERASE, m, bg=screens.WARN_BG, ink=screens.INK)
    ready = code_of(code) is not None
    screens._button(surface, ok, texts.CHECKIN_CONFIRM, m, bg=screens.OK_BG if ready else screens.DISABLED_BG,
                    ink=screens.WHITE if ready else screens.DISABLED_INK)
    targets += [(back, ("back",)), (erase, ("erase",))]
    if ready:
        targets.append((ok, ("submit",)))
    return targets
