"""`layso display` (the lobby screen) and `layso announce` (one call-out, for installers)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from layso.device_cli import add_device_arguments, device_token


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
    from layso.display.speech import announce_main
    voice = voice_config(args.config)
    return announce_main(args.number, args.counter, digits=args.digits or voice.read_digits, voice=args.voice,
                         text_only=args.text, template=voice.template,
                         numword_opts={"use_tu": voice.use_tu, "odd_word": voice.odd_word,
                                       "thousand_word": voice.thousand_word},
                         speed=voice.speed)


def register(sub) -> None:
    p = sub.add_parser("display", help="run the lobby display (pygame) with voice call-outs")
    add_device_arguments(p, "1920x1080")
    p.add_argument("--voice", default="espeak", help="espeak (default), clips:DIR (recorded clips) or off")
    p.set_defaults(func=cmd_display)

    a = sub.add_parser("announce", help="speak one call-out (or print its text) to test the speakers")
    a.add_argument("number", help="the ticket number, e.g. 1005 or A005")
    a.add_argument("--counter", type=int, required=True, help="the counter number")
    a.add_argument("--digits", action="store_true", help="read the number digit by digit")
    a.add_argument("--voice", default="espeak", help="espeak (default) or clips:DIR")
    a.add_argument("--text", action="store_true", help="print the exact sentence and nothing else")
    a.add_argument("--config", help="the centre's TOML config (default: LAYSO_CONFIG or ./layso.toml)")
    a.set_defaults(func=cmd_announce)
