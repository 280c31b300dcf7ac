"""Devices: a new device and its token (the CLI, the administrator's page); a device reports its
printer's status; its connections (one `device_connections` row each, in any server process) make it
online; an administrator revokes a device's token."""
from __future__ import annotations

from datetime import timedelta

from layso.server import clock
from layso.server.domain.accounts import DEVICE_ROLES, hash_token, new_device_token
from layso.server.engine.base import centre_id_of
from layso.server.engine.context import Command, Result
from layso.server.errors import BadRequest, NotFound
from layso.server.storage.database import Database
from layso.server.storage.models import AuditEntry, Counter, Device, DeviceConnection, Field
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from layso.protocol import PRINTER_STATUSES
from layso.protocol import EventType as E


def add_device(db: Database, role: str, name: str, centre_code: str | None = None, counter: int | None = None,
               fields: list[str] | None = None, counters: list[int] | None = None, user_id: int | None = None) -> str:
    """A new device in the centre `centre_code` (the only one when None); → its token, shown once
    (only its hash is stored). A counter panel acts at one counter; a display may show a zone (some
    fields, some counters). `user_id`: who added it, for the audit log."""
    _check_device(role, name, counter, fields, counters)
    centre_id = centre_id_of(db, centre_code)
    token = new_device_token()
    with db.write() as s:
        counter_id = _counter_id(s, centre_id, counter) if counter is not None else None
        _check_zone(s, centre_id, fields, counters)
        now = clock.now()
        s.add(Device(centre_id=centre_id, role=role, name=name, token_hash=hash_token(token), counter_id=counter_id,
                     zone_fields=fields or None, zone_counters=counters or None, created_at=now))
        s.add(AuditEntry(centre_id=centre_id, at=now, user_id=user_id, action="device.add", target=name,
                         data={"role": role, "counter": counter, "fields": fields, "counters": counters}))
    return token


def _check_device(role: str, name: str, counter, fields, counters) -> None:
    if role not in DEVICE_ROLES:
        raise BadRequest(f"role must be one of {', '.join(DEVICE_ROLES)}")
    if not name or len(name) > 100:
        raise BadRequest("name must be 1 to 100 characters")
    if role == "counter" and counter is None:
        raise BadRequest("a counter device needs --counter N")
    if role != "counter" and counter is not None:
        raise BadRequest("--counter is only for counter devices")
    if role != "display" and (fields or counters):
        raise BadRequest("--fields and --counters limit a display to a zone; use them with --role display")


def _counter_id(s: Session, centre_id: int, number: int) -> int:
    counter_id = s.execute(select(Counter.id).where(Counter.centre_id == centre_id,
                                                    Counter.number == number)).scalar_one_or_none()
    if counter_id is None:
        raise NotFound(f"unknown counter {number}")
    return counter_id


def _check_zone(s: Session, centre_id: int, fields: list[str] | None, counters: list[int] | None) -> None:
    """A display's zone names only the centre's fields and counters."""
    if fields:
        known = set(s.execute(select(Field.code).where(Field.centre_id == centre_id)).scalars())
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise NotFound(f"unknown fields {unknown}")
    if counters:
        known_c = set(s.execute(select(Counter.number).where(Counter.centre_id == centre_id)).scalars())
        unknown_c = [c for c in counters if c not in known_c]
        if unknown_c:
            raise NotFound(f"unknown counters {unknown_c}")


def device_dict(cmd: Command, d: Device) -> dict:
    return {"id": d.id, "name": d.name, "role": d.role, "online": d.online, "printer": d.printer,
            "detail": d.status_detail, "counter": d.counter.number if d.counter else None,
            "last_seen_at": cmd.iso(d.last_seen_at), "revoked": d.revoked_at is not None}


def _device(cmd: Command, device_id) -> Device:
    d = cmd.s.get(Device, device_id) if isinstance(device_id, int) else None
    if d is None or d.centre_id != cmd.centre.id:
        raise NotFound("unknown device", "device_not_found")
    return d


class DeviceCommands:
    """Mixin of the engine."""

    def device_status(self, centre_id: int, device_id: int, printer=None, detail=None, online=None) -> Result:
        """A device's printer, detail and online flag; `online` may be a function (session, device) → bool
        run inside the command's transaction (realtime/presence counts live connections there)."""
        if printer is not None and printer not in PRINTER_STATUSES:
            raise BadRequest("printer must be ok, paper_out, cover_open or offline", "invalid_printer_status")
        if detail is not None and (not isinstance(detail, str) or len(detail) > 300):
            raise BadRequest("detail must be text of at most 300 characters", "invalid_detail")

        def run(cmd: Command):
            d = _device(cmd, device_id)
            changed = False
            if printer is not None and printer != d.printer:
                d.printer, changed = printer, True
            if detail is not None and detail != d.status_detail:
                d.status_detail, changed = detail, True
            now_online = online(cmd.s, d) if callable(online) else online  # presence: decided in this transaction
            if now_online is not None and now_online != d.online:
                d.online, changed = now_online, True
            d.last_seen_at = cmd.now
            if changed:
                cmd.emit(E.DEVICE_CHANGED, {"device": device_dict(cmd, d)})
            return device_dict(cmd, d)

        return self._run(centre_id, run)

    def revoke_device(self, centre_id: int, device_id: int, user_id: int | None = None) -> Result:
        """The device's token stops working; → the device's name."""
        def run(cmd: Command):
            d = _device(cmd, device_id)
            if d.revoked_at is not None:
                return d.name
            d.revoked_at = cmd.now
            d.online = False
            cmd.s.add(AuditEntry(centre_id=cmd.centre.id, at=cmd.now, user_id=user_id, action="device.revoke",
                                 target=d.name[:120], data={"role": d.role, "device": d.id}))
            cmd.emit(E.DEVICE_CHANGED, {"device": device_dict(cmd, d)})
            return d.name

        return self._run(centre_id, run)

    # ---- connections: a device is online while it has any, in whichever process -------------------
    def connection_opened(self, centre_id: int, device_id: int, sid: str, process: str) -> Result:
        """Record a connection of `process` and set the device's flag, in one transaction."""
        def online(s, device) -> bool:
            s.merge(DeviceConnection(sid=sid, device_id=device.id, process=process, seen_at=clock.now()))
            s.flush()
            return _connected(s, device.id)
        return self.device_status(centre_id, device_id, online=online)

    def connection_closed(self, centre_id: int, device_id: int, sid: str) -> Result:
        def online(s, device) -> bool:
            s.execute(delete(DeviceConnection).where(DeviceConnection.sid == sid))
            return _connected(s, device.id)
        return self.device_status(centre_id, device_id, online=online)

    def recount_online(self, centre_id: int, device_id: int) -> Result:
        """The device's flag from the connections left (after another process's rows went)."""
        return self.device_status(centre_id, device_id, online=lambda s, device: _connected(s, device.id))

    def refresh_connections(self, process: str, stale_after: timedelta) -> tuple[int, list[tuple[int, int]]]:
        """`process`'s connections are still alive; rows no process refreshed for `stale_after` go.
        → (how many rows went, [(device id, centre id)] whose flag to recount)."""
        now = clock.now()
        with self.db.write() as s:
            s.execute(update(DeviceConnection).where(DeviceConnection.process == process).values(seen_at=now))
            stale = s.execute(select(DeviceConnection.sid, DeviceConnection.device_id)
                              .where(DeviceConnection.seen_at < now - stale_after)).all()
            if not stale:
                return 0, []
            s.execute(delete(DeviceConnection).where(DeviceConnection.sid.in_([sid for sid, _ in stale])))
            devices = s.execute(select(Device.id, Device.centre_id).where(Device.id.in_({d for _, d in stale}))).all()
        return len(stale), [tuple(d) for d in devices]


def _connected(s: Session, device_id: int) -> bool:
    return s.execute(select(func.count()).select_from(DeviceConnection)
                     .where(DeviceConnection.device_id == device_id)).scalar_one() > 0
