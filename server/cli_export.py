"""`layso export --from YYYY-MM-DD --to YYYY-MM-DD --format csv|xlsx [--out PATH] [--config PATH] [--db URL]`

The statistics of a range of local days, with the same figures as the statistics page: XLSX has a
summary sheet and one sheet per group; CSV has every group, one after the other, with a first
column naming the group. `--group` limits the file to one group; `--tickets` writes the raw
ticket-level list instead (for the province's reports). `--out -` writes CSV to standard output.
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from layso.server.errors import QueueError, storage_failure
from sqlalchemy.exc import SQLAlchemyError

from layso.config import ConfigError, load_config


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def cmd_export(args) -> int:
    problem = _bad_arguments(args)
    if problem is not None:
        return _fail(problem, 2)
    from layso.server.storage.database import Database, default_database_url
    db = Database(args.db or default_database_url())
    try:
        out = _export(db, args)
    except (ConfigError, QueueError, SQLAlchemyError, OverflowError, OSError) as err:
        return _fail(*_why(err))
    finally:
        db.dispose()
    if out is not None:
        print(f"layso: wrote {out}")
    return 0


def _bad_arguments(args) -> str | None:
    if args.to < args.start:
        return "--to must be on or after --from"
    if args.start.year < 1970 or args.to.year > 2999:
        return "--from and --to must lie between 1970-01-01 and 2999-12-31"
    if args.out == "-" and args.format != "csv":
        return "only CSV can be written to standard output"
    return None


def _fail(message: str, code: int) -> int:
    print(f"layso: {message}", file=sys.stderr)
    return code


def _why(err: Exception) -> tuple[str, int]:
    """What went wrong, in a line (no traceback), and the exit code: 2 for the caller's input, 1 for
    the machine (the database is away, full or read-only; the file cannot be written)."""
    if isinstance(err, ConfigError):
        return str(err), 2
    if isinstance(err, QueueError):
        return err.message, 2
    if isinstance(err, SQLAlchemyError):
        return (f"the database failed ({storage_failure(err) or 'database_error'}): "
                f"{getattr(err, 'orig', None) or err}", 1)
    if isinstance(err, OverflowError):
        return "the dates lie outside the calendar the server can count (1970 to 2999)", 2
    return f"cannot write the export: {err}", 1


def _export(db, args) -> Path | None:
    """Migrate, seed from the configuration if there is one, and write the file; → its path (None
    for standard output)."""
    from layso.server.engine import seed_centre
    from layso.server.engine.base import centre_id_of
    from layso.server.queries.export import translated
    from layso.server.storage.migrate import upgrade

    config_path = args.config or os.environ.get("LAYSO_CONFIG") or \
        ("layso.toml" if Path("layso.toml").exists() else None)
    upgrade(db)
    if config_path:
        seed_centre(db, load_config(config_path))
    centre_id = centre_id_of(db, args.centre)
    with translated(args.lang):
        name, chunks = _chunks(db, centre_id, args)
        return _write(chunks, name, args.out)


def _chunks(db, centre_id: int, args):
    """(file name, the file's bytes in chunks): a CSV of tickets is streamed (a year is tens of megabytes)."""
    from layso.server.queries.export import export_stats, export_tickets, ticket_csv_chunks, tickets_file_name
    if args.tickets and args.format == "csv":
        return tickets_file_name(args.start, args.to, "csv"), ticket_csv_chunks(db, centre_id, args.start, args.to)
    name, content = (export_tickets(db, centre_id, args.start, args.to, args.format) if args.tickets
                     else export_stats(db, centre_id, args.start, args.to, args.format, args.group))
    return name, iter([content])


def _write(chunks, name: str, out_arg: str | None) -> Path | None:
    """Write to standard output ('-'), or atomically to a file (a folder gets the default name)."""
    if out_arg == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return None
    out = Path(out_arg) if out_arg else Path(name)
    if out.is_dir():
        out = out / name
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, out)
    return out


def register(sub) -> None:
    s = sub.add_parser("export", help="export statistics (CSV or XLSX) for a range of days")
    s.add_argument("--from", dest="start", type=_day, required=True, metavar="YYYY-MM-DD")
    s.add_argument("--to", type=_day, required=True, metavar="YYYY-MM-DD")
    s.add_argument("--format", choices=("csv", "xlsx"), required=True)
    s.add_argument("--out", help="file or folder to write (default: a named file here; '-' for standard output)")
    s.add_argument("--group", choices=("all", "field", "counter", "officer", "hour", "day", "remote"), default="all",
                   help="one group only (default: all)")
    s.add_argument("--tickets", action="store_true", help="the raw ticket-level list instead of the statistics")
    s.add_argument("--lang", choices=("vi", "en"), default="vi", help="language of the headers (default: vi)")
    s.add_argument("--centre", help="centre code (when the database has several)")
    s.add_argument("--config")
    s.add_argument("--db")
    s.set_defaults(func=cmd_export)
