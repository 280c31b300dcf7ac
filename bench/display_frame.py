"""Lobby display speed: event-to-screen time in frames at 30 fps, and the program's resident memory.

Runs a real `layso serve` (province preset, open all hours), a kiosk issuing and counters calling
through the REST API, and two displays:
  * one in this process, ticked at 30 fps, whose inbox records when each event arrived; an event is
    on screen when the frame that applied it has been drawn (pygame.display.update returned);
  * the real `layso display` program (espeak voice, dummy SDL video and audio, --screenshot), whose
    resident memory is sampled with psutil throughout the run.

    .venv/bin/python bench/display_frame.py [--seconds 30] [--calls-per-s 4] [--size 1920x1080] [--json]
"""
from __future__ import annotations

import argparse
import bisect
import json
import math
import multiprocessing
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import psutil  # noqa: E402
import pygame  # noqa: E402
import requests  # noqa: E402
from layso.display.app import DisplayApp, open_window  # noqa: E402

from layso.client import DeviceClient  # noqa: E402
from layso.config import load_config, preset_data, write_config  # noqa: E402
from layso.device_cli import parse_size  # noqa: E402

FPS = 30
FRAME_MS = 1000 / FPS


class TimedInbox(queue.Queue):
    """The client's inbox, noting when each ticket.called event arrived and when it was taken."""

    def __init__(self):
        super().__init__()
        self.arrived: dict[str, float] = {}
        self.taken: list[str] = []

    def put(self, item, block=True, timeout=None):
        kind, body = item
        if kind == "event" and body[0] == "ticket.called":
            self.arrived[body[1]["ticket"]["number"]] = time.monotonic()
        super().put(item, block, timeout)

    def get_nowait(self):
        item = super().get_nowait()
        if item[0] == "event" and item[1][0] == "ticket.called":
            self.taken.append(item[1][1]["ticket"]["number"])
        return item


def start_server(folder: Path) -> tuple[subprocess.Popen, str, dict]:
    from layso.server.engine.devices import add_device
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.bench.officers import seat_officers
    from layso.bench.run import BenchServer
    config = folder / "layso.toml"
    write_config(preset_data("province", open_all_hours=True), config)
    db_url = f"sqlite:///{folder / 'bench.db'}"
    db = Database(db_url)
    upgrade(db)
    seat_officers(db, seed_centre(db, load_config(config)))  # a counter with nobody signed in cannot call
    cfg = load_config(config)
    tokens = {"display": add_device(db, "display", "Bench display"),
              "display_cli": add_device(db, "display", "Bench display program"),
              "kiosk": add_device(db, "kiosk", "Bench kiosk"),
              "counters": {c.number: add_device(db, "counter", f"Bench counter {c.number}", counter=c.number)
                           for c in cfg.counters if not c.priority_only},
              "fields": {c.number: c.fields[0] for c in cfg.counters}}
    db.dispose()
    server = BenchServer(folder, db_url, config).start()  # `layso serve`, as `layso bench` starts it
    return server.proc, server.url, tokens


def load(url: str, tokens: dict, seconds: float, calls_per_s: float, results) -> None:
    """A kiosk issuing tickets and the counters calling them in turn, through the REST API.

    Runs in its own process, so the display being measured shares its interpreter with nothing
    but its own client; puts {ticket number: monotonic time the call was sent} on `results`."""
    http = requests.Session()
    counters = sorted(tokens["counters"].items())
    sent: dict[str, float] = {}
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        started = time.monotonic()
        n, token = counters[i % len(counters)]
        http.post(f"{url}/api/v1/tickets", json={"field": tokens["fields"][n]},
                  headers={"Authorization": f"Bearer {tokens['kiosk']}"}, timeout=10)
        t0 = time.monotonic()
        r = http.post(f"{url}/api/v1/counters/{n}/next", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if r.status_code == 200:
            sent[r.json()["ticket"]["number"]] = t0
        i += 1
        time.sleep(max(0.0, 1 / calls_per_s - (time.monotonic() - started)))
    results.put(sent)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(pct(values, 50), 1), "p95": round(pct(values, 95), 1),
            "max": round(max(values), 1), "mean": round(statistics.fmean(values), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--calls-per-s", type=float, default=4)
    ap.add_argument("--size", type=parse_size, default=(1920, 1080))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="layso-bench-display-"))
    server = program = client = None
    try:
        server, url, tokens = start_server(folder)
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
        w, h = args.size
        program = subprocess.Popen([sys.executable, "-m", "layso.cli", "display", "--server", url, "--token",
                                    tokens["display_cli"], "--size", f"{w}x{h}", "--voice", "espeak",
                                    "--screenshot", str(folder / "screen.png")],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        watched = psutil.Process(program.pid)

        inbox = TimedInbox()
        client = DeviceClient(url, tokens["display"])
        client.inbox = inbox
        client.start()
        window = open_window(args.size, False)
        app = DisplayApp(inbox, window)
        frames = pygame.time.Clock()
        while not app.board.has_state:
            app.tick()
            frames.tick(FPS)

        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        loader = ctx.Process(target=load, args=(url, tokens, args.seconds, args.calls_per_s, results))
        loader.start()
        drawn_at: dict[str, float] = {}
        drawn_tick: dict[str, int] = {}
        tick_starts: list[float] = []
        tick_ms: list[float] = []
        rss: list[int] = []
        sent: dict[str, float] | None = None
        next_sample = 0.0
        settle_until = None  # after the load: one more second of frames for the last events
        while settle_until is None or time.monotonic() < settle_until:
            start = time.monotonic()
            taken = len(inbox.taken)
            app.tick()
            end = time.monotonic()
            tick_starts.append(start)
            tick_ms.append((end - start) * 1000)
            for number in inbox.taken[taken:]:
                drawn_at.setdefault(number, end)
                drawn_tick.setdefault(number, len(tick_starts) - 1)
            if end >= next_sample:
                try:
                    rss.append(watched.memory_info().rss)
                except psutil.NoSuchProcess:
                    raise SystemExit("the display program exited during the run") from None
                next_sample = end + 0.5
            if sent is None:
                try:
                    sent = results.get_nowait()
                    settle_until = time.monotonic() + 1.0
                except queue.Empty:
                    if not loader.is_alive():
                        raise SystemExit("the load generator failed") from None
            frames.tick(FPS)
        loader.join(10)
        own_rss = psutil.Process().memory_info().rss
        rss.append(watched.memory_info().rss)

        arrive_ms = [(drawn_at[n] - inbox.arrived[n]) * 1000 for n in drawn_at if n in inbox.arrived]
        # frames: how many frames began after the event arrived, up to the one that drew it (1 = the next frame)
        frame_counts = [drawn_tick[n] - bisect.bisect_right(tick_starts, inbox.arrived[n]) + 1
                        for n in drawn_tick if n in inbox.arrived]
        api_ms = [(drawn_at[n] - sent[n]) * 1000 for n in drawn_at if n in sent]
        report = {
            "seconds": args.seconds, "size": f"{w}x{h}", "fps": FPS, "calls": len(sent), "drawn": len(drawn_at),
            "event_to_screen_ms": summary(arrive_ms),
            "event_to_screen_frames": summary([float(c) for c in frame_counts]),
            "on_the_next_frame_share": round(sum(c <= 1 for c in frame_counts) / max(1, len(frame_counts)), 3),
            "api_call_to_screen_ms": summary(api_ms),
            "frame_work_ms": summary(tick_ms),
            "display_program_rss_mb": {"peak": round(max(rss) / 2**20, 1), "end": round(rss[-1] / 2**20, 1)},
            "bench_process_rss_mb": round(own_rss / 2**20, 1),
        }
    finally:
        if client is not None:
            client.close()
        for proc in (program, server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        e, f, a, t = (report["event_to_screen_ms"], report["event_to_screen_frames"], report["api_call_to_screen_ms"],
                      report["frame_work_ms"])
        print(f"layso display bench: {report['calls']} calls in {args.seconds:g} s at {report['size']}, {FPS} fps")
        print(f"  event arrival → on screen: p50 {e['p50']} ms, p95 {e['p95']} ms, max {e['max']} ms "
              f"(frame period {FRAME_MS:.1f} ms)")
        print(f"  frames from arrival to screen: p50 {f['p50']:g}, p95 {f['p95']:g}, max {f['max']:g}; "
              f"drawn on the next frame: {report['on_the_next_frame_share']:.1%}")
        print(f"  API call → on screen: p50 {a['p50']} ms, p95 {a['p95']} ms, max {a['max']} ms")
        print(f"  work per frame: p50 {t['p50']} ms, p95 {t['p95']} ms, max {t['max']} ms")
        r = report["display_program_rss_mb"]
        print(f"  `layso display` resident memory: peak {r['peak']} MB, at the end {r['end']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
