"""Read models of the administration pages: the overview (counts and the audit log), fields with
the counters serving them, counters, devices and accounts of one centre."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from layso.server.storage.models import AuditEntry, Centre, Counter, Device, Field, User
from layso.server.storage.where import active_counters, active_fields
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

AUDIT_ROWS = 60


def overview(s: Session, cid: int) -> dict:
    """{"counts": {fields, counters, devices, accounts}, "log": the latest audit entries}."""
    entries = s.execute(select(AuditEntry).where(AuditEntry.centre_id == cid)
                        .order_by(AuditEntry.id.desc()).limit(AUDIT_ROWS)).scalars().all()
    users = {u.id: u for u in s.execute(select(User).where(User.centre_id == cid)).scalars()}
    counts = {
        "fields": len(s.execute(select(Field.id).where(*active_fields(cid))).all()),
        "counters": len(s.execute(select(Counter.id).where(*active_counters(cid))).all()),
        "devices": len(s.execute(select(Device.id).where(Device.centre_id == cid, Device.revoked_at.is_(None))).all()),
        "accounts": sum(1 for u in users.values() if u.active)}
    zone = ZoneInfo(s.get(Centre, cid).timezone)
    log = [{"at": e.at.astimezone(zone), "user": (users[e.user_id].username if e.user_id in users else "—"),
            "action": e.action, "target": e.target, "data": e.data} for e in entries]
    return {"counts": counts, "log": log}


def fields(s: Session, cid: int) -> dict:
    """Every field (active first), every counter, and the active counters serving each field."""
    rows = s.execute(select(Field).where(Field.centre_id == cid)
                     .order_by(Field.active.desc(), Field.position, Field.id)).scalars().all()
    counters = s.execute(select(Counter).where(Counter.centre_id == cid).options(selectinload(Counter.fields))
                         .order_by(Counter.number)).scalars().all()
    served = {f.id: [c.number for c in counters if c.active and f in c.fields] for f in rows}
    return {"fields": rows, "counters": counters, "served": served}


def counters(s: Session, cid: int) -> dict:
    rows = s.execute(select(Counter).where(Counter.centre_id == cid)
                     .options(selectinload(Counter.fields), selectinload(Counter.officer))
                     .order_by(Counter.active.desc(), Counter.number)).scalars().all()
    active = s.execute(select(Field).where(*active_fields(cid)).order_by(Field.position)).scalars().all()
    return {"counters": rows, "all_fields": active}


def devices(s: Session, cid: int) -> dict:
    """Devices (revoked last), active counters and fields; dates in the centre's zone, not UTC."""
    rows = s.execute(select(Device).where(Device.centre_id == cid).options(selectinload(Device.counter))
                     .order_by(Device.revoked_at.is_not(None), Device.role, Device.name)).scalars().all()
    numbers = s.execute(select(Counter.number).where(*active_counters(cid)).order_by(Counter.number)).scalars().all()
    active = s.execute(select(Field).where(*active_fields(cid)).order_by(Field.position)).scalars().all()
    zone = ZoneInfo(s.get(Centre, cid).timezone)
    return {"devices": rows, "counter_numbers": numbers, "all_fields": active,
            "field_names": {f.code: f.name for f in active}, "local_date": lambda dt: dt.astimezone(zone)}


def accounts(s: Session, cid: int, hidden_role: str | None = None) -> list[User]:
    """The centre's accounts (active first), without those of `hidden_role`."""
    where = [User.centre_id == cid] + ([User.role != hidden_role] if hidden_role else [])
    return s.execute(select(User).where(*where)
                     .order_by(User.active.desc(), User.role.desc(), User.username)).scalars().all()
