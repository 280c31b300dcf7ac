"""`layso bench [--db URL] [--displays N] [--counters N] [--seconds S] [--open-loop RATE] [--workers N] [--json]`
(CONTRACT.md)."""
from __future__ import annotations

import json
import os
import sys


def register(sub) -> None:
    s = sub.add_parser("bench", help="measure a real server process under kiosk and lobby load",
                       description="Start `layso serve` on 127.0.0.1 with a provincial centre and drive it from "
                                   "client processes: the issue scenario (kiosks issuing flat out) and the lobby "
                                   "scenario (displays and counters on Socket.IO). With --db the bench adds "
                                   "centres named bench-… to that database: use a scratch database.")
    s.add_argument("--db", help="database URL (default: a new SQLite file in a temporary folder)")
    s.add_argument("--displays", type=_at_least(0), default=200, help="lobby displays (default 200)")
    s.add_argument("--counters", type=_at_least(1), default=60, help="counters, each with its panel (default 60)")
    s.add_argument("--seconds", type=float, default=30.0, help="length of each scenario's load (default 30)")
    s.add_argument("--scenario", choices=("issue", "lobby", "both", "province"), default="both")
    s.add_argument("--open-loop", type=float, metavar="RATE",
                   help="issue scenario: offer RATE tickets/s on a fixed schedule instead of issuing back to back; "
                        "latency counts from each ticket's scheduled moment")
    s.add_argument("--workers", type=_at_least(1), default=1,
                   help="server processes (above 1: --db postgresql://… and a Redis --message-queue)")
    s.add_argument("--message-queue", default=None,
                   help="Redis URL for several processes (default: LAYSO_MESSAGE_QUEUE); the bench uses a channel of its own")
    s.add_argument("--via-nginx", action="store_true",
                   help="put nginx (deploy/nginx/layso.conf, plain HTTP) between the clients and the server")
    # the province scenario (layso/bench/province.py): many centres on one installation
    s.add_argument("--centres", type=_at_least(1), default=150, help="province: commune centres (default 150)")
    s.add_argument("--devices-per-centre", type=_at_least(1), default=8, help="province: devices each (default 8)")
    s.add_argument("--call-period", type=float, default=60.0,
                   help="province: seconds between a counter's calls (default 60, a busy hour)")
    s.add_argument("--json", action="store_true", help="print the results as JSON")
    s.set_defaults(func=cmd_bench)


def _at_least(low: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise ValueError(text)
        return value
    parse.__name__ = f"whole number ≥ {low}"
    return parse


def cmd_bench(args) -> int:
    """Exit 0 when every correctness check passed and no request failed (speed targets only inform), else 1."""
    from layso.bench.run import BenchError, format_table, run_bench
    if args.seconds <= 0:
        print("layso: --seconds must be positive", file=sys.stderr)
        return 2
    if args.scenario == "province":
        return _province(args)
    if args.open_loop is not None and args.open_loop <= 0:
        print("layso: --open-loop takes a positive rate in tickets/s", file=sys.stderr)
        return 2
    queue = args.message_queue or os.environ.get("LAYSO_MESSAGE_QUEUE")
    if args.workers > 1 and not (args.db and args.db.startswith(("postgresql", "postgres:")) and queue):
        print("layso: --workers above 1 needs --db postgresql://… and --message-queue redis://…", file=sys.stderr)
        return 2
    scenarios = ("issue", "lobby") if args.scenario == "both" else (args.scenario,)
    try:
        report = run_bench(args.db, displays=args.displays, counters=args.counters, seconds=args.seconds,
                           scenarios=scenarios, progress=lambda m: print(f"layso bench: {m}", file=sys.stderr,
                                                                         flush=True),
                           open_loop=args.open_loop, workers=args.workers,
                           message_queue=queue if args.workers > 1 else None, via_nginx=args.via_nginx)
    except BenchError as err:
        print(f"layso: bench failed: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_table(report))
    return 0 if report["correct"] and not report["failed_requests"] else 1


def _province(args) -> int:
    from layso.bench.province import format_province, run_province
    from layso.bench.run import BenchError
    try:
        report = run_province(args.db, centres=args.centres, devices_per_centre=args.devices_per_centre,
                              workers=args.workers, seconds=args.seconds, call_period_s=args.call_period,
                              progress=lambda m: print(f"layso bench: {m}", file=sys.stderr, flush=True),
                              message_queue=args.message_queue, via_nginx=args.via_nginx)
    except BenchError as err:
        print(f"layso: bench failed: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_province(report))
    return 0 if report["correct"] and not report["errors"] else 1
