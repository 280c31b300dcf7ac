"""Backups and restores of the whole database (`layso backup`, `layso restore`, before migrations).

SQLite: SQLite's online backup API copies a consistent snapshot while the server keeps writing
(`layso-…Z.sqlite3`). PostgreSQL: `pg_dump --format=custom` (`layso-…Z.pgdump`), restored with
`pg_restore --clean`. Every backup is checked right after it is written (SQLite: `PRAGMA
integrity_check` and the schema version table; PostgreSQL: `pg_restore --list`), and a restore
checks the file first, then compares the row count of every table with the file's.
Old backups beyond `keep` are removed, newest kept.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from layso.server.storage.database import Database, normalise_url

NAME = re.compile(r"^layso-\d{8}T\d{6}(?:\d{6})?Z(?:-[a-z0-9-]+)?\.(sqlite3|pgdump)$")
DEFAULT_KEEP = 14


class BackupError(RuntimeError):
    """A backup or restore could not be made or did not pass its check."""


@dataclass
class BackupResult:
    path: Path
    tables: dict[str, int]  # rows per table in the backup


def default_backup_dir(db_url: str) -> Path:
    """LAYSO_BACKUP_DIR, else `backups/` beside the SQLite file, else the data folder's `backups/`."""
    env = os.environ.get("LAYSO_BACKUP_DIR")
    if env:
        return Path(env)
    url = normalise_url(db_url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):]).parent / "backups"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "layso" / "backups"


def sqlite_path(db_url: str) -> Path | None:
    url = normalise_url(db_url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///"):])
    return None


def libpq_url(db_url: str) -> str:
    """The URL as pg_dump and psql spell it (no SQLAlchemy driver suffix)."""
    url = normalise_url(db_url)
    return "postgresql://" + url.split("://", 1)[1]


def _stamp() -> str:
    """The moment in a backup's name (UTC, to the microsecond), read from the clock once: reading the
    seconds and the fraction apart named a backup made at …:18.000127 "…17000127", before one made at
    …:17.994812, and `prune` then removed the newer one."""
    seconds, micro = divmod(time.time_ns() // 1000, 1_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"{micro:06d}Z"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def table_counts(db_url: str) -> dict[str, int]:
    """Rows per table of a database (every table, the schema version included)."""
    engine = create_engine(normalise_url(db_url))
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def backup(db_url: str, out_dir: Path | None = None, keep: int = DEFAULT_KEEP, label: str = "") -> BackupResult:
    """Write a checked backup of the database into `out_dir`, then keep only the newest `keep`."""
    out = Path(out_dir) if out_dir else default_backup_dir(db_url)
    out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{label}" if label else ""
    src = sqlite_path(db_url)
    if src is not None:
        if not src.exists():
            raise BackupError(f"no database at {src}")
        path = out / f"layso-{_stamp()}{suffix}.sqlite3"
        tmp = path.with_suffix(".partial")
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)  # the online backup API: a consistent snapshot, writers go on
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            target.close()
            source.close()
        tables = check_sqlite_file(tmp)
        os.replace(tmp, path)
    elif normalise_url(db_url).startswith("postgresql"):
        path = out / f"layso-{_stamp()}{suffix}.pgdump"
        tmp = path.with_suffix(".partial")
        done = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={tmp}",
                               f"--dbname={libpq_url(db_url)}"], capture_output=True, text=True)
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {done.stderr.strip()[-500:]}")
        check_pgdump_file(tmp)
        os.replace(tmp, path)
        tables = table_counts(db_url)
    else:
        raise BackupError(f"cannot back up {db_url.split(':', 1)[0]} databases")
    os.chmod(path, 0o600)  # accounts' password hashes and device token hashes are in it
    prune(out, keep)
    return BackupResult(path, tables)


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` layso backups in `folder`; the removed paths."""
    if keep <= 0:
        return []
    backups = sorted((p for p in folder.iterdir() if NAME.match(p.name)), key=lambda p: p.name, reverse=True)
    gone = backups[keep:]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def check_sqlite_file(path: Path) -> dict[str, int]:
    """A backup file is a whole layso database: integrity check passes and the schema version is there."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise BackupError(f"{path} is not an SQLite database: {err}") from err
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        if not result or result[0] != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check: {result}")
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        if "alembic_version" not in names or "centres" not in names:
            raise BackupError(f"{path} is not a layso database (no schema version or centres table)")
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    except sqlite3.DatabaseError as err:
        raise BackupError(f"{path} is not a usable SQLite database: {err}") from err
    finally:
        conn.close()


def check_pgdump_file(path: Path) -> None:
    done = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{path} is not a pg_dump archive: {done.stderr.strip()[-300:]}")
    if "alembic_version" not in done.stdout or "centres" not in done.stdout:
        raise BackupError(f"{path} is not a layso database (no schema version or centres table)")


def restore(db_url: str, path: Path) -> dict[str, int]:
    """Replace the database with a backup (the server must be stopped). Checks the file first, then
    that every table holds as many rows as the backup; the row counts."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    target = sqlite_path(db_url)
    if path.suffix == ".sqlite3" or (target is not None and path.suffix != ".pgdump"):
        if target is None:
            raise BackupError("an SQLite backup restores into an SQLite database (--db sqlite:///…)")
        expected = check_sqlite_file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        dest = sqlite3.connect(target, timeout=30)
        try:
            source.backup(dest)  # replaces every page of the target, WAL included
        finally:
            dest.close()
            source.close()
    else:
        if not normalise_url(db_url).startswith("postgresql"):
            raise BackupError("a pg_dump backup restores into a PostgreSQL database (--db postgresql://…)")
        check_pgdump_file(path)
        expected = _pgdump_counts(path)
        done = subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                               f"--dbname={libpq_url(db_url)}", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()[-500:]}")
    got = table_counts(db_url)
    missing = {t: n for t, n in expected.items() if got.get(t) != n}
    if missing:
        raise BackupError("the restored database differs from the backup: " +
                          ", ".join(f"{t} has {got.get(t)} rows, the backup {n}" for t, n in missing.items()))
    return got


def _pgdump_counts(path: Path) -> dict[str, int]:
    """Row counts of a pg_dump archive: the data lines of each table's COPY block."""
    done = subprocess.run([_tool("pg_restore"), "--data-only", "--file=-", str(path)], capture_output=True)
    if done.returncode != 0:
        raise BackupError(f"cannot read {path}: {done.stderr.decode(errors='replace')[-300:]}")
    counts: dict[str, int] = {}
    table, n = None, 0
    for line in done.stdout.split(b"\n"):
        if table is None:
            m = re.match(rb'^COPY (?:[\w"]+\.)?"?(\w+)"? ', line)
            if m:
                table, n = m.group(1).decode(), 0
        elif line == b"\\.":
            counts[table] = n
            table = None
        else:
            n += 1
    return counts


def schema_heads() -> set[str]:
    """The newest schema revision(s) this program ships, read from the migration files (without
    importing Alembic, which the server never needs when the database is up to date)."""
    revisions, parents = set(), set()
    for path in (Path(__file__).parent / "migrations" / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r"^revision\s*=\s*['\"](\w+)['\"]", text, re.M)
        down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.update(re.findall(r"['\"](\w+)['\"]", down.group(1)))
    return revisions - parents


def database_revisions(db: Database) -> set[str] | None:
    """The schema revision(s) the database is at; None for a database without layso's tables."""
    with db.write_engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def migration_pending(db: Database) -> bool:
    """True when the database has layso tables at an older schema version than this program's."""
    current = database_revisions(db)
    return current is not None and current != schema_heads()
