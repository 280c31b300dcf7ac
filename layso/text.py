"""Text helpers every device program shares: NFC normalisation, the shipped fonts, the centre's time
zone and the Vietnamese date line.

The device programs (kiosk, lobby display, counter panel, ticket renderer) draw Vietnamese with the
DejaVu Sans faces shipped in ``layso/fonts`` (they carry every Vietnamese glyph, stacked diacritics
included) and always draw NFC text, so a combining mark never renders as a box. No pygame, no
Pillow, no Flask here: the screens open the fonts through `layso.textfit` (pygame.freetype), the
printed ticket through Pillow (`layso.hardware.ticket_render`).
"""
from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")

__all__ = ["DEFAULT_TIMEZONE", "WEEKDAYS", "nfc", "font_path", "font_bytes", "zone", "local_now", "date_line"]


def nfc(text: object) -> str:
    """`text` as an NFC string ("" for None): what every screen and ticket draws."""
    return "" if text is None else unicodedata.normalize("NFC", str(text))


def _font_name(bold: bool) -> str:
    return "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"


def font_path(bold: bool = False) -> str:
    """The file of the regular or bold DejaVu Sans face shipped with layso."""
    return str(resources.files("layso").joinpath("fonts", _font_name(bold)))


@lru_cache(maxsize=2)
def font_bytes(bold: bool = False) -> bytes:
    """The font file's bytes (for renderers that open a font from memory)."""
    return resources.files("layso").joinpath("fonts", _font_name(bold)).read_bytes()


@lru_cache(maxsize=8)
def zone(name: str | None) -> ZoneInfo:
    """The centre's time zone; Asia/Ho_Chi_Minh when the name is missing or unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_now(timezone: str | None, timestamp: float | None = None) -> datetime:
    """Now (or `timestamp`) in the centre's time zone."""
    tz = zone(timezone)
    return datetime.now(tz) if timestamp is None else datetime.fromtimestamp(timestamp, tz)


def date_line(when: datetime) -> str:
    """"Thứ Hai, 01/12/2025": the weekday and the date as the screens show them."""
    return f"{WEEKDAYS[when.weekday()]}, {when:%d/%m/%Y}"
