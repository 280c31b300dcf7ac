"""Backups and restores: every table, row by row, comes back; a broken file is refused; old backups
are pruned; a database is backed up automatically before a migration."""
from __future__ import annotations

import os
import shutil
import sqlite3
import stat

import pytest
from sqlalchemy import create_engine, inspect, text

from layso.cli import main
from layso.config import parse_config
from layso.server.storage import backup
from layso.server.storage.database import Database, normalise_url


def every_row(url: str) -> dict[str, list[tuple]]:
    """Every table's rows, ordered, as plain tuples: the restore test compares all of it."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            out = {}
            for name in sorted(inspect(conn).get_table_names()):
                cols = [c["name"] for c in inspect(conn).get_columns(name)]
                columns = ", ".join(f'"{c}"' for c in cols)
                out[name] = sorted(tuple(str(v) for v in row) for row in
                                   conn.execute(text(f'SELECT {columns} FROM "{name}"')))
            return out
    finally:
        engine.dispose()


def busy_centre(url: str, small_config) -> None:
    """A centre with a day's worth of everything: tickets in every state, events, a rating, devices, users."""
    from layso.server.engine.accounts import add_user
    from layso.server.engine.devices import add_device
    from layso.server.engine import QueueEngine, seed_centre
    from layso.server.storage.migrate import upgrade
    db = Database(url)
    upgrade(db)
    cid = seed_centre(db, small_config)
    add_user(db, "lan", "staff", "password-123", full_name="Nguyễn Thị Lan", pin="1111")
    add_user(db, "minh", "staff", "password-123", full_name="Trần Văn Minh", pin="2222")
    add_device(db, "kiosk", "Kiosk sảnh")
    add_device(db, "counter", "Bảng quầy 1", counter=1)
    e = QueueEngine(db)
    from layso.server.storage.models import User
    from sqlalchemy import select
    with db.read() as s:
        staff = dict(s.execute(select(User.username, User.id)).all())
    e.sign_in(cid, 1, staff["lan"])  # an officer at each counter that calls
    e.sign_in(cid, 2, staff["minh"])
    for field in ("dat-dai", "bhxh", "dat-dai", "tu-phap-ho-tich", "bhxh"):
        e.issue(cid, field)
    called = e.call_next(cid, 1).value
    e.complete(cid, 1)
    e.call_next(cid, 2)
    e.skip(cid, 2)
    e.rate(cid, 4, ticket_id=called["ticket"]["id"])
    db.dispose()


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("LAYSO_SECRET_KEY", "test-secret")


def test_sqlite_backup_and_restore_bring_back_every_table(tmp_path, small_config, frozen_clock, capsys):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    busy_centre(url, small_config)
    before = every_row(url)
    assert before["tickets"] and before["ticket_events"] and before["ratings"] and before["devices"]
    assert main(["backup", "--db", url, "--out", str(tmp_path / "bk")]) == 0
    assert "written and checked" in capsys.readouterr().out
    [made] = list((tmp_path / "bk").iterdir())
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    assert main(["restore", str(made), "--db", target, "--yes"]) == 0
    assert every_row(target) == before
    # restoring over a database that moved on brings it back to the backup's moment
    from layso.server.engine import QueueEngine
    db = Database(url)
    QueueEngine(db).issue(1, "bhxh")
    db.dispose()
    assert every_row(url) != before
    assert main(["restore", str(made), "--db", url, "--yes"]) == 0
    assert every_row(url) == before


@pytest.mark.postgres
def test_postgresql_backup_and_restore_bring_back_every_table(tmp_path, pg_url, small_config, frozen_clock):
    if shutil.which("pg_dump") is None:
        if os.environ.get("LAYSO_REQUIRE_SERVICES") == "1":
            pytest.fail("pg_dump is required here (LAYSO_REQUIRE_SERVICES=1): ./dev test installs postgresql-client")
        pytest.skip("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    busy_centre(pg_url, small_config)
    before = every_row(pg_url)
    made = backup.backup(pg_url, tmp_path / "bk")
    assert made.path.suffix == ".pgdump" and made.tables["tickets"] == len(before["tickets"])
    from layso.server.engine import QueueEngine
    db = Database(pg_url)
    QueueEngine(db).issue(1, "bhxh")  # the database moves on after the backup
    db.dispose()
    counts = backup.restore(pg_url, made.path)
    assert counts["tickets"] == len(before["tickets"])
    assert every_row(pg_url) == before


def test_a_broken_or_foreign_file_is_refused_and_nothing_changes(tmp_path, small_config, frozen_clock, capsys):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    busy_centre(url, small_config)
    before = every_row(url)
    junk = tmp_path / "layso-20260101T000000Z.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    assert main(["restore", str(junk), "--db", url, "--yes"]) == 1
    assert "restore failed" in capsys.readouterr().err
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(backup.BackupError, match="not a layso database"):
        backup.restore(url, other)
    with pytest.raises(backup.BackupError, match="no backup file"):
        backup.restore(url, tmp_path / "missing.sqlite3")
    assert every_row(url) == before


def test_old_backups_beyond_keep_are_removed(tmp_path, small_config, frozen_clock):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    busy_centre(url, small_config)
    made = [backup.backup(url, tmp_path / "bk", keep=3).path for _ in range(5)]
    (tmp_path / "bk" / "notes.txt").write_text("the installer's own file stays")
    backup.prune(tmp_path / "bk", 3)
    left = sorted(p.name for p in (tmp_path / "bk").iterdir())
    assert left == sorted([p.name for p in made[-3:]] + ["notes.txt"])


def test_backups_are_named_in_the_order_they_were_made_across_a_second(monkeypatch):
    """A backup's name is its moment read once: a clock that moves on between two readings (here one
    microsecond a reading, from just before a whole second) still names each backup after the one
    before it, so `prune` keeps the newest."""
    import time as real

    class Clock:
        now_ns = 1_764_892_817_999_998_000  # 00:00:17.999998 UTC on some day

        def _tick(self) -> int:
            self.now_ns += 1_000
            return self.now_ns

        def time_ns(self) -> int:
            return self._tick()

        def time(self) -> float:
            return self._tick() / 1e9

        def gmtime(self, secs=None):
            return real.gmtime(self.time() if secs is None else secs)

        strftime = staticmethod(real.strftime)

    monkeypatch.setattr(backup, "time", Clock())
    names = [backup._stamp() for _ in range(6)]
    assert names == sorted(names) and len(set(names)) == 6
    assert names[-1].endswith("18000004Z")


def test_a_migration_on_start_backs_up_first(tmp_path, small_config, monkeypatch):
    from alembic import command
    from layso.server.startup import prepare_database
    from layso.server.storage.migrate import alembic_config
    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("LAYSO_BACKUP_DIR", str(tmp_path / "bk"))
    prepare_database(url, small_config).dispose()  # a new database: nothing to back up
    assert not (tmp_path / "bk").exists()
    db = Database(url)
    command.downgrade(alembic_config(db), "-1")  # as if written by the previous release
    db.dispose()
    prepare_database(url, None).dispose()
    [made] = list((tmp_path / "bk").iterdir())
    assert made.name.endswith("-before-migration.sqlite3")
    assert backup.check_sqlite_file(made)["centres"] == 1
    prepare_database(url, None).dispose()  # up to date: no second backup
    assert len(list((tmp_path / "bk").iterdir())) == 1
