"""`layso display` (the lobby screen) and `layso announce` (one call-out, for installers)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from layso.device_cli import add_device_arguments, device_token
from layso.voice import DEFAULT_TEMPLATE, announcement_text, check_ticket_number, chime_wav, make_voice


def _counter_number(text: str) -> int:
    """A counter number for argparse: a whole number from 1 to 9999."""
    import argparse
    if not text.strip().isdigit() or not 1 <= int(text) <= 9999:
        raise argparse.ArgumentTypeError(f"{text!r} is not a counter number (a whole number from 1 to 9999)")
    return int(text)


def cmd_display(args) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before pygame is first imported
    from layso.display.app import run_display
    from layso.logs import setup_logging
    setup_logging()
    token = device_token(args)
    if token is None:
        return 2
    try:
        return run_display(args.server, token, size=args.size, fullscreen=args.fullscreen, voice=args.voice,
                           screenshot=args.screenshot)
    except ValueError as err:  # e.g. a clip pack without manifest
        print(f"layso display: {err}", file=sys.stderr)
        return 2


def voice_config(path: str | None):
    """The centre's voice settings from the TOML config, or the defaults without one."""
    from layso.config import VoiceConfig, load_config
    path = path or os.environ.get("LAYSO_CONFIG") or ("layso.toml" if Path("layso.toml").exists() else None)
    return load_config(path).voice if path else VoiceConfig()


def cmd_announce(args) -> int:
    voice = voice_config(args.config)
    return announce_main(args.number, args.counter, digits=args.digits or voice.read_digits, voice=args.voice,
                         text_only=args.text, template=voice.template,
                         numword_opts={"use_tu": voice.use_tu, "odd_word": voice.odd_word,
                                       "thousand_word": voice.thousand_word},
                         speed=voice.speed)


def announce_main(
    number: str,
    counter: int | str,
    digits: bool | None = None,
    voice: str = "espeak",
    text_only: bool = False,
    template: str | None = None,
    numword_opts: dict[str, Any] | None = None,
    *,
    field: str | None = None,
    speed: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    audio: Any = None,
    chime: bool = True,
) -> int:
    """``layso announce``: print (``text_only``) or speak one call; returns an exit code.

    ``digits`` None means read as a number. ``numword_opts``: use_tu, odd_word,
    thousand_word. ``audio`` is an ``AudioOutput`` (default: pygame.mixer).
    """
    try:
        text = announcement_text(check_ticket_number(number), counter, template or DEFAULT_TEMPLATE,
                                 bool(digits), field=field, **(numword_opts or {}))
    except (ValueError, TypeError) as exc:
        print(f"layso announce: {exc}", file=sys.stderr)
        return 2
    if text_only:
        print(text)
        return 0
    try:
        speaker = make_voice(voice, cache_dir, speed=speed)
    except ValueError as exc:
        print(f"layso announce: {exc}", file=sys.stderr)
        return 2
    if not speaker.enabled:
        print("layso announce: no voice to speak with (is espeak-ng installed?)", file=sys.stderr)
        return 1
    try:
        wav = speaker.render(text)
    except Exception as exc:
        print(f"layso announce: rendering speech failed: {exc}", file=sys.stderr)
        return 1
    if wav is None:
        print("layso announce: the voice produced no sound", file=sys.stderr)
        return 1

    from layso.hardware.audio import PygameMixerAudio  # noqa: PLC0415 - pygame only when speaking

    out = audio if audio is not None else PygameMixerAudio()
    if not out.open():
        print("layso announce: no audio output (check the sound card / SDL_AUDIODRIVER)",
              file=sys.stderr)
        return 1
    print(text)
    sys.stdout.flush()
    try:
        if chime:
            out.play(chime_wav(), block=True)
            time.sleep(0.25)
        out.play(wav, block=True)
    finally:
        out.close()
    return 0


def register(sub) -> None:
    p = sub.add_parser("display", help="run the lobby display (pygame) with voice call-outs")
    add_device_arguments(p, "1920x1080")
    p.add_argument("--voice", default="espeak", help="espeak (default), clips:DIR (recorded clips) or off")
    p.set_defaults(func=cmd_display)

    a = sub.add_parser("announce", help="speak one call-out (or print its text) to test the speakers")
    a.add_argument("number", help="the ticket number as printed: digits (1005) or up to three letters and "
                                  "digits (A005)")
    a.add_argument("--counter", type=_counter_number, required=True, help="the counter number (1–9999)")
    a.add_argument("--digits", action="store_true", help="read the number digit by digit")
    a.add_argument("--voice", default="espeak", help="espeak (default) or clips:DIR")
    a.add_argument("--text", action="store_true", help="print the exact sentence and nothing else")
    a.add_argument("--config", help="the centre's TOML config (default: LAYSO_CONFIG or ./layso.toml)")
    a.set_defaults(func=cmd_announce)
