"""How long one janitor round takes for a province: N commune centres with a day under way.

    python bench/janitor_speed.py --centres 150                 # SQLite in a temporary folder
    python bench/janitor_speed.py --centres 150 --db postgresql://postgres@127.0.0.1:5432/layso_janitor

Each centre gets the commune preset (open all hours), six waiting tickets, one at a counter, a
kiosk and a lobby screen. The script runs `run_janitor` once (the first round records each centre's
day and fields), then times `--rounds` more: wall time, this process's CPU time and the number of
SQL statements per round. The janitor runs every 15 s in every server process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from layso.config import parse_config, preset_data
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.engine import QueueEngine
from layso.server.engine.centres import create_from_config
from layso.server.janitor import run_janitor
from layso.server.services import Services
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade


def build(db: Database, centres: int) -> None:
    engine = QueueEngine(db)
    for i in range(centres):
        data = preset_data("commune", open_all_hours=True)
        code = f"xa-{i:03d}"
        data["centre"].update(code=code, name=f"Xã {i:03d}", area=f"Khu vực {i % 10 + 1}")
        cid = create_from_config(db, parse_config(data), kind="commune")
        for field in ("dat-dai", "bhxh", "tu-phap-ho-tich", "dat-dai", "bhxh", "can-cuoc", "dat-dai"):
            engine.issue(cid, field)
        engine.sign_in(cid, 2, add_user(db, f"{code}-cb", "staff", "password-123", code))
        engine.call_next(cid, 2)
        add_device(db, "kiosk", "Kiosk", code)
        add_device(db, "display", "Màn hình sảnh", code)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--centres", type=int, default=150)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--db", help="an empty database (default: SQLite in a temporary folder)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="layso-janitor-")
    db = Database(args.db or f"sqlite:///{Path(folder) / 'janitor.db'}")
    upgrade(db)
    t0 = time.perf_counter()
    build(db, args.centres)
    built_s = time.perf_counter() - t0
    svc = Services(db=db, engine=QueueEngine(db), publish=lambda _events: None)
    statements = [0]

    def count(*_a, **_k):
        statements[0] += 1
    for eng in {db.read_engine, db.write_engine}:
        event.listen(eng, "before_cursor_execute", count)
    run_janitor(svc)
    load_before = os.getloadavg()
    wall, cpu, queries = [], [], []
    for _ in range(args.rounds):
        statements[0] = 0
        c0, w0 = time.process_time(), time.perf_counter()
        run_janitor(svc)
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        queries.append(statements[0])
    report = {"centres": args.centres, "database": db.url.split(":", 1)[0], "built_s": round(built_s, 1),
              "rounds": args.rounds, "wall_ms": {"median": round(statistics.median(wall), 1), "max": round(max(wall), 1)},
              "cpu_ms": {"median": round(statistics.median(cpu), 1), "max": round(max(cpu), 1)},
              "statements_per_round": sorted(set(queries)), "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    db.dispose()
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{args.centres} centres ({report['database']}): a janitor round takes {report['wall_ms']['median']} ms "
              f"(max {report['wall_ms']['max']}), {report['cpu_ms']['median']} ms CPU, "
              f"{report['statements_per_round']} statements; load average {report['load_average_before']} → "
              f"{report['load_average_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
