"""`layso counter`: the counter panel (CONTRACT.md, "Command line")."""
from __future__ import annotations

import os
import sys

from layso.device_cli import add_device_arguments, device_token


def register(sub) -> None:
    p = sub.add_parser("counter", help="run a counter panel (buttons, LEDs and the citizen's screen)")
    add_device_arguments(p, "800x480")
    p.set_defaults(size=(800, 480))
    p.add_argument("--keypad", default=os.environ.get("LAYSO_KEYPAD"),
                   help="TOML file with the buttons' and LEDs' GPIO pins (or LAYSO_KEYPAD); none: touch only")
    p.set_defaults(func=cmd_counter)


def cmd_counter(args) -> int:
    from layso.client import DeviceClient
    from layso.hardware.buttons import KeypadConfig, KeypadError, make_keypad
    from layso.logs import setup_logging

    token = device_token(args)
    if token is None:
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
