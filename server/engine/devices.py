"""Device commands: a device reports its printer's status and whether it is online; an
administrator revokes a device's token."""
from __future__ import annotations

from layso.server.engine.context import Command, Result
from layso.server.errors import BadRequest, NotFound
from layso.server.storage.models import AuditEntry, Device

from layso.protocol import PRINTER_STATUSES
from layso.protocol import EventType as E


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
