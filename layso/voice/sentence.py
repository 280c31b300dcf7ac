"""The sentence a call is announced with: the centre's template filled with the spoken number and counter.

One home for the wording of a call, shared by the lobby display program, ``layso announce`` and the
server's web display (which renders the same sentence to WAV): none of them writes it again.
"""

from __future__ import annotations

import logging
import re
import string
from typing import Any

from pydantic import ValidationError

from layso.config import VoiceConfig
from layso.text import nfc as _nfc

from .numwords import number_to_speech, number_to_words

__all__ = ["DEFAULT_TEMPLATE", "TEMPLATE_FIELDS", "TICKET_NUMBER", "announcement_text", "check_ticket_number",
           "voice_settings"]

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = VoiceConfig().template  # "Xin mời công dân có số thứ tự {number} đến quầy số {counter}"
TEMPLATE_FIELDS = ("number", "counter", "field")
# A printed ticket number: a field's numeric range ("1005") or its letter prefix and digits ("A005").
TICKET_NUMBER = re.compile(r"^[A-Z]{0,3}[0-9]{1,6}$")


def check_ticket_number(number: object) -> str:
    """The ticket number in its printed form ("a005" → "A005"); ValueError if it is not one."""
    text = _nfc(number).strip().upper()
    if not TICKET_NUMBER.match(text):
        raise ValueError(f"{number!r} is not a ticket number: give digits (1005) or up to three letters "
                         "and digits (A005)")
    return text


def voice_settings(raw: object) -> VoiceConfig:
    """The centre's voice settings from a snapshot or the database (unknown keys ignored; invalid → defaults)."""
    known = {k: v for k, v in raw.items() if k in VoiceConfig.model_fields} if isinstance(raw, dict) else {}
    try:
        return VoiceConfig.model_validate(known)
    except ValidationError as err:
        log.warning("invalid voice settings, using the defaults: %s", err)
        return VoiceConfig()


def _check_template(template: str) -> None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"bad voice template {template!r}: {exc}") from None
    for _, name, _, _ in parsed:
        if name is not None and name not in TEMPLATE_FIELDS:
            allowed = ", ".join("{%s}" % f for f in TEMPLATE_FIELDS)
            raise ValueError(f"unknown placeholder {{{name}}} in the voice template; use {allowed}")


def announcement_text(
    number: str,
    counter: int | str,
    template: str = DEFAULT_TEMPLATE,
    read_digits: bool = False,
    *,
    field: str | None = None,
    **numword_opts: Any,
) -> str:
    """The sentence spoken for a call, e.g. "… số thứ tự một nghìn không trăm linh năm đến quầy số ba".

    ``number`` is read as a number or digit by digit (``read_digits``); the counter always as
    a number. ``numword_opts``: ``use_tu``, ``odd_word``, ``thousand_word``.
    """
    template = _nfc(template or DEFAULT_TEMPLATE)
    _check_template(template)
    spoken_number = number_to_speech(str(number), read_digits, **numword_opts)
    if isinstance(counter, int) and not isinstance(counter, bool):
        spoken_counter = number_to_words(counter, **numword_opts)
    else:
        spoken_counter = number_to_speech(str(counter), False, **numword_opts)
    text = template.format(number=spoken_number, counter=spoken_counter,
                           field=_nfc(str(field or "")))
    return _nfc(" ".join(text.split()))


