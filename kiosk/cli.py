"""`layso kiosk --server URL (--token TOKEN | --token-file PATH) [--printer URI] [--fullscreen]
[--size WxH] [--screenshot PATH]` (CONTRACT.md, "Command line")."""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys

DEFAULT_SIZE = (1080, 1920)


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1080x1920, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def register(sub) -> None:
    p = sub.add_parser("kiosk", help="run the ticket kiosk (touch screen and printer)")
    p.add_argument("--server", required=True, help="the server's URL, e.g. http://10.0.0.2:5000")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--token", help="the kiosk's device token (or LAYSO_TOKEN)")
    who.add_argument("--token-file", help="a file holding the device token")
    p.add_argument("--printer", help="usb:VID:PID, tcp:HOST[:PORT], serial:/dev/ttyX[:BAUD], file:/dev/usb/lp0, "
                                     "dummy: or png:DIR, optionally ?profile=NAME&width=576")
    p.add_argument("--fullscreen", action="store_true", help="take the whole screen; no way to close it by touch")
    p.add_argument("--size", type=parse_size,
                   help="window size WxH (default: the whole screen in fullscreen, else 1080x1920)")
    p.add_argument("--screenshot", help="keep this PNG updated with what the screen shows (at most once a second)")
    p.set_defaults(func=run)


def run(args) -> int:
    from layso.client import DeviceClient, read_token
    from layso.hardware.printer import open_printer
    from layso.logs import setup_logging

    setup_logging()
    try:
        token = read_token(args.token or (None if args.token_file else os.environ.get("LAYSO_TOKEN")), args.token_file)
    except (ValueError, OSError) as err:
        print(f"layso: {err}", file=sys.stderr)
        return 2
    try:
        printer = open_printer(args.printer) if args.printer else None
    except ValueError as err:
        print(f"layso: {err}", file=sys.stderr)
        return 2

    import pygame

    from .app import KioskApp
    from .printing import PrintService

    pygame.display.init()
    pygame.font.init()
    pygame.display.set_caption("layso — lấy số")
    if args.fullscreen:
        surface = pygame.display.set_mode(args.size or (0, 0), pygame.FULLSCREEN)
        pygame.mouse.set_visible(False)
    else:
        surface = pygame.display.set_mode(args.size or DEFAULT_SIZE)
    client = DeviceClient(args.server, token).start()
    printing = PrintService(printer, client).start() if printer is not None else None
    app = KioskApp(client, surface, printing, screenshot=args.screenshot, fullscreen=args.fullscreen)

    def stop(*_args) -> None:
        app.running = False

    signal.signal(signal.SIGTERM, stop)
    try:
        app.run()
    except KeyboardInterrupt:
        pass
    finally:
        if printing is not None:
            printing.close()
        client.close()
        pygame.quit()
    return 0
