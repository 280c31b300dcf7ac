"""The Socket.IO adapter: authenticate at connect, send `state`, broadcast events after commit,
and accept counter commands as events with acknowledgements (same dispatch as REST)."""
from __future__ import annotations

import logging
import queue
import threading

from flask import request, session
from flask_socketio import (  # Socket.IO's, not the built-in
    ConnectionRefusedError,
    SocketIO,
    join_room,
)
from layso.server.auth import (
    ACTING_CENTRE_KEY,
    DISPLAY_SESSION_KEY,
    base_url,
    device_principal,
    device_principal_by_hash,
    display_of_session,
    for_principal,
    hash_token,
    user_principal,
)
from layso.server.dispatch import COUNTER_ACTIONS, counter_command
from layso.server.engine import Event
from layso.server.errors import QueueError
from layso.server.messages import error_body
from layso.server.realtime.guard import (
    command_failure,
    fail_closed,
    publish_to_audiences,
    refuse_foreign_origin,
    refuse_unless_clean,
    send_state_then_join,
)
from layso.server.services import services

from layso.protocol import EventType as E

log = logging.getLogger("layso.realtime")

socketio = SocketIO()

# Event types a public tracking page may see, stripped of ids and tracking links.
PUBLIC_TYPES = {E.TICKET_CALLED, E.TICKET_RECALLED, E.TICKET_COMPLETED, E.TICKET_SKIPPED, E.TICKET_CANCELLED,
                E.TICKET_TRANSFERRED, E.QUEUE_CHANGED, E.TICKER_CHANGED}


# This process's connections: sid → (principal, token hash for a device). Used to keep each
# device's online flag true to its live connections, and to cut off revoked devices and users.
_connections: dict[str, tuple] = {}


def disconnect_revoked(db) -> int:
    """Disconnect this process's connections whose device token was revoked or whose user account was
    deactivated or changed role; how many."""
    gone = []
    for sid, (who, key) in list(_connections.items()):
        still = device_principal_by_hash(db, key) if who.kind == "device" else \
            user_principal(db, who.user_id, who.counter, who.centre_id)
        if still is None or still.role != who.role:
            gone.append(sid)
    for sid in gone:
        _connections.pop(sid, None)
        try:
            socketio.server.disconnect(sid, namespace="/")
        except Exception:  # noqa: BLE001 - already gone
            log.debug("disconnecting %s failed", sid)
    return len(gone)


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
        publish_to_audiences(ev)
        if ev.type in PUBLIC_TYPES:
            socketio.emit(ev.type, _strip(ev.payload), to=public_room(ev.centre_id))


class OrderedWorker:
    """Runs submitted calls one after another on one thread, in the order they were submitted."""

    def __init__(self, name: str):
        self.name = name
        self._queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn, *args) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                    self._thread.start()
        self._queue.put((fn, args))

    def _loop(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one failure must not stop the later work
                log.exception("%s: %s failed", self.name, getattr(fn, "__name__", fn))


class AsyncPublisher:
    """Publishes from one thread, in the order commands committed, so that a command's answer never
    waits for the fan-out to hundreds of lobby screens."""

    def __init__(self):
        self._worker = OrderedWorker("layso-publisher")

    def __call__(self, events: list[Event]) -> None:
        self._worker.submit(publish, events)


_device_status = OrderedWorker("layso-device-status")


def _record_online(svc, who) -> None:
    """Runs on `_device_status`, in connect/disconnect order: online while any connection lives."""
    online = any(p.device_id == who.device_id for p, _key in list(_connections.values()))
    try:
        svc.publish(svc.engine.device_status(who.centre_id, who.device_id, online=online).events)
    except Exception:  # the database may be going away (shutdown): never crash a handler
        log.exception("device status (online=%s)", online)


def _principal(auth):
    """(who, token hash for a device): a device token in `auth`, a browser that is a web display, or a
    signed-in user."""
    svc = services()
    if isinstance(auth, dict) and "token" in auth:
        who = device_principal(svc.db, auth.get("token"))
        return who, hash_token(auth["token"]) if who is not None else None
    display = display_of_session()
    if display is not None:
        return display, session.get(DISPLAY_SESSION_KEY)
    if "uid" in session:
        return user_principal(svc.db, session.get("uid"), session.get("counter"), session.get(ACTING_CENTRE_KEY)), None
    return None, None


def state_for(who) -> dict:
    """The `state` snapshot; a device also finds itself in it (`device`: id, name, role, zone)."""
    state = for_principal(who, services().engine.state(who.centre_id, base_url=base_url()))
    state["device"] = who.device_info()
    return state





@socketio.on("connect")
@fail_closed
def on_connect(auth=None):
    svc = services()
    refuse_unless_clean(auth)
    if isinstance(auth, dict) and "track" in auth:
        cid = svc.engine.centre_of_track(auth.get("track"))
        if cid is None:
            raise ConnectionRefusedError("unknown tracking link")
        join_room(public_room(cid))
        session["track_centre"] = cid
        return True
    who, key = _principal(auth)
    if who is None:
        raise ConnectionRefusedError("unauthorized")
    refuse_foreign_origin(auth)
    send_state_then_join(who, state_for)
    session["principal"] = who
    session["token_hash"] = key
    _connections[request.sid] = (who, key)
    if who.kind == "device":  # recorded on a worker: the connect handshake does not wait for it
        _device_status.submit(_record_online, svc, who)
    return True


@socketio.on("disconnect")
def on_disconnect(*_args):
    _connections.pop(request.sid, None)
    who = session.get("principal")
    if who is not None and who.kind == "device":
        _device_status.submit(_record_online, services(), who)


@socketio.on("sync")
def on_sync(*_args):
    who = current_socket_principal()
    if who is None:
        return error_body("unauthorized")
    state = state_for(who)
    socketio.emit("state", state, to=request.sid)
    return {"ok": True, "seq": state["seq"]}


def current_socket_principal():
    """The connection's principal, checked again: a revoked token or a deactivated account stops at once."""
    who = session.get("principal")
    if who is None:
        return None
    if who.kind == "device":
        return device_principal_by_hash(services().db, session.get("token_hash") or "")
    return user_principal(services().db, who.user_id, who.counter, who.centre_id)


def _command(action: str, data):
    who = current_socket_principal()
    if who is None:
        return error_body("unauthorized", status=401)
    try:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return error_body("malformed_body")
        data = dict(data)
        n = data.pop("counter", who.counter)
        if n is None:
            return error_body("forbidden", status=403)
        if not isinstance(n, int) or isinstance(n, bool):
            return error_body("invalid_body", "counter must be a number")
        status, body = counter_command(services(), who, n, action, data, base_url())
        return {"ticket": None} if status == 204 else for_principal(who, body)
    except QueueError as err:  # the same code and status a REST call would get
        return error_body(err.code, err.message, status=err.status)
    except Exception as err:  # noqa: BLE001 - an ack, never a dropped connection
        return command_failure(action, err)


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
