"""The CPU one command costs inside the queue engine, without HTTP, Socket.IO or the event loop.

    python bench/command_cost.py                    # SQLite in a temporary folder
    python bench/command_cost.py --rounds 6 --issues 400

Each round takes a fresh SQLite database with the bench's centre (`layso bench`'s province preset
with 8 counters, numbers to spare), issues 100 tickets to warm up, then times `--issues` issues
(this process's CPU time, `time.process_time`); a second part issues 900 tickets over every field,
calls one at each counter that finds one, and times 40 × (complete, then NEXT) at those counters.
Prints the minimum and median of the rounds, in ms of CPU a command. The waiting queue grows with
each issue, so every round starts anew. Compare two trees by running each one's copy in turn.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from layso.bench.officers import seat_officers
from layso.bench.run import bench_config
from layso.config import parse_config
from layso.server import clock
from layso.server.engine import QueueEngine, seed_centre
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade


def _engine(config) -> tuple[QueueEngine, int]:
    db = Database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'cost.db'}")
    upgrade(db)
    cid = seed_centre(db, config)
    seat_officers(db, cid)
    return QueueEngine(db, "http://127.0.0.1:5000"), cid


def _summary(ms: list[float]) -> str:
    return f"min {min(ms):.3f} median {statistics.median(ms):.3f} ({' '.join(f'{x:.3f}' for x in sorted(ms))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--issues", type=int, default=400, help="issues timed a round (default 400)")
    args = ap.parse_args()
    clock.set_clock(clock.FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))))
    data = bench_config("cost", 8)
    config = parse_config(data)
    codes = [f["code"] for f in data["fields"]]
    issue_ms, next_ms, complete_ms = [], [], []
    for _ in range(args.rounds):
        engine, cid = _engine(config)
        for i in range(100):
            engine.issue(cid, codes[i % 3], request_id=f"w{i}")
        t = time.process_time()
        for i in range(args.issues):
            engine.issue(cid, codes[i % 3], request_id=f"r{i}")
        issue_ms.append((time.process_time() - t) / args.issues * 1000)
        engine.db.dispose()

        engine, cid = _engine(config)
        for i in range(900):
            engine.issue(cid, codes[i % len(codes)], request_id=f"w{i}")
        busy = [c for c in range(1, 9) if engine.call_next(cid, c).value is not None]
        spent_next = spent_complete = 0.0
        for _ in range(40):
            for c in busy:
                t0 = time.process_time()
                engine.complete(cid, c)
                t1 = time.process_time()
                engine.call_next(cid, c)
                spent_complete += t1 - t0
                spent_next += time.process_time() - t1
        n = 40 * len(busy)
        next_ms.append(spent_next / n * 1000)
        complete_ms.append(spent_complete / n * 1000)
        engine.db.dispose()
    print(f"issue    ms CPU: {_summary(issue_ms)}")
    print(f"NEXT     ms CPU: {_summary(next_ms)}")
    print(f"complete ms CPU: {_summary(complete_ms)}")


if __name__ == "__main__":
    main()
