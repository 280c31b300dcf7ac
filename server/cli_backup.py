"""`layso backup [--out DIR] [--keep N]` and `layso restore FILE` (server/storage/backup.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def _db_url(args) -> str:
    from layso.server.storage.database import default_database_url
    return args.db or default_database_url()


def cmd_backup(args) -> int:
    from layso.server.storage.backup import BackupError, backup
    if args.keep < 1:
        print("layso: --keep must be 1 or more", file=sys.stderr)
        return 2
    try:
        made = backup(_db_url(args), Path(args.out) if args.out else None, keep=args.keep)
    except BackupError as err:
        print(f"layso: backup failed: {err}", file=sys.stderr)
        return 1
    rows = sum(made.tables.values())
    print(f"layso: backup written and checked: {made.path} ({len(made.tables)} tables, {rows} rows)")
    return 0


def cmd_restore(args) -> int:
    from layso.server.storage.backup import BackupError, restore
    url = _db_url(args)
    if not args.yes and sys.stdin.isatty():
        answer = input(f"Replace every row of {url.split('@')[-1]} with {args.file}? Stop the server first. [y/N] ")
        if answer.strip().lower() not in ("y", "yes", "c", "có"):
            print("layso: nothing restored")
            return 1
    try:
        counts = restore(url, Path(args.file))
    except BackupError as err:
        print(f"layso: restore failed: {err}", file=sys.stderr)
        return 1
    print(f"layso: restored {args.file}: {len(counts)} tables, {sum(counts.values())} rows, every table checked "
          "against the backup")
    return 0


def register(sub) -> None:
    s = sub.add_parser("backup", help="write a checked backup of the database",
                       description="SQLite: the online backup API (the server may keep running). PostgreSQL: "
                                   "pg_dump (Debian: postgresql-client). Keeps the newest --keep backups.")
    s.add_argument("--out", help="folder for backups (default: LAYSO_BACKUP_DIR, or backups/ beside the SQLite file)")
    s.add_argument("--keep", type=int, default=int(os.environ.get("LAYSO_BACKUP_KEEP", "14")),
                   help="how many backups to keep (default 14)")
    s.add_argument("--db", help="database URL (default: LAYSO_DATABASE_URL or the SQLite file)")
    s.set_defaults(func=cmd_backup)

    s = sub.add_parser("restore", help="replace the database with a backup (stop the server first)")
    s.add_argument("file", help="a file `layso backup` wrote (.sqlite3 or .pgdump)")
    s.add_argument("--db", help="database URL (default: LAYSO_DATABASE_URL or the SQLite file)")
    s.add_argument("--yes", action="store_true", help="do not ask")
    s.set_defaults(func=cmd_restore)
