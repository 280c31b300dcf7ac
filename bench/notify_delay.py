"""Notifier delay: from a counter's call to the SMS gateway's request, with many pending subscriptions.

Prepares a commune centre (open all hours) with `--waiting` tickets, each subscribed to SMS
notifications (be told when 2 are ahead, and when called), starts a real `layso serve` whose `[notify]
sms` gateway is a local HTTP server in this process, then has every counter call the next ticket
about once a second for `--seconds`. For each call whose ticket was subscribed, the delay is the
time from sending the call request to the gateway receiving the "called" message (an upper bound:
it includes the call's own round trip). Reports p50/p90/p99/max (nearest rank), messages lost or
received twice, and the load average.

    .venv/bin/python bench/notify_delay.py [--waiting 1000] [--seconds 30] [--db URL] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from layso.bench.officers import seat_officers
from layso.bench.run import BenchServer, percentiles
from layso.server.engine.devices import add_device
from layso.server.engine import QueueEngine
from layso.server.engine.setup import seed_centre
from layso.server.notify.outbox import subscribe
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade

from layso.config import parse_config, preset_data, write_config

CALLED = re.compile(r"moi so (\S+) den quay")


class Gateway:
    def __init__(self):
        self.arrivals: dict[str, list[float]] = {}
        self.keys: Counter = Counter()
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                now = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                gw.keys[body["key"]] += 1
                m = CALLED.search(body["text"])
                if m:
                    gw.arrivals.setdefault(m.group(1), []).append(now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run(waiting: int, seconds: float, db_url: str | None) -> dict:
    gw = Gateway()
    work = Path(tempfile.mkdtemp(prefix="layso-bench-notify-"))
    data = preset_data("commune", open_all_hours=True)
    data["centre"]["code"] = f"nt{int(time.time())}"
    data["notify"] = {"sms": {"url": gw.url, "timeout_s": 5}}
    for f in data["fields"]:
        f.pop("daily_cap", None)
    cfg_path = work / "layso.toml"
    write_config(data, cfg_path)
    url = db_url or f"sqlite:///{work / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    cid = seed_centre(db, parse_config(data))
    engine = QueueEngine(db, "http://127.0.0.1")
    fields = [f["code"] for f in data["fields"]]
    subscribed = set()
    for i in range(waiting):
        t = engine.issue(cid, fields[i % len(fields)]).value
        subscribe(db, t["track_url"].rsplit("/", 1)[1], "sms", ahead=2, phone="0912345678")
        subscribed.add(t["number"])
    counters = [c["number"] for c in data["counters"]]
    tokens = {n: add_device(db, "counter", f"Panel {n}", centre_code=data["centre"]["code"], counter=n)
              for n in counters}
    seat_officers(db, cid)  # a counter with nobody signed in cannot call
    server = BenchServer(work, url, cfg_path).start()
    time.sleep(2.0)  # the worker's first round counts the people ahead of every subscription
    sent_at: dict[str, float] = {}
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def counter(n: int):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {tokens[n]}"
        next_at = time.monotonic() + (n % 10) / 10
        while time.monotonic() < stop_at:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += 1.0
            t0 = time.monotonic()
            r = s.post(f"{server.url}/api/v1/counters/{n}/next", json={}, timeout=30)
            if r.status_code == 200:
                with lock:
                    sent_at[r.json()["ticket"]["number"]] = t0

    load_before = [round(x, 2) for x in os.getloadavg()]
    threads = [threading.Thread(target=counter, args=(n,)) for n in counters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    expected = {n for n in sent_at if n in subscribed}
    while time.monotonic() < deadline and not expected <= set(gw.arrivals):
        time.sleep(0.1)
    load_after = [round(x, 2) for x in os.getloadavg()]
    server.stop()
    db.dispose()
    delays = [gw.arrivals[n][0] - sent_at[n] for n in expected if n in gw.arrivals]
    return {"db": "postgresql" if url.startswith("postgres") else "sqlite", "pending_subscriptions": waiting,
            "counters": len(counters), "seconds": seconds, "calls": len(sent_at),
            "called_messages_expected": len(expected), "called_messages_received": len(delays),
            "lost": len(expected - set(gw.arrivals)), "received_twice": sum(1 for k, n in gw.keys.items() if n > 1),
            "messages_total": sum(gw.keys.values()), "call_to_gateway_ms": percentiles(delays),
            "load_average_before": load_before, "load_average_after": load_after}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waiting", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--db", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(args.waiting, args.seconds, args.db)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    p = r["call_to_gateway_ms"]
    print(f"{r['db']}: {r['pending_subscriptions']} subscriptions, {r['calls']} calls by {r['counters']} counters; "
          f"call → gateway p50 {p['p50']} / p90 {p['p90']} / p99 {p['p99']} / max {p['max']} ms; "
          f"lost {r['lost']}, received twice {r['received_twice']}, messages {r['messages_total']}; "
          f"load average {r['load_average_before']} → {r['load_average_after']}")


if __name__ == "__main__":
    main()
