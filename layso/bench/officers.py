"""Stand-in officers for load tests and test centres: a counter with nobody signed in cannot call,
so benches seat an officer (an account with no usable password) at every counter without one."""
from __future__ import annotations

from layso.server import clock
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, User
from sqlalchemy import select


def seat_officers(db: Database, centre_id: int | None = None) -> dict[int, int]:
    """Seat an officer at every counter without one (of one centre, or of all), written straight to
    the database without events; the counters keep their status. → {counter id: user id}."""
    seated = {}
    with db.write() as s:
        centres = [centre_id] if centre_id is not None else list(s.execute(select(Centre.id)).scalars())
        for cid in centres:
            for c in s.execute(select(Counter).where(Counter.centre_id == cid,
                                                     Counter.officer_id.is_(None))).scalars():
                u = User(centre_id=cid, username=f"officer-{cid}-{c.number}", full_name=f"Cán bộ quầy {c.number}",
                         role="staff", password_hash="!", active=True, created_at=clock.now())
                s.add(u)
                s.flush()
                c.officer_id = u.id
                seated[c.id] = u.id
    return seated
