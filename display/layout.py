"""Where each part of the lobby board goes, for any screen size (proportional to the height; on a
portrait screen the parts are stacked, proportional to the width).

    ┌──────────────────────── header: centre · (offline) · date, clock ───────────────────────┐
    │ latest call, very large                              │ recent calls                      │
    ├──────────────────────────────────────────────────────┼───────────────────────────────────┤
    │ counters and the number each serves                  │ how many wait per field           │
    └──────────────────────────────── ticker line ────────────────────────────────────────────┘
"""
from __future__ import annotations

from dataclasses import dataclass

import pygame


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    unit: float  # one hundredth of the height
    margin: int
    header: pygame.Rect
    call: pygame.Rect
    recent: pygame.Rect
    counters: pygame.Rect
    fields: pygame.Rect
    ticker: pygame.Rect

    def px(self, hundredths: float) -> int:
        """A length in hundredths of the screen height."""
        return max(1, round(self.unit * hundredths))

    @property
    def panel_title(self) -> int:
        return self.px(5.2)

    @property
    def min_row(self) -> int:
        return self.px(6.0)

    @property
    def max_row(self) -> int:
        return self.px(8.5)


def compute_layout(width: int, height: int) -> Layout:
    w, h = int(width), int(height)
    if h > w:
        return _portrait(w, h)
    unit = h / 100
    m = max(2, round(unit * 1.1))
    header = pygame.Rect(0, 0, w, round(unit * 9))
    ticker_h = round(unit * 7)
    ticker = pygame.Rect(0, h - ticker_h, w, ticker_h)
    band_top = header.bottom + m
    band_h = round(unit * 29)
    call_w = round((w - 3 * m) * 0.64)
    call = pygame.Rect(m, band_top, call_w, band_h)
    recent = pygame.Rect(call.right + m, band_top, w - m - (call.right + m), band_h)
    body_top = call.bottom + m
    body_h = ticker.top - m - body_top
    counters_w = round((w - 3 * m) * 0.56)
    counters = pygame.Rect(m, body_top, counters_w, body_h)
    fields = pygame.Rect(counters.right + m, body_top, w - m - (counters.right + m), body_h)
    return Layout(w, h, unit, m, header, call, recent, counters, fields, ticker)


def _portrait(w: int, h: int) -> Layout:
    """A portrait screen: the same parts stacked (header, latest call, recent calls, counters, fields,
    ticker), sized as a 4:3 screen of the same width so nothing is squeezed sideways."""
    unit = w * 3 / 4 / 100
    m = max(2, round(unit * 1.1))
    header = pygame.Rect(0, 0, w, round(unit * 9))
    ticker_h = round(unit * 7)
    ticker = pygame.Rect(0, h - ticker_h, w, ticker_h)
    call = pygame.Rect(m, header.bottom + m, w - 2 * m, round(unit * 32))
    recent = pygame.Rect(m, call.bottom + m, w - 2 * m, round(unit * 30))
    body_top = recent.bottom + m
    body_h = ticker.top - m - body_top
    counters = pygame.Rect(m, body_top, w - 2 * m, round((body_h - m) * 0.55))
    fields = pygame.Rect(m, counters.bottom + m, w - 2 * m, ticker.top - m - (counters.bottom + m))
    return Layout(w, h, unit, m, header, call, recent, counters, fields, ticker)
