"""Small reads about one centre that pages and sockets need: the centre's row (code, name, time
zone, settings, ticker), its active fields by name, one field's name, the last event's `seq`."""
from __future__ import annotations

from layso.server.errors import NotFound
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Field
from layso.server.storage.where import active_fields
from sqlalchemy import select


def centre(db: Database, centre_id: int) -> Centre:
    """The centre's row, detached (its columns stay readable after the session)."""
    with db.read() as s:
        c = s.get(Centre, centre_id)
        if c is None:
            raise NotFound("unknown centre", "centre_not_found")
        return c


def field_choices(db: Database, centre_id: int) -> list[tuple[str, str]]:
    """(code, name) of the active fields, in the kiosk's order."""
    with db.read() as s:
        return [tuple(r) for r in s.execute(select(Field.code, Field.name).where(*active_fields(centre_id))
                                            .order_by(Field.position))]


def field_name(db: Database, centre_id: int, code: str) -> str | None:
    with db.read() as s:
        return s.execute(select(Field.name).where(Field.centre_id == centre_id, Field.code == code)
                         ).scalar_one_or_none()


def centre_seq(db: Database, centre_id: int) -> int | None:
    """The centre's last event seq, as committed."""
    with db.read() as s:
        return s.execute(select(Centre.seq).where(Centre.id == centre_id)).scalar_one_or_none()
