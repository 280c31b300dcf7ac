"""The Socket.IO namespace: authenticate at connect, send `state`, answer `sync`, and accept counter
commands as events with acknowledgements (the same dispatch as REST)."""
from __future__ import annotations

import logging

from flask import request, session
from flask_socketio import ConnectionRefusedError, Namespace, join_room  # Socket.IO's, not the built-in

from layso.server.auth import (
    ACTING_CENTRE_KEY,
    DISPLAY_SESSION_KEY,
    base_url,
    device_principal,
    device_principal_by_hash,
    display_of_session,
    for_principal,
    user_principal,
)
from layso.server.domain.accounts import hash_token
from layso.server.dispatch import COUNTER_ACTIONS, counter_command
from layso.server.errors import QueueError
from layso.server.messages import error_body
from layso.server.realtime import presence
from layso.server.realtime.guard import (
    command_failure,
    fail_closed,
    refuse_foreign_origin,
    refuse_unless_clean,
    send_state_then_join,
)
from layso.server.realtime.publisher import public_room
from layso.server.services import services

log = logging.getLogger("layso.realtime")


def principal_of(auth):
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
    """The `state` snapshot; a device also finds itself in it (`device`: id, name, role, zone), and a
    kiosk the reprints asked of it that it has not answered (`reprints`)."""
    engine = services().engine
    state = for_principal(who, engine.state(who.centre_id, base_url=base_url()))
    state["device"] = who.device_info()
    if who.kind == "device" and who.role == "kiosk":
        state["reprints"] = engine.pending_reprints(who.centre_id, who.device_id, base_url=base_url())
    return state


def current_socket_principal():
    """The connection's principal, checked again: a revoked token or a deactivated account stops at once."""
    who = session.get("principal")
    if who is None:
        return None
    if who.kind == "device":
        return device_principal_by_hash(services().db, session.get("token_hash") or "")
    return user_principal(services().db, who.user_id, who.counter, who.centre_id)


class RealtimeNamespace(Namespace):
    """The one namespace ("/") of devices, staff pages, web displays and public tracking pages."""

    def on_connect(self, auth=None):
        return fail_closed(self._connect)(auth)  # a check that fails refuses: the client retries

    def _connect(self, auth=None):
        svc = services()
        refuse_unless_clean(auth)
        if isinstance(auth, dict) and "track" in auth:
            cid = svc.engine.centre_of_track(auth.get("track"))
            if cid is None:
                raise ConnectionRefusedError("unknown tracking link")
            join_room(public_room(cid))
            session["track_centre"] = cid
            return True
        who, key = principal_of(auth)
        if who is None:
            raise ConnectionRefusedError("unauthorized")
        refuse_foreign_origin(auth)
        send_state_then_join(who, state_for)  # `state` first, then the rooms
        session["principal"] = who
        session["token_hash"] = key
        presence.connected(svc, request.sid, who, key)
        return True

    def on_disconnect(self, *_args):
        presence.disconnected(services(), request.sid)

    def on_sync(self, *_args):
        who = current_socket_principal()
        if who is None:
            return error_body("unauthorized")
        state = state_for(who)
        self.emit("state", state, room=request.sid)
        return {"ok": True, "seq": state["seq"]}

    def trigger_event(self, event, *args):
        """Counter commands (`counter.next`, …) go to one handler; unknown events get an error."""
        action = event[len("counter."):] if event.startswith("counter.") else None
        if action in COUNTER_ACTIONS:
            return self.socketio._handle_event(lambda data=None: self._command(action, data), event,
                                               self.namespace, *args)
        if not hasattr(self, f"on_{event}"):
            return error_body("unknown_event", f"unknown event {str(event)[:40]}")
        return super().trigger_event(event, *args)

    @staticmethod
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
