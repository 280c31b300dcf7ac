"""The device client never stays online and frozen: a connection that brings no `state` asks for one
(`sync`), and reconnects when none comes (issue 11, item 1). Against a small real Socket.IO server
on 127.0.0.1 that withholds `state` on purpose."""
from __future__ import annotations

import threading
import time

from conftest import free_port
from flask import Flask
from flask_socketio import SocketIO, emit
from layso.client import DeviceClient
from werkzeug.serving import make_server


def _withholding_server(answer_sync: bool):
    """A Socket.IO server that accepts any connection and sends no `state` on connect; it answers
    `sync` with a state when `answer_sync`. → (url, record, shutdown)"""
    app = Flask(__name__)
    sio = SocketIO(app, async_mode="threading")
    record = {"connects": 0, "syncs": 0}

    @sio.on("connect")
    def _connect(auth=None):
        record["connects"] += 1

    @sio.on("sync")
    def _sync(*_a):
        record["syncs"] += 1
        if answer_sync:
            emit("state", {"seq": 7, "centre": {}, "counters": [], "fields": [], "recent_calls": [], "ticker": ""})
        return {"ok": True}

    port = free_port()
    srv = make_server("127.0.0.1", port, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return f"http://127.0.0.1:{port}", record, srv.shutdown


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_a_connection_without_state_asks_for_one():
    url, record, shutdown = _withholding_server(answer_sync=True)
    client = DeviceClient(url, "ls_token-for-the-test-0000", timeout=3)
    client.STATE_TIMEOUT_S = 0.5
    client.start()
    try:
        assert _wait(lambda: client.state is not None, 10), record
        assert record["syncs"] == 1 and client.state["seq"] == 7
        assert record["connects"] == 1  # the sync was enough: no reconnect
    finally:
        client.close()
        shutdown()


def test_a_connection_that_never_brings_state_is_dropped_and_made_again():
    url, record, shutdown = _withholding_server(answer_sync=False)
    client = DeviceClient(url, "ls_token-for-the-test-0000", timeout=3)
    client.STATE_TIMEOUT_S = 0.5
    client.start()
    try:
        assert _wait(lambda: record["connects"] >= 2, 15), record
        assert record["syncs"] >= 1
        assert client.state is None
    finally:
        client.close()
        shutdown()
