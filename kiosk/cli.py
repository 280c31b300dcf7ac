"""`layso kiosk --server URL (--token TOKEN | --token-file PATH) [--printer URI] [--fullscreen]
[--size WxH] [--screenshot PATH]` (CONTRACT.md, "Command line")."""
from __future__ import annotations

import signal
import sys

from layso.device_cli import add_device_arguments, device_token

DEFAULT_SIZE = (1080, 1920)


def register(sub) -> None:
    p = sub.add_parser("kiosk", help="run the ticket kiosk (touch screen and printer)")
    add_device_arguments(p, "1080x1920")
    p.add_argument("--printer", help="usb:VID:PID, tcp:HOST[:PORT], serial:/dev/ttyX[:BAUD], file:/dev/usb/lp0, "
                                     "dummy: or png:DIR, optionally ?profile=NAME&width=576")
    p.add_argument("--scanner", default="keyboard",
                   help="how booking QR codes are read: keyboard (a barcode scanner acting as a keyboard, the "
                        "default) or camera[:DEVICE][?fps=N&hold=S&retry=S] (needs layso[camera])")
    p.set_defaults(func=run)


def run(args) -> int:
    from layso.client import DeviceClient
    from layso.hardware.printer import open_printer
    from layso.logs import setup_logging

    setup_logging()
    token = device_token(args)
    if token is None:
        return 2
    from layso.hardware.scanner import open_scanner
    try:
        printer = open_printer(args.printer) if args.printer else None
        scanner = open_scanner(args.scanner)
    except ValueError as err:
        print(f"layso: {err}", file=sys.stderr)
        return 2

    import pygame

    from .app import KioskApp
    from .printing import PrintService

    pygame.display.init()
    pygame.display.set_caption("layso — lấy số")
    if args.fullscreen:
        surface = pygame.display.set_mode(args.size or (0, 0), pygame.FULLSCREEN)
        pygame.mouse.set_visible(False)
    else:
        surface = pygame.display.set_mode(args.size or DEFAULT_SIZE)
    client = DeviceClient(args.server, token).start()
    printing = PrintService(printer, client).start() if printer is not None else None
    if scanner is not None:
        scanner.start()
    app = KioskApp(client, surface, printing, screenshot=args.screenshot, fullscreen=args.fullscreen, scanner=scanner)

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
        if scanner is not None:
            scanner.close()
        client.close()
        pygame.quit()
    return 0
