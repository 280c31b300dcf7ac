"""Who is connected: this process's connections, and devices' online flag across every process.

Each device connection is a row in `device_connections` (sid, device, process, seen_at), written by
the engine (`engine/devices.py`) in the same transaction as the device's online flag, which is true
while the device has any row — whichever process holds the connection. Connects and disconnects are
applied in order on one worker so a quick reconnect never ends offline. Each process refreshes its
rows' `seen_at` (janitor); rows whose process stopped refreshing (it died without a disconnect) are
removed by any other process, and their devices' flags recomputed.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from layso.server.auth import live_roles
from layso.server.realtime.publisher import OrderedWorker

log = logging.getLogger("layso.realtime")

PROCESS = f"{uuid.uuid4().hex[:16]}"  # this server process, in `device_connections.process`
STALE_AFTER = timedelta(seconds=90)  # a process refreshes every janitor run (15 s)

# This process's connections: sid → (principal, token hash for a device or a web display).
connections: dict[str, tuple] = {}
_worker = OrderedWorker("layso-device-status")


def connected(svc, sid: str, who, key) -> None:
    connections[sid] = (who, key)
    if who.kind == "device":  # recorded on the worker: the connect handshake does not wait for it
        _worker.submit(_record, svc, who, sid, True)


def disconnected(svc, sid: str) -> None:
    entry = connections.pop(sid, None)
    if entry is not None and entry[0].kind == "device":
        _worker.submit(_record, svc, entry[0], sid, False)


def _record(svc, who, sid: str, opened: bool) -> None:
    """Add or remove the connection's row and set the online flag, in one transaction (the engine's)."""
    try:
        res = svc.engine.connection_opened(who.centre_id, who.device_id, sid, PROCESS) if opened else \
            svc.engine.connection_closed(who.centre_id, who.device_id, sid)
        svc.publish(res.events)
    except Exception:  # the database may be going away (shutdown): never crash a handler
        log.exception("device status (%s)", "connect" if opened else "disconnect")


def refresh(svc) -> int:
    """Mark this process's connections as still alive; then remove other processes' stale rows and
    recompute those devices' flags. How many stale rows went."""
    gone, devices = svc.engine.refresh_connections(PROCESS, STALE_AFTER)
    for device_id, centre_id in devices:
        try:
            svc.publish(svc.engine.recount_online(centre_id, device_id).events)
        except Exception:  # noqa: BLE001 - a deleted device: nothing to show
            log.exception("device status after a dead process")
    return gone


def disconnect_revoked(db) -> int:
    """Disconnect this process's connections whose device token was revoked or whose user account was
    deactivated or changed role; how many. Two queries for all of them (`auth.live_roles`)."""
    from layso.server.realtime.events import socketio
    entries = list(connections.items())
    devices, users = live_roles(db, {key for _sid, (who, key) in entries if who.kind == "device"},
                                {who.user_id for _sid, (who, _key) in entries if who.kind != "device"})
    gone = [sid for sid, (who, key) in entries
            if (devices.get(key) if who.kind == "device" else users.get(who.user_id)) != who.role]
    for sid in gone:
        connections.pop(sid, None)
        try:
            socketio.server.disconnect(sid, namespace="/")
        except Exception:  # noqa: BLE001 - already gone
            log.debug("disconnecting %s failed", sid)
    return len(gone)
