"""Online booking throughput: phones booking numbers while kiosks issue walk-in numbers.

Starts a real `layso serve` (province preset, open all hours, online booking for the whole daily
range, behind one trusted proxy so that each phone has an address of its own) on 127.0.0.1, then for `--seconds` runs `--phones` threads each booking as a new citizen (no
cookie) back to back through POST /api/v1/bookings, and `--kiosks` threads issuing walk-in tickets.
Reports bookings/s and tickets/s, request latency percentiles (nearest rank), and checks afterwards
in the database that no number of a field and day was given twice.

    .venv/bin/python bench/booking.py [--seconds 15] [--phones 8] [--kiosks 8] [--db URL] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import requests
from layso.bench.run import BenchServer, percentiles
from layso.server.engine.devices import add_device
from layso.server.engine import seed_centre
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade
from layso.server.storage.models import Booking, Ticket
from sqlalchemy import func, select

from layso.config import parse_config, preset_data, write_config


def run(seconds: float, phones: int, kiosks: int, db_url: str | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="layso-bench-booking-"))
    data = preset_data("province", open_all_hours=True)
    data["centre"]["code"] = f"bk{int(time.time())}"
    data["booking"].update(online_share=1.0, per_citizen_daily=50)
    cfg_path = work / "layso.toml"
    write_config(data, cfg_path)
    url = db_url or f"sqlite:///{work / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    cid = seed_centre(db, parse_config(data))
    tokens = [add_device(db, "kiosk", f"Kiosk {i}", centre_code=data["centre"]["code"]) for i in range(kiosks)]
    fields = [f["code"] for f in data["fields"]]
    server = BenchServer(work, url, cfg_path)
    # phones come from many addresses through the centre's proxy: the per-address limit applies to each
    server._env["LAYSO_TRUSTED_PROXIES"] = "1"
    server.start()
    lat = {"booking": [], "ticket": []}
    failures: list = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    centre_q = f"?centre={data['centre']['code']}"

    def phone(i: int):
        k = i
        while time.monotonic() < stop_at:
            k += phones
            t0 = time.perf_counter()
            r = requests.post(server.url + "/api/v1/bookings" + centre_q, json={"field": fields[k % len(fields)]},
                              headers={"X-Forwarded-For": f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}"},
                              timeout=30)  # a new citizen from a new address each time: no cookie is kept
            dt = time.perf_counter() - t0
            with lock:
                (lat["booking"].append(dt) if r.status_code == 201 else failures.append((r.status_code, r.text[:120])))

    def kiosk(i: int):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {tokens[i]}"
        k = i
        while time.monotonic() < stop_at:
            k += kiosks
            t0 = time.perf_counter()
            r = s.post(server.url + "/api/v1/tickets", json={"field": fields[k % len(fields)]}, timeout=30)
            dt = time.perf_counter() - t0
            with lock:
                (lat["ticket"].append(dt) if r.status_code == 201 else failures.append((r.status_code, r.text[:120])))

    load_before = [round(x, 2) for x in os.getloadavg()]
    threads = [threading.Thread(target=phone, args=(i,)) for i in range(phones)]
    threads += [threading.Thread(target=kiosk, args=(i,)) for i in range(kiosks)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    load_after = [round(x, 2) for x in os.getloadavg()]
    server.stop()
    with db.read() as s:
        dupes = s.execute(select(func.count()).select_from(
            select(Ticket.issue_field_id, Ticket.day, Ticket.seq_in_day).where(Ticket.centre_id == cid)
            .group_by(Ticket.issue_field_id, Ticket.day, Ticket.seq_in_day).having(func.count() > 1).subquery())).scalar()
        online = s.execute(select(func.count(Booking.id)).where(Booking.centre_id == cid)).scalar()
        tickets = s.execute(select(func.count(Ticket.id)).where(Ticket.centre_id == cid)).scalar()
    db.dispose()
    return {"db": "postgresql" if url.startswith("postgres") else "sqlite", "seconds": round(elapsed, 1),
            "phones": phones, "kiosks": kiosks,
            "bookings_per_s": round(len(lat["booking"]) / elapsed, 1),
            "tickets_per_s": round(len(lat["ticket"]) / elapsed, 1),
            "booking_ms": percentiles(lat["booking"]), "ticket_ms": percentiles(lat["ticket"]),
            "failures": len(failures), "first_failures": failures[:3],
            "numbers_given_twice": dupes, "bookings_in_db": online, "tickets_in_db": tickets,
            "load_average_before": load_before, "load_average_after": load_after}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--phones", type=int, default=8)
    ap.add_argument("--kiosks", type=int, default=8)
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = run(args.seconds, args.phones, args.kiosks, args.db)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    b, t = r["booking_ms"], r["ticket_ms"]
    print(f"{r['db']}: {r['bookings_per_s']} bookings/s (p50 {b['p50']} / p90 {b['p90']} / p99 {b['p99']} ms) "
          f"with {r['tickets_per_s']} walk-in tickets/s (p99 {t['p99']} ms); failures {r['failures']}, "
          f"numbers given twice {r['numbers_given_twice']}; load average {r['load_average_before']} → "
          f"{r['load_average_after']}")


if __name__ == "__main__":
    main()
