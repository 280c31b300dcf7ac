"""Render a queue ticket to a 1-bit image for a thermal printer.

Cheap ESC/POS printers mangle Vietnamese code pages, so the whole ticket is drawn with Pillow and
the DejaVu fonts shipped in ``layso/fonts`` and printed as a raster image. What the ticket says is
the kiosk's (``layso.kiosk.ticket`` words it); this module only lays out and draws the lines.

Public API::

    TicketPrint(centre_name, title, number, field_name, destination=None, priority=None,
                details=(("issued", …), ("ahead", …), ("wait", …)), track_url=None,
                qr_caption="", thank_you="", header_lines=())
    render_ticket(ticket, width=576) -> PIL.Image.Image      # mode "1", exactly `width` px wide
    layout_ticket(ticket, width=576) -> TicketLayout         # what render_ticket draws, with boxes
    wrap_text(text, font, max_width) -> list[str]            # wrap by measured pixel width

Widths: 576 px for 80 mm paper, 384 px for 58 mm paper (203 dpi heads).

Layout, top to bottom: optional header lines, centre name (bold, wrapped), a rule, the title, the
number as large as the width allows, the field name (bold, wrapped, never clipped), the destination,
the priority line in a black band, a rule, the detail lines (issue time, people ahead, wait), the QR code
of the tracking link with its caption, the thank-you line. Every string is normalised to NFC and
every line is centred; wrapping is by measured pixel width and balanced, so a heading does not end
on one orphan word. Glyph boxes (Vietnamese stacked diacritics included) always lie inside the
image: ``layout_ticket`` returns them so tests can check it.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

import qrcode
from PIL import Image, ImageDraw, ImageFont

from layso.text import font_bytes, nfc

__all__ = [
    "TicketPrint",
    "TicketLayout",
    "LaidOutText",
    "LaidOutQR",
    "LaidOutRule",
    "render_ticket",
    "layout_ticket",
    "wrap_text",
    "qr_matrix",
    "load_font",
    "PAPER_80MM",
    "PAPER_58MM",
]

PAPER_80MM = 576
PAPER_58MM = 384
MIN_WIDTH = 200
MAX_WIDTH = 1024

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)

# Tall and deep samples used to size a line so stacked diacritics ("Ỗ", "Ẫ") and marks below
# ("ỵ", "Ạ") never leave the line box.
_TALL_SAMPLE = "ỖẪỄỮỞẴẲÂĐÁÀẢÃẠỐẦỂỸ"
_DEEP_SAMPLE = "gjpqyỵỹẠỆỘỰ,"
_DASHES = {"–", "—", "-", "−"}

_render_lock = threading.Lock()  # FreeType faces are shared; the kiosk renders from a worker thread


@dataclass(frozen=True)
class TicketPrint:
    """The lines of one printed ticket, by role, already worded (the kiosk words them: kiosk/ticket.py).

    `details` are the small lines under the second rule, each with its role ("issued", "ahead",
    "wait"); a line left out is None or absent. Every text is drawn as given, normalised to NFC.
    """

    centre_name: str
    title: str  # "SỐ THỨ TỰ"
    number: str
    field_name: str
    destination: str | None = None  # "Mời đến: Quầy 3, 4"
    priority: str | None = None  # printed white on a black band
    details: Sequence[tuple[str, str]] = ()
    track_url: str | None = None
    qr_caption: str = ""
    thank_you: str = ""
    header_lines: Sequence[str] = ()  # printed above the centre name, e.g. "UBND TỈNH BẮC NINH"

    def __post_init__(self) -> None:
        if not str(self.number).strip():
            raise ValueError("TicketPrint.number must not be empty")


@dataclass(frozen=True)
class LaidOutText:
    role: str  # header, centre, title, number, field, destination, priority, issued, ahead, wait,
    #            qr_caption, thanks
    text: str
    bold: bool
    size: int  # font size in px
    origin: tuple[int, int]  # baseline-left anchor ("ls") where the text is drawn
    box: Box  # ink box of the text (for "priority": the black band around it)
    inverted: bool = False


@dataclass(frozen=True)
class LaidOutQR:
    role: str
    data: str
    box: Box  # the modules only, without the quiet zone
    module_px: int
    modules: int  # modules per side
    matrix: tuple[tuple[bool, ...], ...]


@dataclass(frozen=True)
class LaidOutRule:
    role: str
    box: Box


Item = LaidOutText | LaidOutQR | LaidOutRule


@dataclass(frozen=True)
class TicketLayout:
    width: int
    height: int
    items: tuple[Item, ...]

    def texts(self, role: str | None = None) -> list[LaidOutText]:
        return [i for i in self.items if isinstance(i, LaidOutText) and (role is None or i.role == role)]

    @property
    def qr(self) -> LaidOutQR | None:
        return next((i for i in self.items if isinstance(i, LaidOutQR)), None)


# ---- formatting ------------------------------------------------------------------------------


# ---- fonts and wrapping ----------------------------------------------------------------------


@lru_cache(maxsize=64)
def load_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """A DejaVu Sans font (with Vietnamese glyphs) at `size` px."""
    return ImageFont.truetype(io.BytesIO(font_bytes(bold)), size)


@lru_cache(maxsize=64)
def _line_metrics(size: int, bold: bool) -> tuple[int, int]:
    """(ink above baseline, ink below baseline) covering Vietnamese diacritics."""
    font = load_font(size, bold)
    top = font.getbbox(_TALL_SAMPLE, anchor="ls")[1]
    bottom = font.getbbox(_DEEP_SAMPLE, anchor="ls")[3]
    return -top, bottom


def _tokens(text: str) -> list[str]:
    """Words, with a lone dash kept at the end of the word before it (break after " –")."""
    out: list[str] = []
    for word in text.split():
        if word in _DASHES and out:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out


def _segments(text: str) -> list[str]:
    """Parts ending at a dash or a colon: "Lao động –", "Người có công –", "Bảo trợ xã hội";
    "Thời gian chờ dự kiến:", "khoảng 25 phút"."""
    out: list[str] = []
    current: list[str] = []
    for token in _tokens(text):
        current.append(token)
        if token.split()[-1] in _DASHES or token.endswith(":"):
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


def _break_word(word: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Hard-break one word wider than the line (e.g. a URL); never splits before a combining mark."""
    pieces: list[str] = []
    current = ""
    for ch in word:
        if current and not unicodedata.combining(ch) and font.getlength(current + ch) > max_width:
            pieces.append(current)
            current = ch
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def _wrap_tokens(tokens: list[str], font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for token in tokens:
        candidate = f"{current} {token}" if current else token
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        if font.getlength(token) <= max_width:
            current = token
        else:
            *full, current = _break_word(token, font, max_width)
            lines.extend(full)
    if current:
        lines.append(current)
    return lines


def _wrap_even(tokens: list[str], font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """As few lines as greedy wrapping needs, with line widths as even as possible."""
    lines = _wrap_tokens(tokens, font, max_width)
    if len(lines) < 2:
        return lines
    widest = max(font.getlength(t) for t in tokens)
    if widest > max_width:  # some word must be broken anyway: keep the greedy result
        return lines
    low, high = math.ceil(widest), int(max_width)
    while low < high:  # the narrowest limit that still needs no more lines and breaks no word
        mid = (low + high) // 2
        if len(_wrap_tokens(tokens, font, mid)) <= len(lines):
            high = mid
        else:
            low = mid + 1
    return _wrap_tokens(tokens, font, high)


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Greedy word wrap by measured pixel width; every returned line fits in max_width."""
    return _wrap_tokens(_tokens(nfc(text)), font, max_width)


def wrap_balanced(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Even-width wrap for centred text. Text made of parts ("Lao động – Người có công – Bảo trợ
    xã hội", "Thời gian chờ dự kiến: khoảng 25 phút") breaks between its parts when that costs at
    most one more line."""
    text = nfc(text)
    lines = _wrap_even(_tokens(text), font, max_width)
    segments = _segments(text)
    if len(lines) > 1 and len(segments) > 1 and all(font.getlength(s) <= max_width for s in segments):
        by_part = _wrap_even(segments, font, max_width)
        if len(by_part) <= len(lines) + 1:
            return by_part
    return lines


# ---- layout ----------------------------------------------------------------------------------


class _Cursor:
    """Stacks centred items from the top of the ticket."""

    def __init__(self, width: int, margin: int, top: int) -> None:
        self.width = width
        self.margin = margin
        self.y = top
        self.items: list[Item] = []

    @property
    def content_width(self) -> int:
        return self.width - 2 * self.margin

    def gap(self, px: int) -> None:
        self.y += px

    def text(self, role: str, text: str, size: int, bold: bool = False, spacing: float = 0.12,
             inverted: bool = False, pad: int = 0) -> None:
        """Wrapped, centred lines; `inverted` draws them white on a black band padded by `pad`."""
        text = nfc(text).strip()
        if not text:
            return
        font = load_font(size, bold)
        above, below = _line_metrics(size, bold)
        leading = round(size * spacing)
        inner = self.content_width - 2 * pad
        band_top = self.y
        self.y += pad
        placed: list[LaidOutText] = []
        for n, line in enumerate(wrap_balanced(text, font, inner)):
            if n:
                self.y += leading
            baseline = self.y + above
            x = round(self.margin + pad + (inner - font.getlength(line)) / 2)
            left, top, right, bottom = font.getbbox(line, anchor="ls")
            box = (x + left, baseline + top, x + right, baseline + bottom)
            placed.append(LaidOutText(role, line, bold, size, (x, baseline), box, inverted))
            self.y = baseline + below
        self.y += pad
        if inverted:
            band = (self.margin, band_top, self.width - self.margin, self.y)
            placed = [replace(i, box=band) for i in placed]
        self.items.extend(placed)

    def number(self, text: str, max_height: int) -> None:
        text = nfc(text).strip()
        size = _fit_size(text, self.content_width, max_height)
        font = load_font(size, True)
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        x = round(self.margin + (self.content_width - (right - left)) / 2 - left)
        baseline = self.y - top
        box = (x + left, baseline + top, x + right, baseline + bottom)
        self.items.append(LaidOutText("number", text, True, size, (x, baseline), box))
        self.y = box[3]

    def rule(self, thickness: int) -> None:
        box = (self.margin, self.y, self.width - self.margin, self.y + thickness)
        self.items.append(LaidOutRule("rule", box))
        self.y += thickness

    def qr(self, data: str, target_px: int, min_gap: int) -> None:
        """The QR code centred, with at least a 4-module quiet zone above and below."""
        matrix = qr_matrix(data)
        modules = len(matrix)
        module_px = max(3, min(10, target_px // modules))
        if modules * module_px > self.content_width:  # a very long link: shrink modules, never clip
            module_px = max(1, self.content_width // modules)
        side = modules * module_px
        self.y += max(min_gap, 4 * module_px)
        x = (self.width - side) // 2
        box = (x, self.y, x + side, self.y + side)
        self.items.append(LaidOutQR("qr", data, box, module_px, modules, matrix))
        self.y += side + max(min_gap, 4 * module_px)


@lru_cache(maxsize=16)
def qr_matrix(data: str, border: int = 0) -> tuple[tuple[bool, ...], ...]:
    """The modules of a tracking link's QR code (dark = True), error correction M, with `border` blank
    modules around: the one QR code of the ticket and of the kiosk's screen."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=border)
    code.add_data(data)
    code.make(fit=True)
    return tuple(tuple(bool(v) for v in row) for row in code.get_matrix())


@lru_cache(maxsize=256)
def _fit_size(text: str, max_width: int, max_height: int) -> int:
    """Largest bold font size whose ink box of `text` fits max_width x max_height."""
    low, high = 8, 1000
    while low < high:
        mid = (low + high + 1) // 2
        left, top, right, bottom = load_font(mid, True).getbbox(text, anchor="ls")
        if right - left <= max_width and bottom - top <= max_height:
            low = mid
        else:
            high = mid - 1
    return low


def layout_ticket(ticket: TicketPrint, width: int = PAPER_80MM) -> TicketLayout:
    """Place every line and the QR code of `ticket` on a `width` px wide ticket."""
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"ticket width must be {MIN_WIDTH}..{MAX_WIDTH} px, not {width}")
    with _render_lock:
        return _layout(ticket, width)


def _layout(t: TicketPrint, width: int) -> TicketLayout:
    k = (width / PAPER_80MM) ** 0.35  # text shrinks less than the paper: 58 mm stays readable
    px = lambda base: max(12, round(base * k))  # noqa: E731
    margin = max(8, round(width * 0.03))
    c = _Cursor(width, margin, top=round(8 * k))

    for line in t.header_lines:
        c.text("header", line, px(22))
        c.gap(px(4))
    c.text("centre", t.centre_name, px(28), bold=True)
    c.gap(px(12))
    c.rule(2)
    c.gap(px(14))
    c.text("title", t.title, px(30), bold=True)
    c.gap(px(14))
    c.number(t.number, max_height=round(width * 0.3))
    c.gap(px(20))
    c.text("field", t.field_name, px(32), bold=True)
    if t.destination and t.destination.strip():
        c.gap(px(10))
        c.text("destination", t.destination.strip(), px(28), bold=True)
    if t.priority and t.priority.strip():
        c.gap(px(12))
        c.text("priority", t.priority.strip(), px(26), bold=True, inverted=True, pad=px(6))
    c.gap(px(14))
    c.rule(2)
    for i, (role, line) in enumerate((role, line) for role, line in t.details if line and line.strip()):
        c.gap(px(12) if i == 0 else px(6))
        c.text(role, line, px(23))
    if t.track_url and t.track_url.strip():
        c.qr(t.track_url.strip(), target_px=round(width * 0.45), min_gap=px(16))
        if t.qr_caption.strip():
            c.text("qr_caption", t.qr_caption, px(20))
    if t.thank_you.strip():
        c.gap(px(16))
        c.text("thanks", t.thank_you, px(24), bold=True)
    c.gap(px(12))
    return TicketLayout(width, c.y, tuple(c.items))


# ---- drawing ---------------------------------------------------------------------------------


def render_ticket(ticket: TicketPrint, width: int = PAPER_80MM) -> Image.Image:
    """The ticket as a mode "1" image, exactly `width` px wide (black = printed dot)."""
    layout = layout_ticket(ticket, width)
    with _render_lock:
        return draw_layout(layout)


def draw_layout(layout: TicketLayout) -> Image.Image:
    canvas = Image.new("L", (layout.width, layout.height), 255)
    draw = ImageDraw.Draw(canvas)
    for item in layout.items:
        if isinstance(item, LaidOutRule):
            left, top, right, bottom = item.box
            draw.rectangle((left, top, right - 1, bottom - 1), fill=0)
        elif isinstance(item, LaidOutQR):
            canvas.paste(_qr_image(item), item.box[:2])
        else:
            if item.inverted:
                left, top, right, bottom = item.box
                draw.rectangle((left, top, right - 1, bottom - 1), fill=0)
            draw.text(item.origin, item.text, font=load_font(item.size, item.bold),
                      fill=255 if item.inverted else 0, anchor="ls")
    return canvas.convert("1", dither=Image.Dither.NONE)


def _qr_image(qr: LaidOutQR) -> Image.Image:
    small = Image.new("L", (qr.modules, qr.modules), 255)
    small.putdata([0 if dark else 255 for row in qr.matrix for dark in row])
    side = qr.modules * qr.module_px
    return small.resize((side, side), Image.Resampling.NEAREST)
