"""The Socket.IO adapter's checks and audiences (issue 11), kept apart from the adapter's shape:
a connection fails closed, a cookie connection must come from our own origin, `state` comes before
any event, and tracking links reach only staff and the kiosk that printed them."""
from __future__ import annotations

import logging
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, join_room  # Socket.IO's, not the built-in
from layso.server.api.guard import bad_text
from layso.server.auth import for_devices
from layso.server.errors import storage_failure
from layso.server.messages import error_body
from layso.server.queries import centre as centre_queries
from layso.server.services import services

log = logging.getLogger("layso.realtime")


def _socketio():
    from layso.server.realtime.events import socketio
    return socketio


def centre_room(centre_id: int) -> str:
    """The room of a centre's staff (signed-in users): they receive events whole."""
    return f"centre:{centre_id}"


def devices_room(centre_id: int) -> str:
    """The room of a centre's devices: events without tracking links (see `for_devices`)."""
    return f"devices:{centre_id}"


def device_room(device_id: int) -> str:
    """One device's own room: the kiosk that issued a ticket gets its tracking link there."""
    return f"device:{device_id}"


def rooms_of(who) -> list[str]:
    """The rooms a connection joins: staff the centre's room, a device the devices' room and its own."""
    if who.kind == "device":
        return [devices_room(who.centre_id), device_room(who.device_id)]
    return [centre_room(who.centre_id)]


def audiences(event: str, payload: dict, centre_id: int, issuer: int | None = None) -> list[tuple]:
    """One event's (event, payload, room) for each audience of its centre, in the order they are sent:
    staff whole, the issuing kiosk (`issuer`) whole in its own room, the devices without tracking
    links. The kiosk's second copy, with the other devices, has the same `seq` and is dropped by its
    SeqBuffer."""
    out = [(event, payload, centre_room(centre_id))]
    if issuer is not None:
        out.append((event, payload, device_room(issuer)))
    out.append((event, for_devices(payload), devices_room(centre_id)))
    return out


def send_batch(items: list[tuple]) -> None:
    """Send (event, payload, room) items in one batch (`realtime/batch.py`), through Redis when configured."""
    _socketio().server.manager.emit_batch(items)


def emit_to_centre(event: str, payload: dict, centre_id: int, issuer: int | None = None) -> None:
    """Send one event to a centre's audiences (see `audiences`)."""
    send_batch(audiences(event, payload, centre_id, issuer))


def event_audiences(ev) -> list[tuple]:
    """A committed event's audiences (see `audiences`)."""
    issuer = ev.payload.get("device_id") if ev.type in ("ticket.issued", "ticket.reprint") else None
    return audiences(ev.type, ev.payload, ev.centre_id, issuer=issuer)


# ---- connect checks: small functions of their own (fail closed, origin, state first) -------------
def refuse_unless_clean(auth) -> None:
    """Refuse a connection whose `auth` is not an object of short clean strings (a NUL byte or a lone
    surrogate would fail in the database, a lone surrogate on SQLite too)."""
    if auth is None:
        return
    if not isinstance(auth, dict) or len(auth) > 4 or any(
            not isinstance(k, str) or not isinstance(v, str) or len(v) > 300 or bad_text(k) or bad_text(v)
            for k, v in auth.items()):
        raise ConnectionRefusedError("unauthorized")


def origin_allowed(origin: str | None) -> bool:
    """A browser's `Origin` may ride on its session cookie only from this server's own pages: the
    address the request came in on (as the trusted proxy tells it) or the configured public URL.
    Clients that send no Origin are no browsers, and have no victim's cookie to ride on."""
    if not origin:
        return True
    allowed = {request.host_url.rstrip("/")}
    public = current_app.config.get("LAYSO_PUBLIC_URL")
    if public:
        parts = urlsplit(public)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/") in allowed


def refuse_foreign_origin(auth) -> None:
    """Refuse a connection that rides on a browser's cookie (no token in `auth`) from another origin."""
    if isinstance(auth, dict) and "token" in auth:
        return  # a device token: no cookie rides along
    origin = request.headers.get("Origin")
    if not origin_allowed(origin):
        log.warning("refusing a cookie connection from a foreign origin %r", origin)
        raise ConnectionRefusedError("forbidden_origin")


def send_state_then_join(who, state_for) -> None:
    """`state` first, then the rooms (CONTRACT: state comes first on connect). An event committed after
    the snapshot but sent before the join is missed, so a newer seq after joining sends state again."""
    state = state_for(who)
    _socketio().emit("state", state, to=request.sid)
    for room in rooms_of(who):
        join_room(room)
    if centre_queries.centre_seq(services().db, who.centre_id) != state["seq"]:
        _socketio().emit("state", state_for(who), to=request.sid)


def fail_closed(handler):
    """A connect handler that fails refuses the connection (the client retries), instead of leaving
    it accepted without rooms or `state`."""
    @wraps(handler)
    def wrapper(auth=None):
        try:
            return handler(auth)
        except ConnectionRefusedError:
            raise
        except Exception as err:  # noqa: BLE001 - the database is down, or a bug: refuse, log
            code = storage_failure(err) or "internal_error"
            log.warning("refusing a connection: the connect check failed (%s): %s", code, err)
            raise ConnectionRefusedError(code) from None
    return wrapper


def command_failure(action: str, err: Exception) -> dict:
    """The ack of a command that failed unexpectedly: 503 with its code when the database failed
    (unreachable, full, read-only), as REST answers; else an internal error."""
    code = storage_failure(err)
    if code is not None:
        log.error("socket command %s: the database failed (%s): %s", action, code, getattr(err, "orig", err))
        return error_body(code, status=503)
    log.exception("socket command %s failed", action)
    return error_body("internal_error", status=500)
