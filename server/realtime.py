"""The Socket.IO adapter: authenticate at connect, send `state`, broadcast events after commit,
and accept counter commands as events with acknowledgements (same dispatch as REST)."""
from __future__ import annotations

import logging
import queue
import threading

from flask import current_app, request, session
from flask_socketio import ConnectionRefusedError, SocketIO, join_room  # Socket.IO's, not the built-in

from .auth import device_principal, device_principal_by_hash, hash_token, user_principal
from .engine import Event
from .errors import QueueError
from .messages import error_body
from .services import COUNTER_ACTIONS, counter_command, services

log = logging.getLogger("layso.realtime")

socketio = SocketIO()

# Event types a public tracking page may see, stripped of ids and tracking links.
PUBLIC_TYPES = {"ticket.called", "ticket.recalled", "ticket.completed", "ticket.skipped", "ticket.cancelled",
                "ticket.transferred", "queue.changed", "ticker.changed"}


# this process's device connections: sid → token hash (to cut revoked devices off)
_device_sids: dict[str, str] = {}


def disconnect_revoked(db) -> int:
    """Disconnect this process's connections whose device token was revoked; how many."""
    gone = [sid for sid, key in list(_device_sids.items()) if device_principal_by_hash(db, key) is None]
    for sid in gone:
        _device_sids.pop(sid, None)
        try:
            socketio.server.disconnect(sid, namespace="/")
        except Exception:  # noqa: BLE001 - already gone
            log.debug("disconnecting %s failed", sid)
    return len(gone)


def centre_room(centre_id: int) -> str:
    return f"centre:{centre_id}"


def public_room(centre_id: int) -> str:
    return f"public:{centre_id}"


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("id", "track_url", "device_id")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def publish(events: list[Event]) -> None:
    """Broadcast committed events to every client of their centre (through Redis when configured)."""
    for ev in events:
        socketio.emit(ev.type, ev.payload, to=centre_room(ev.centre_id))
        if ev.type in PUBLIC_TYPES:
            socketio.emit(ev.type, _strip(ev.payload), to=public_room(ev.centre_id))


class AsyncPublisher:
    """Publishes from one thread, in the order commands committed, so that a command's answer never
    waits for the fan-out to hundreds of lobby screens."""

    def __init__(self):
        self._queue: "queue.SimpleQueue[list[Event]]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, events: list[Event]) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="layso-publisher", daemon=True)
                    self._thread.start()
        self._queue.put(events)

    def _loop(self) -> None:
        while True:
            events = self._queue.get()
            try:
                publish(events)
            except Exception:  # noqa: BLE001 - one bad emit must not stop later events
                log.exception("publishing %d events failed", len(events))


def _principal(auth):
    svc = services()
    if isinstance(auth, dict) and "token" in auth:
        return device_principal(svc.db, auth.get("token"))
    if "uid" in session:
        return user_principal(svc.db, session.get("uid"), session.get("counter"))
    return None


def state_for(who) -> dict:
    """The `state` snapshot; a device also finds itself in it (`device`: id, name, role, zone)."""
    state = services().engine.state(who.centre_id, base_url=_base_url())
    state["device"] = who.device_info()
    return state


def _base_url() -> str:
    return current_app.config.get("LAYSO_PUBLIC_URL") or request.host_url.rstrip("/")


@socketio.on("connect")
def on_connect(auth=None):
    svc = services()
    if isinstance(auth, dict) and "track" in auth:
        cid = svc.engine.centre_of_track(auth.get("track"))
        if cid is None:
            raise ConnectionRefusedError("unknown tracking link")
        join_room(public_room(cid))
        session["track_centre"] = cid
        return True
    who = _principal(auth)
    if who is None:
        raise ConnectionRefusedError("unauthorized")
    session["principal"] = who
    if who.kind == "device":
        session["token_hash"] = hash_token(auth["token"])
        _device_sids[request.sid] = session["token_hash"]
    join_room(centre_room(who.centre_id))
    socketio.emit("state", state_for(who), to=request.sid)
    if who.kind == "device":  # recorded in the background: the connect handshake does not wait for it
        socketio.start_background_task(_device_online, svc, who, True)
    return True


def _device_online(svc, who, online: bool) -> None:
    try:
        svc.publish(svc.engine.device_status(who.centre_id, who.device_id, online=online).events)
    except Exception:  # the database may be going away (shutdown): never crash a handler
        log.exception("device status (online=%s)", online)


@socketio.on("disconnect")
def on_disconnect(*_args):
    _device_sids.pop(request.sid, None)
    who = session.get("principal")
    if who is not None and who.kind == "device":
        _device_online(services(), who, False)


@socketio.on("sync")
def on_sync(*_args):
    who = current_socket_principal()
    if who is None:
        return error_body("unauthorized")
    state = state_for(who)
    socketio.emit("state", state, to=request.sid)
    return {"ok": True, "seq": state["seq"]}


def current_socket_principal():
    """The connection's principal; a device's token is re-checked (revocation applies at once)."""
    who = session.get("principal")
    if who is not None and who.kind == "device":
        who = device_principal_by_hash(services().db, session.get("token_hash", ""))
    return who


def _command(action: str, data):
    who = current_socket_principal()
    if who is None:
        return error_body("unauthorized")
    try:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return error_body("malformed_body")
        data = dict(data)
        n = data.pop("counter", who.counter)
        if n is None:
            return error_body("forbidden")
        if not isinstance(n, int) or isinstance(n, bool):
            return error_body("invalid_body", "counter must be a number")
        status, body = counter_command(services(), who, n, action, data, _base_url())
        return {"ticket": None} if status == 204 else body
    except QueueError as err:
        return error_body(err.code, err.message)
    except Exception:
        log.exception("socket command %s failed", action)
        return error_body("internal_error")


def _register(action: str):
    socketio.on_event(f"counter.{action}", lambda data=None: _command(action, data))


for _action in COUNTER_ACTIONS:
    _register(_action)


@socketio.on("*")
def on_unknown(event, *_args):
    return error_body("unknown_event", f"unknown event {str(event)[:40]}")


@socketio.on_error_default
def on_error(err):
    log.exception("socket handler error: %s", err)
    return error_body("internal_error")
