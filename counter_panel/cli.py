"""`layso counter`: the counter panel (CONTRACT.md, "Command line")."""
from __future__ import annotations

import argparse
import os
import sys


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("size must be WIDTHxHEIGHT, e.g. 800x480") from None
    if not (200 <= w <= 8000 and 150 <= h <= 8000):
        raise argparse.ArgumentTypeError("size out of range")
    return w, h


def register(sub) -> None:
    p = sub.add_parser("counter", help="run a counter panel (buttons, LEDs and the citizen's screen)")
    p.add_argument("--server", required=True, help="the server's URL, e.g. http://10.0.0.2:5000")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--token", help="this panel's device token (or LAYSO_TOKEN)")
    tok.add_argument("--token-file", help="a file holding the device token")
    p.add_argument("--size", type=_size, default=(800, 480), help="window size WxH (default 800x480)")
    p.add_argument("--fullscreen", action="store_true", help="use the whole screen")
    p.add_argument("--screenshot", help="keep this PNG file updated with what the panel shows")
    p.add_argument("--keypad", default=os.environ.get("LAYSO_KEYPAD"),
                   help="TOML file with the buttons' and LEDs' GPIO pins (or LAYSO_KEYPAD); none: touch only")
    p.set_defaults(func=cmd_counter)


def cmd_counter(args) -> int:
    from layso.client import DeviceClient, read_token
    from layso.hardware.buttons import KeypadConfig, KeypadError, make_keypad
    from layso.logs import setup_logging

    try:
        token = read_token(args.token or os.environ.get("LAYSO_TOKEN"), args.token_file)
    except (ValueError, OSError) as err:
        print(f"layso: {err}", file=sys.stderr)
        return 2
    try:
        keypad = make_keypad(KeypadConfig.load(args.keypad) if args.keypad else None)
    except KeypadError as err:
        print(f"layso: {err}", file=sys.stderr)
        return 2

    setup_logging()
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from .app import CounterPanel
    panel = CounterPanel(DeviceClient(args.server, token), keypad, size=args.size, screenshot=args.screenshot,
                         fullscreen=args.fullscreen)
    panel.start()
    try:
        panel.run()
    except KeyboardInterrupt:
        pass
    finally:
        panel.close()
    return 0
