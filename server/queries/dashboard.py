"""Read models of the manager's live view, beside the engine's `state`: since when each field's
oldest ticket waits, each field's target wait, and the centre's devices."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from layso.server.engine import Settings
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Device, Field, Ticket
from layso.server.storage.where import waiting_on
from sqlalchemy import func, select


@dataclass
class LiveFigures:
    oldest: dict[str, datetime]  # field code → issue time of its oldest ticket waiting today
    targets_s: dict[str, int]  # field code → its target wait in seconds
    default_target_s: int  # the centre's target, for a field without one
    devices: list[dict]  # name, role, online, printer, detail, counter, last_seen (in the centre's zone)


def live_figures(db: Database, centre_id: int, today: date, tz: ZoneInfo) -> LiveFigures:
    with db.read() as s:
        oldest = dict(s.execute(select(Ticket.field_id, func.min(Ticket.issued_at))
                                .where(*waiting_on(centre_id, today)).group_by(Ticket.field_id)).all())
        default_target = Settings.of(s.get(Centre, centre_id)).queue.target_wait_min
        field_rows = s.execute(select(Field.id, Field.code, Field.target_wait_min)
                               .where(Field.centre_id == centre_id)).all()
        devices = s.execute(select(Device).where(Device.centre_id == centre_id, Device.revoked_at.is_(None))
                            .order_by(Device.role, Device.name)).scalars().all()
        device_rows = [{"name": d.name, "role": d.role, "online": d.online, "printer": d.printer,
                        "detail": d.status_detail, "counter": d.counter.number if d.counter else None,
                        "last_seen": d.last_seen_at.astimezone(tz) if d.last_seen_at else None}
                       for d in devices]
    codes = {fid: code for fid, code, _t in field_rows}
    return LiveFigures(oldest={codes[fid]: at for fid, at in oldest.items() if fid in codes},
                       targets_s={code: (t or default_target) * 60 for _fid, code, t in field_rows},
                       default_target_s=default_target * 60, devices=device_rows)
