"""The voice of a call (loa gọi số): Vietnamese number words, the announcement sentence, the voices
that speak it (espeak-ng, recorded clips, off) and the chime.

Shared by the lobby display program, ``layso announce`` and the server's web display, so none of
them imports another's program: the server imports ``layso.voice``, never ``layso.display``.
Playing sound on a device is ``layso.hardware.audio``'s job.
"""
from __future__ import annotations

from .chime import chime_wav, write_chime
from .numwords import digits_to_words, letter_to_words, number_to_speech, number_to_words
from .sentence import (DEFAULT_TEMPLATE, TICKET_NUMBER, announcement_text, check_ticket_number,
                       voice_settings)
from .voices import DEFAULT_SPEED, ClipsVoice, EspeakVoice, OffVoice, Voice, default_cache_dir, make_voice

__all__ = ["DEFAULT_SPEED", "DEFAULT_TEMPLATE", "TICKET_NUMBER", "ClipsVoice", "EspeakVoice", "OffVoice", "Voice",
           "announcement_text", "check_ticket_number", "chime_wav", "default_cache_dir", "digits_to_words",
           "letter_to_words", "make_voice", "number_to_speech", "number_to_words", "voice_settings",
           "write_chime"]
