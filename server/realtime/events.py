"""The Socket.IO object and its assembly: `init_app` binds it to an app with the namespace, the
publisher and the server's async mode (gevent under `layso serve`, threads in tests)."""
from __future__ import annotations

import logging
import os

from flask import Flask, abort
from flask_socketio import SocketIO

from layso.server.messages import error_body
from layso.server.realtime.batch import client_manager
from layso.server.realtime.namespace import RealtimeNamespace, current_socket_principal, state_for  # noqa: F401
from layso.server.realtime.presence import disconnect_revoked  # noqa: F401 - used by the janitor and tests
from layso.server.realtime.guard import centre_room, devices_room  # noqa: F401 - the adapter's public names
from layso.server.realtime.publisher import (  # noqa: F401
    PUBLIC_TYPES,
    AsyncPublisher,
    publish,
    public_room,
)
from layso.server.storage.database import gevent_patched

log = logging.getLogger("layso.realtime")

socketio = SocketIO()
socketio.on_namespace(RealtimeNamespace("/"))


@socketio.on_error_default
def on_error(err):
    log.exception("socket handler error: %s", err)
    return error_body("internal_error")


def _not_found():
    abort(404)


def init_app(app: Flask, message_queue: str | None = None, websocket_only: bool = False) -> None:
    """Bind Socket.IO to `app`: gevent when the process was patched for it, else threads. Processes
    sharing LAYSO_MESSAGE_QUEUE meet on the Redis channel LAYSO_MESSAGE_QUEUE_CHANNEL (default
    "layso"): one installation per channel."""
    # ping_timeout 20: python-engineio's client gives up when it has had nothing to send for
    # max(interval, timeout) + 5 s, and it sends only pongs when idle, so with 10/10 a ping 5 s late
    # (a loaded server or client) dropped the connection; a silent peer is noticed after 30 s
    # the client manager is ours in every app (`emit_batch`); Flask-SocketIO keeps its options from
    # one `init_app` to the next, so an app without a queue after one with it must say so too
    manager = client_manager(message_queue, os.environ.get("LAYSO_MESSAGE_QUEUE_CHANNEL") or "layso")
    socketio.init_app(app, async_mode="gevent" if gevent_patched() else "threading", client_manager=manager,
                      cors_allowed_origins=[], json=None,
                      ping_interval=10, ping_timeout=20, max_http_buffer_size=64 * 1024,
                      transports=["websocket"] if websocket_only else ["polling", "websocket"],
                      logger=False, engineio_logger=False)
    # Flask-SocketIO runs every event in a request context of the connection's request (/socket.io/),
    # which Flask matches against the app's routes: with no route there, each event raised and kept
    # a NotFound with its traceback and frames, ~50 objects in cycles that only the garbage collector
    # frees (most of what a lobby's commands left it: docs/PERFORMANCE.md). Engine.IO answers that
    # path before Flask; the rules are only matched (a WebSocket's and a polling client's), their view never reached.
    app.add_url_rule("/socket.io/", "socketio_websocket", _not_found, websocket=True, strict_slashes=False)
    app.add_url_rule("/socket.io/", "socketio_polling", _not_found, methods=["GET", "POST"], strict_slashes=False)
    if gevent_patched():  # one greenlet a WebSocket instead of four (memory: server/realtime/green.py)
        from layso.server.realtime import green
        green.install(socketio.server.eio)
