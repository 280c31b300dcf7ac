"""Alembic migrations, run programmatically at server start and by the CLI."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from layso.server.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.write_engine
    return cfg


def upgrade(db: Database) -> None:
    command.upgrade(alembic_config(db), "head")


def upgrade_url(db_url: str) -> None:
    """Migrate the database at `db_url` (a serving process's child: `startup.upgrade_in_a_child`)."""
    db = Database(db_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
