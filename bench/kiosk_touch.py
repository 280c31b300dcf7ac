"""Kiosk speed: from a citizen's touch to the ticket's bytes handed to the printer.

Runs a real `layso serve` (province preset, open all hours, SQLite) and a kiosk app in this process
with a real DeviceClient and a `dummy:` printer whose jobs are timed when python-escpos has built
the whole ESC/POS job (init, raster image, cut) and handed it over. The app's frame loop runs at
30 fps in the main thread, as the program does; each touch is a synthetic MOUSEBUTTONDOWN on a
field's button, then the kiosk goes home and the next touch follows.

    .venv/bin/python bench/kiosk_touch.py [--touches 40] [--size 1080x1920] [--json]

Printed: touch → bytes to the printer, touch → ticket on screen (the frame showing it drawn) and
touch → the server's answer (POST /api/v1/tickets returned), in milliseconds (min, median, p90,
max).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402
from layso.hardware.printer import DummyPrinter  # noqa: E402
from layso.kiosk.app import KioskApp, Timing  # noqa: E402
from layso.kiosk.printing import PrintService  # noqa: E402

from layso.client import DeviceClient  # noqa: E402
from layso.config import load_config, preset_data, write_config  # noqa: E402
from layso.device_cli import parse_size  # noqa: E402

FPS = 30


class TimedPrinter(DummyPrinter):
    """dummy: that notes when each job's bytes were handed over."""

    def __init__(self):
        super().__init__("dummy:")
        self.handed: list[float] = []

    def print_ticket(self, ticket) -> None:
        super().print_ticket(ticket)
        self.handed.append(time.perf_counter())


def start_server(folder: Path) -> tuple[subprocess.Popen, str, str]:
    from layso.server.engine.devices import add_device
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.bench.run import BenchServer
    config = folder / "layso.toml"
    write_config(preset_data("province", open_all_hours=True), config)
    db_url = f"sqlite:///{folder / 'bench.db'}"
    db = Database(db_url)
    upgrade(db)
    seed_centre(db, load_config(config))
    token = add_device(db, "kiosk", "Bench kiosk")
    db.dispose()
    server = BenchServer(folder, db_url, config).start()  # `layso serve`, as `layso bench` starts it
    return server.proc, server.url, token


def frame(app: KioskApp, next_at: float) -> float:
    app.tick()
    delay = next_at - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    return max(next_at + 1 / FPS, time.perf_counter())


def summary(values: list[float]) -> dict:
    ms = sorted(v * 1000 for v in values)
    return {"n": len(ms), "min": round(ms[0], 1), "median": round(statistics.median(ms), 1),
            "p90": round(ms[max(0, round(0.9 * len(ms)) - 1)], 1), "max": round(ms[-1], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--touches", type=int, default=40)
    parser.add_argument("--size", type=parse_size, default=(1080, 1920))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="layso-bench-kiosk-"))
    server, url, token = start_server(folder)
    pygame.font.init()
    client = DeviceClient(url, token).start()
    answered: list[float] = []
    issue = client.issue

    def timed_issue(*a, **kw):
        ticket = issue(*a, **kw)
        answered.append(time.perf_counter())
        return ticket

    client.issue = timed_issue
    printer = TimedPrinter()
    printing = PrintService(printer, client).start()
    app = KioskApp(client, pygame.Surface(args.size), printing, timing=Timing(touch_guard_s=0))
    to_bytes: list[float] = []
    to_screen: list[float] = []
    to_answer: list[float] = []
    try:
        next_at = time.perf_counter()
        deadline = time.monotonic() + 30
        while app.screen != "home" or app._drawn_screen != "home":
            next_at = frame(app, next_at)
            if time.monotonic() > deadline:
                raise SystemExit("the kiosk did not come online")
        for i in range(args.touches):
            buttons = [(r, a) for r, a in app._targets if a[0] == "field"]
            rect, _action = buttons[i % len(buttons)]
            jobs = len(printer.handed)
            touched = time.perf_counter()
            app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1))
            shown = None
            end = time.monotonic() + 10
            while (shown is None or len(printer.handed) == jobs) and time.monotonic() < end:
                next_at = frame(app, next_at)
                if shown is None and app._drawn_screen == "ticket":
                    shown = time.perf_counter()
            if shown is None or len(printer.handed) == jobs:
                raise SystemExit(f"touch {i}: no ticket (screen {app.screen}, code {app.refused_code})")
            to_bytes.append(printer.handed[-1] - touched)
            to_screen.append(shown - touched)
            to_answer.append(answered[-1] - touched)
            app.act(("done",))
            next_at = frame(app, next_at)
    finally:
        printing.close()
        client.close()
        server.terminate()
        server.wait(10)
    result = {"touch_to_printer_bytes_ms": summary(to_bytes), "touch_to_ticket_on_screen_ms": summary(to_screen),
              "touch_to_server_answer_ms": summary(to_answer),
              "fps": FPS, "size": list(args.size), "preset": "province", "printer": "dummy:"}
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("touch_to_printer_bytes_ms", "touch_to_ticket_on_screen_ms", "touch_to_server_answer_ms"):
            s = result[key]
            print(f"{key:<32} n={s['n']} min={s['min']} median={s['median']} p90={s['p90']} max={s['max']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
