"""How fast are a month's and a year's statistics on a year of a busy provincial centre — or, with
`--centres N`, the province's statistics and month report on a year of N centres?

    python bench/stats_speed.py                       # SQLite and PostgreSQL (127.0.0.1:5432)
    python bench/stats_speed.py --skip-postgres --repeat 7 --json
    python bench/stats_speed.py --centres 100 --repeat 3     # a province: 100 centres × a year

Generates the year with layso.bench.year (bench/generate_year.py) the first time (an SQLite file under --workdir and a
PostgreSQL database of its own, created through the `postgres` user), then times `compute_stats`
for each group (field, counter, officer, hour, day) over one month and over the whole year, and
`compute_groups` for all five at once (the XLSX export). Targets: a month within 300 ms, a year
within 2 s.

With `--centres N` (`layso.bench.province_year`: a provincial centre of about 250,000 tickets a year
and N − 1 communes of about 25,000 each, generated the first time into `province-N.db` and the
PostgreSQL database `layso_stats_province_N`) it times /province/stats's four tables (by centre, by
centre and field, by agency, by day: `province_rows`) over March and over the year, the table of
centres and fields as XLSX, and March's report (`month_report`, XLSX). Targets: a month's table or
report within 2 s, a year's table within 10 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from layso.bench import year as generate_year
from layso.server.engine import seed_centre
from layso.server.queries.stats import GROUPS, compute_groups, compute_stats
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade
from layso.server.storage.models import Ticket  # noqa: E402

from layso.config import load_preset  # noqa: E402

TARGETS_MS = {"month": 300, "year": 2000}
PROVINCE_TARGETS_MS = {"month": 2000, "year": 10000}
YEAR = (date(2026, 1, 1), date(2026, 12, 31))
MONTH = (date(2026, 3, 1), date(2026, 3, 31))  # the weeks after Tết: the busiest month


def ensure_postgres_database(url: str) -> None:
    import psycopg
    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepared(url: str, tickets: int, log) -> tuple[Database, int, int]:
    """The database with a generated year (generated now if it has no tickets yet)."""
    db = Database(url)
    upgrade(db)
    centre_id = seed_centre(db, load_preset("province"))
    with db.read() as s:
        n = s.execute(select(func.count(Ticket.id)).where(Ticket.centre_id == centre_id)).scalar()
    if not n:
        log(f"generating a year into {url} …")
        summary = generate_year.generate(db, centre_id, YEAR[0], 365, tickets, seed=1, progress=None)
        log(f"  {summary.tickets} tickets, {summary.events} events, {summary.ratings} ratings "
            f"in {summary.seconds:.0f} s")
        n = summary.tickets
    return db, centre_id, n


def timed(fn, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(runs), 1), "max_ms": round(max(runs), 1),
            "min_ms": round(min(runs), 1)}


def measure(db: Database, centre_id: int, repeat: int) -> dict:
    out = {}
    for span, (d_from, d_to) in (("month", MONTH), ("year", YEAR)):
        rows = {}
        for g in GROUPS:
            compute_stats(db, centre_id, d_from, d_to, g)  # warm the database's cache once
            rows[g] = timed(lambda g=g: compute_stats(db, centre_id, d_from, d_to, g), repeat)
        rows["all five"] = timed(lambda: compute_groups(db, centre_id, d_from, d_to), max(1, repeat // 2))
        out[span] = rows
    return out


def prepared_province(url: str, centres: int, log) -> tuple[Database, int]:
    """The database with a province's year (generated now if it has no tickets yet)."""
    from layso.bench.province_year import generate_province
    db = Database(url)
    upgrade(db)
    with db.read() as s:
        n = s.execute(select(func.count(Ticket.id))).scalar()
    if not n:
        log(f"generating a year of {centres} centres into {url} …")
        summary, _ids = generate_province(db, centres, YEAR[0], 365, seed=1, progress=log)
        log(f"  {summary.tickets} tickets, {summary.events} events, {summary.ratings} ratings "
            f"in {summary.seconds:.0f} s")
        n = summary.tickets
    return db, n


def measure_province(db: Database, repeat: int) -> dict:
    from layso.server.queries import province_stats as ps
    centres = ps.province_centres(db)
    out: dict = {"centres": len(centres)}
    for span, (d_from, d_to) in (("month", MONTH), ("year", YEAR)):
        rows = {}
        for g in ps.PROVINCE_GROUPS:
            ps.province_rows(db, centres, d_from, d_to, g)  # warm the database's cache once
            rows[g] = timed(lambda g=g: ps.province_rows(db, centres, d_from, d_to, g), repeat)
        rows["field as XLSX"] = timed(lambda: ps.table_workbook(ps.province_rows(db, centres, d_from, d_to, "field"),
                                                                "bench"), max(1, repeat // 2))
        if span == "month":
            rows["month report (XLSX)"] = timed(lambda: ps.month_report(db, MONTH[0].year, MONTH[0].month), repeat)
        out[span] = rows
    return out


def main_province(args, log) -> int:
    from flask import Flask
    from flask_babel import Babel
    app = Flask(__name__)  # the tables' and files' words come through Flask-Babel, as on the pages
    Babel(app, default_locale="vi")
    targets = [("sqlite", f"sqlite:///{Path(args.workdir) / f'province-{args.centres}.db'}")]
    if not args.skip_postgres:
        url = args.postgres.rsplit("/", 1)[0] + f"/layso_stats_province_{args.centres}"
        ensure_postgres_database(url)
        targets.append(("postgresql", url))
    report = {"cores": os.cpu_count(), "load_average_before": list(os.getloadavg()), "targets_ms": PROVINCE_TARGETS_MS,
              "month": [d.isoformat() for d in MONTH], "year": [d.isoformat() for d in YEAR], "databases": {}}
    with app.app_context():
        for name, url in targets:
            db, n = prepared_province(url, args.centres, log)
            report["databases"][name] = {"tickets": n, **measure_province(db, args.repeat)}
            db.dispose()
    report["load_average_after"] = list(os.getloadavg())
    report["targets_met"] = all(v["median_ms"] <= PROVINCE_TARGETS_MS[span] for d in report["databases"].values()
                                for span in PROVINCE_TARGETS_MS for v in d[span].values())
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print_report(report, PROVINCE_TARGETS_MS, args.repeat)
    return 0


def print_report(report: dict, targets_ms: dict, repeat: int) -> None:
    """The timings as a table: per database, a line for the month and one for the year."""
    print(f"cores {report['cores']}, load average before {report['load_average_before'][0]:.2f}, "
          f"after {report['load_average_after'][0]:.2f}; median (max) of {repeat} runs, ms")
    for name, d in report["databases"].items():
        centres = f"{d['centres']} centres, " if "centres" in d else ""
        print(f"\n{name}: {centres}{d['tickets']} tickets")
        for span in ("month", "year"):
            cells = "  ".join(f"{g} {v['median_ms']:.0f} ({v['max_ms']:.0f})" for g, v in d[span].items())
            print(f"  {span:<5} (≤ {targets_ms[span]} ms): {cells}")
    print(f"\ntargets met (medians): {'yes' if report['targets_met'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp") + "/layso-stats-bench")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/layso_stats_year")
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--tickets", type=int, default=250_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--centres", type=int, default=1, help="a province of this many centres (see above)")
    args = p.parse_args(argv)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else (lambda m: print(m, flush=True))
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if args.centres > 1:
        return main_province(args, log)
    targets = [("sqlite", f"sqlite:///{Path(args.workdir) / 'year.db'}")]
    if not args.skip_postgres:
        ensure_postgres_database(args.postgres)
        targets.append(("postgresql", args.postgres))
    report = {"cores": os.cpu_count(), "load_average_before": list(os.getloadavg()), "targets_ms": TARGETS_MS,
              "month": [d.isoformat() for d in MONTH], "year": [d.isoformat() for d in YEAR], "databases": {}}
    for name, url in targets:
        db, centre_id, n = prepared(url, args.tickets, log)
        report["databases"][name] = {"tickets": n, **measure(db, centre_id, args.repeat)}
        db.dispose()
    report["load_average_after"] = list(os.getloadavg())
    met = all(r[g]["median_ms"] <= TARGETS_MS[span] for d in report["databases"].values()
              for span, r in d.items() if span in TARGETS_MS for g in GROUPS)
    report["targets_met"] = met
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print_report(report, TARGETS_MS, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
