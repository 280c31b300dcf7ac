"""Vietnamese text that always fits its box on a device's screen: shrink to fit, wrap onto a few
lines, never clip, never an ellipsis (pygame; the server never imports this).

One renderer for every device program (kiosk, counter panel, lobby display): `Fonts`, over
pygame.freetype, with the DejaVu Sans faces shipped in ``layso/fonts`` (`layso.text.font_path`),
always drawing NFC text. `fonts()` is the process's shared instance (the lobby display makes its own,
with a rendered-line cache sized to its screen).

freetype's glyph boxes include stacked diacritics (Ấ, Ễ, Ờ reach above the font's ascender). Each
line gets a slot tall enough for them, so what fits by these measures is drawn whole. Rendered lines
are cached. With `record` set to a list, every line drawn is appended to it (its text and ink box),
so tests can check that nothing is clipped.
"""
from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import pygame
import pygame.freetype

from layso.text import font_path, nfc

ABOVE = 1.10  # slot above the baseline, in font sizes (DejaVu's tallest stacked capitals: 1.07)
BELOW = 0.26  # slot below the baseline (descenders: 0.24)
LINE_GAP = 0.08
FLOOR_PX = 6  # below a box's minimum size rather than clip, but never smaller than this
LADDER = tuple(sorted({round(FLOOR_PX * 1.04 ** i) for i in range(150)}))  # 6 px … ~2,000 px
REFERENCE_PX = 48
CENTRE_DROP = 0.35  # a line centred on y has its baseline this many font sizes below y

Color = tuple[int, int, int]


# ---- the renderer ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fitted:
    lines: tuple[str, ...]
    size: int
    bold: bool

    @property
    def slot(self) -> int:
        return slot_height(self.size)

    @property
    def height(self) -> int:
        n = len(self.lines)
        return n * self.slot + (n - 1) * line_gap(self.size)


def slot_height(size: int) -> int:
    return int(ABOVE * size + 0.999) + int(BELOW * size + 0.999)


def line_gap(size: int) -> int:
    return int(LINE_GAP * size)


def line_height(size: int) -> int:
    """From one line's slot to the next's: the slot and the gap between lines."""
    return slot_height(size) + line_gap(size)


@dataclass(frozen=True)
class Drawn:
    """One line as drawn (recorded when `Fonts.record` is a list): its ink, and the box it was given."""

    text: str
    size: int
    ink: pygame.Rect
    box: pygame.Rect | None


class Fonts:
    """The two DejaVu faces, text measuring, fitting and a bounded cache of rendered lines."""

    def __init__(self, cache_bytes: int = 16 * 1024 * 1024):
        if not pygame.freetype.get_init():
            pygame.freetype.init()
        self._faces = {}
        for bold in (False, True):
            face = pygame.freetype.Font(font_path(bold))
            face.origin = True
            face.pad = False
            face.antialiased = True
            self._faces[bold] = face
        self._rendered: OrderedDict[tuple, tuple[pygame.Surface, pygame.Rect]] = OrderedDict()
        self._rendered_bytes = 0
        self.cache_bytes = cache_bytes
        self.record: list[Drawn] | None = None
        self._measure = lru_cache(maxsize=8192)(self._measure_uncached)
        self._fit = lru_cache(maxsize=4096)(self._fit_uncached)

    # ---- measuring ------------------------------------------------------------------------
    def _measure_uncached(self, text: str, size: int, bold: bool) -> pygame.Rect:
        """Ink box relative to the origin: x = left bearing, y = height above the baseline."""
        return self._faces[bold].get_rect(text, size=size)

    def ink(self, text: str, size: int, bold: bool) -> pygame.Rect:
        return self._measure(text, size, bold)

    def width(self, text: str, size: int, bold: bool) -> int:
        r = self.ink(text, size, bold)
        return max(0, r.x) + r.width

    # ---- fitting --------------------------------------------------------------------------
    def fit(self, text: str, w: int, h: int, max_px: int, min_px: int, bold: bool = False,
            max_lines: int = 1) -> Fitted:
        """The largest size (≤ max_px) at which `text` fits w×h on at most `max_lines` lines.

        Below min_px only if nothing else fits (never clipped: down to FLOOR_PX)."""
        return self._fit(nfc(text), int(w), int(h), int(max_px), int(min_px), bool(bold), int(max_lines))

    def _fit_uncached(self, text, w, h, max_px, min_px, bold, max_lines) -> Fitted:
        words = text.split()
        if not words or w <= 0 or h <= 0:
            return Fitted((), max(FLOOR_PX, min_px), bold)
        best = self._search(words, w, h, max(min_px, FLOOR_PX), max_px, bold, max_lines)
        if best is None:
            best = self._search(words, w, h, FLOOR_PX, max(FLOOR_PX, min_px - 1), bold, max_lines)
        if best is None:  # a box too small for any text: smallest size, as few lines as possible
            best = Fitted(self._wrap(words, w, FLOOR_PX, bold, 1000) or (text,), FLOOR_PX, bold)
        return best

    def _search(self, words, w, h, lo, hi, bold, max_lines) -> Fitted | None:
        """The largest fitting size in [lo, hi], tried on a ladder of sizes ~4 % apart (so glyph caches
        stay warm) starting from an estimate scaled from one measurement, then galloping/bisecting."""
        sizes = sorted({lo, hi, *(s for s in LADDER if lo < s < hi)}) if lo <= hi else []
        if not sizes:
            return None
        tried: dict[int, Fitted | None] = {}

        def attempt(i: int) -> Fitted | None:
            if i not in tried:
                lines = self._wrap(words, w, sizes[i], bold, max_lines)
                fitted = Fitted(lines, sizes[i], bold) if lines is not None else None
                tried[i] = fitted if fitted is not None and fitted.height <= h else None
            return tried[i]

        start = min(len(sizes) - 1, max(0, bisect.bisect_right(sizes, self._estimate(words, w, h, bold, max_lines)) - 1))
        if attempt(start) is None:  # gallop down to a size that fits, then bisect upwards
            good, step, bad = start, 1, start
            while good > 0:
                good = max(0, bad - step)
                if attempt(good) is not None:
                    break
                bad, step = good, step * 2
            if attempt(good) is None:
                return None
        else:  # gallop up to a size that does not fit
            good, step = start, 1
            bad = len(sizes)
            while good + step < len(sizes):
                if attempt(good + step) is None:
                    bad = good + step
                    break
                good, step = good + step, step * 2
        while bad - good > 1:
            mid = (good + bad) // 2
            if attempt(mid) is not None:
                good = mid
            else:
                bad = mid
        return attempt(good)

    def _estimate(self, words: list[str], w: int, h: int, bold: bool, max_lines: int) -> float:
        """The size at which the text would about fill the box (widths scale with the size)."""
        width = max(1, self.width(" ".join(words), REFERENCE_PX, bold))
        best = 0.0
        for n in range(1, max_lines + 1):
            by_width = REFERENCE_PX * n * w / width * (0.92 if n > 1 else 1.0)
            by_height = h / (n * (ABOVE + BELOW) + (n - 1) * LINE_GAP)
            best = max(best, min(by_width, by_height))
        return best

    def _wrap(self, words: list[str], w: int, size: int, bold: bool, max_lines: int) -> tuple[str, ...] | None:
        """Greedy word wrap at this size; None if a word is too wide or more lines are needed."""
        lines: list[str] = []
        current = ""
        for word in words:
            candidate = f"{current} {word}" if current else word
            if self.width(candidate, size, bold) <= w:
                current = candidate
                continue
            if not current or self.width(word, size, bold) > w:
                return None
            lines.append(current)
            current = word
            if len(lines) >= max_lines:
                return None
        lines.append(current)
        return tuple(lines)

    def wrap(self, text: str, size: int, bold: bool, width: int) -> list[str]:
        """Greedy wrap by measured width, every word kept; a word wider than the line is cut between
        letters (for a size already chosen; `fit` shrinks instead)."""
        lines: list[str] = []
        current = ""
        for word in nfc(text).split():
            candidate = f"{current} {word}" if current else word
            if self.width(candidate, size, bold) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = word
            while len(current) > 1 and self.width(current, size, bold) > width:
                cut = len(current) - 1
                while cut > 1 and self.width(current[:cut], size, bold) > width:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        if current:
            lines.append(current)
        return lines

    def size_for(self, text: str, width: int, max_px: int, min_px: int, bold: bool = False) -> int:
        """The largest size (≤ max_px) at which `text` fits `width` on one line (below min_px only if
        nothing else fits)."""
        return self.fit(text, width, 1 << 20, max_px, min_px, bold, 1).size

    # ---- drawing --------------------------------------------------------------------------
    def render(self, text: str, size: int, bold: bool, color: Color,
               bg: Color | None = None) -> tuple[pygame.Surface, pygame.Rect]:
        """The line rendered (cached); on an opaque `bg` when given, which blits several times faster."""
        key = (text, size, bold, color, bg)
        hit = self._rendered.get(key)
        if hit is not None:
            self._rendered.move_to_end(key)
            return hit
        surf, rect = self._faces[bold].render(text, fgcolor=color, bgcolor=bg, size=size)
        if pygame.display.get_surface() is not None:  # the screen's pixel format: blits ~30× faster
            surf = surf.convert() if bg is not None else surf.convert_alpha()
        hit = (surf, rect)
        self._rendered[key] = hit
        self._rendered_bytes += surf.get_width() * surf.get_height() * 4
        while self._rendered_bytes > self.cache_bytes and len(self._rendered) > 1:
            _k, (old, _r) = self._rendered.popitem(last=False)
            self._rendered_bytes -= old.get_width() * old.get_height() * 4
        return hit

    def draw(self, surface: pygame.Surface, fitted: Fitted, box: pygame.Rect, color: Color,
             align: str = "left", bg: Color | None = None, valign: str = "middle") -> pygame.Rect:
        """Draw fitted lines inside `box`, on a plain `bg` if given; return the ink's union. `valign`:
        "middle" centres the ink, "centre" centres by the size (as `line` does), "top" starts at the top;
        the ink stays inside the box either way."""
        if not fitted.lines:
            return pygame.Rect(box.x, box.y, 0, 0)
        size, bold = fitted.size, fitted.bold
        above = int(ABOVE * size + 0.999)
        inks = [self.ink(line, size, bold) for line in fitted.lines]
        step = fitted.slot + line_gap(size)
        # vertical placement by the ink actually drawn, so digits are centred as well as diacritics
        top_ink = above - inks[0].y
        bottom_ink = (len(inks) - 1) * step + above + (inks[-1].height - inks[-1].y)
        if valign == "top":
            y0 = box.y
        elif valign == "centre":  # by the size, not the ink: lines of one size in a row share a baseline
            y0 = round(box.y + box.height / 2 - (len(inks) - 1) * step / 2 + CENTRE_DROP * size) - above
        else:
            y0 = box.y + (box.height - (bottom_ink - top_ink)) // 2 - top_ink
        y0 = min(max(y0, box.y - top_ink), box.bottom - bottom_ink)
        drawn = None
        for i, (line, ink) in enumerate(zip(fitted.lines, inks)):
            surf, rect = self.render(line, size, bold, color, bg)
            baseline = y0 + i * step + above
            ink_w = max(0, rect.x) + rect.width
            if align == "center":
                x = box.x + (box.width - ink_w) // 2
            elif align == "right":
                x = box.right - ink_w
            else:
                x = box.x
            dest = pygame.Rect(x + max(0, rect.x), baseline - rect.y, rect.width, rect.height)
            surface.blit(surf, dest)
            self._note(line, size, dest, box)
            drawn = dest if drawn is None else drawn.union(dest)
        return drawn

    def line(self, surface: pygame.Surface, text: str, size: int, bold: bool, color: Color,
             at: tuple[int, int], anchor: str = "center", bg: Color | None = None,
             box: pygame.Rect | None = None) -> pygame.Rect:
        """One line at `size` placed by `anchor` ("center", "midleft" or "midright") at the point `at`:
        its ink's left, middle or right there, its baseline CENTRE_DROP sizes below (so lines of one
        size share a baseline whatever their marks); return the ink. `box`: where it must stay (for
        `record`)."""
        text = nfc(text)
        if not text:
            return pygame.Rect(at[0], at[1], 0, 0)
        surf, rect = self.render(text, size, bold, color, bg)
        ink_w = max(0, rect.x) + rect.width
        x = {"midleft": at[0], "midright": at[0] - ink_w}.get(anchor, at[0] - ink_w // 2)
        baseline = at[1] + round(CENTRE_DROP * size)
        dest = pygame.Rect(x + max(0, rect.x), baseline - rect.y, rect.width, rect.height)
        surface.blit(surf, dest)
        self._note(text, size, dest, box)
        return dest

    def _note(self, text: str, size: int, ink: pygame.Rect, box: pygame.Rect | None) -> None:
        if self.record is not None:
            self.record.append(Drawn(text, size, pygame.Rect(ink), None if box is None else pygame.Rect(box)))


@lru_cache(maxsize=1)
def fonts() -> Fonts:
    """The process's shared `Fonts` (kiosk, counter panel)."""
    return Fonts()
