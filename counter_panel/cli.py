"""`layso counter`: the counter panel (CONTRACT.md, "Command line")."""
from __future__ import annotations

import os
import signal
import sys

from layso.device_cli import add_device_arguments, device_token


SETUPS = """\
how the officer acts, by setup (any combination works):
  GPIO keypad     --keypad FILE: buttons NEXT, RECALL, SKIP, COMPLETE, PAUSE (hold PAUSE to close the
                  counter), status LEDs and optional rating buttons. The touch screen then shows the
                  citizen's screens only (no officer buttons), unless --officer-touch on.
  USB keypad      plug a USB numeric keypad in: 1 or Enter next, 2 recall, 3 skip, 4 complete,
                  5 pause/resume, hold 0 and press 5 to close the counter. Without GPIO keys the
                  touch screen also shows the officer's strip.
  touch only      no keypad: after the PIN sign-in, the officer's strip (Gọi tiếp, Gọi lại, Vắng mặt,
                  Hoàn thành, Tạm dừng/Tiếp tục) runs along the bottom of the idle, serving and paused
                  screens. It never shows on the rating, reasons or thank-you screens, and a screen
                  that appears by itself ignores taps for a second, so a citizen's rating tap can
                  never press an officer's button.
  desk test       a keyboard: N next, R recall, S skip, C complete, P pause/resume, Shift+P close,
                  1-5 (number row) rate, best first.
"""


def register(sub) -> None:
    import argparse
    p = sub.add_parser("counter", help="run a counter panel (buttons, LEDs and the citizen's screen)",
                       description="The counter panel: the officer's commands and the citizen's rating "
                                   "screen, on a small touch screen.",
                       epilog=SETUPS, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_device_arguments(p, "800x480")
    p.set_defaults(size=(800, 480))
    p.add_argument("--keypad", default=os.environ.get("LAYSO_KEYPAD"),
                   help="TOML file with the GPIO keypad's buttons and LEDs (or LAYSO_KEYPAD); without it the "
                        "officer uses the touch screen or a USB numeric keypad")
    p.add_argument("--officer-touch", choices=("auto", "on", "off"), default="auto",
                   help="the officer's strip of touch buttons: auto (default) shows it unless the GPIO keypad "
                        "has the officer's keys")
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
    officer_touch = {"auto": None, "on": True, "off": False}[args.officer_touch]
    panel = CounterPanel(DeviceClient(args.server, token), keypad, size=args.size, screenshot=args.screenshot,
                         fullscreen=args.fullscreen, officer_touch=officer_touch)
    panel.start()

    def stop(*_args) -> None:  # systemd's stop: close cleanly (socket, keypad, screenshot) and exit 0
        panel.running = False

    signal.signal(signal.SIGTERM, stop)
    try:
        panel.run()
    except KeyboardInterrupt:
        pass
    finally:
        panel.close()
    return 0
