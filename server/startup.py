"""What a server does once before it serves: back up (before a migration), migrate, seed, check.

Kept out of `create_app`, which only assembles: `layso serve` calls `prepare_database` once (in the
parent when there are several worker processes), then builds the app over the prepared database.
"""
from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, func, select, update

from layso.config import Config
from layso.server.engine import seed_centre
from layso.server.storage import backup
from layso.server.storage.database import Database, gevent_patched
from layso.server.storage.models import Centre, Device, DeviceConnection

log = logging.getLogger("layso.startup")


def prepare_database(db_url: str, config: Config | None = None, backup_first: bool = True) -> Database:
    """Open the database, back it up if a migration is due (never on a new one), migrate, seed the
    centre from `config` the first time; refuse a database with no centre."""
    from layso.server.api.readiness import refuse_unwritable
    db = Database(db_url)
    with refuse_unwritable(db):  # a read-only, full or unreachable database: a clear message, no start
        current = backup.database_revisions(db)
        if current != backup.schema_heads():  # a new database, or one to migrate (Alembic loads only then)
            if backup_first and current is not None:
                made = backup.backup(db.url, label="before-migration")
                log.info("backed up the database before migrating: %s", made.path)
            if gevent_patched():
                upgrade_in_a_child(db.url)
            else:
                from layso.server.storage.migrate import upgrade
                upgrade(db)
        if config is not None:
            seed_centre(db, config)
    with db.read() as s:
        if s.execute(select(func.count(Centre.id))).scalar() == 0:
            db.dispose()
            raise RuntimeError("the database has no centre yet: start the server with --config "
                               "(write one with `layso init`)")
    return db


MIGRATE = "import sys; from layso.server.storage.migrate import upgrade_url; upgrade_url(sys.argv[1])"


def upgrade_in_a_child(db_url: str) -> None:
    """Migrate the database in a process of its own: a serving process that migrated it kept Alembic,
    Mako and Pygments in its memory for as long as it ran (11.6 MiB, a ninth of a lobby server's)."""
    done = subprocess.run([sys.executable, "-c", MIGRATE, db_url], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"migrating the database failed:\n{tail}")


def forget_presence(db: Database) -> None:
    """One server process owns every connection: nobody is connected before it starts."""
    with db.write() as s:
        s.execute(delete(DeviceConnection))
        s.execute(update(Device).where(Device.online.is_(True)).values(online=False))


def secret_key(db_url: str) -> str:
    """LAYSO_SECRET_KEY, else a key generated once and kept (mode 0600) beside the SQLite file or in
    the data folder, so sessions survive restarts."""
    key = os.environ.get("LAYSO_SECRET_KEY")
    if key:
        return key
    return kept_once(data_folder(db_url) / "secret_key", lambda: secrets.token_hex(32)).strip()


def data_folder(db_url: str) -> Path:
    """Where generated keys are kept: beside the SQLite file, else in the user's data folder."""
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        folder = Path(db_url[len("sqlite:///"):]).parent
    else:
        folder = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "layso"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def kept_once(path: Path, make) -> str:
    """The text of `path`, written first (mode 0600) with `make()` when absent. Written to a temporary
    file and linked into place, so several processes starting together all read the one that won."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process was first: its key is the one
        finally:
            tmp.unlink()
    return path.read_text()
