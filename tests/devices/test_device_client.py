"""The device client against a real server: refused tokens, reconnecting, closing; and SeqBuffer."""
from __future__ import annotations

import time

from conftest import free_port, prepare_server, wait_for
from layso.client import OFFLINE, UNAUTHORIZED, DeviceClient
from layso.protocol import SeqBuffer


def test_a_refused_token_shows_unauthorized(server):
    client = DeviceClient(server.url, "ls_not-a-valid-token-000", timeout=3).start()
    try:
        assert wait_for(lambda: client.status == UNAUTHORIZED)
    finally:
        client.close()


def test_first_connect_retries_until_the_server_comes(tmp_path):
    """The device is registered before the server listens: a token set only once the server is up
    would race with the client's retries (a retry with a refused token waits 30 s, as it should)."""
    sp = prepare_server(tmp_path, port=free_port())
    token = sp.add_device("display", "TV")
    client = DeviceClient(sp.url, token, timeout=2).start()
    try:
        assert wait_for(lambda: client.status == OFFLINE)  # nothing listens yet: offline, retrying
        sp.start()
        try:
            assert client.wait_online(30)
            t0 = time.monotonic()
            client.close()
            # far below the WebSocket close handshake's 3 s that closing skips (see DeviceClient.close)
            assert time.monotonic() - t0 < 2.5, "closing must not wait for the close handshake"
        finally:
            sp.stop()
    finally:
        client.close()


def test_seq_buffer_orders_drops_duplicates_and_asks_for_sync():
    now = [0.0]
    got, syncs = [], []
    buf = SeqBuffer(lambda t, p: got.append(p["seq"]), lambda: syncs.append(now[0]), clock=lambda: now[0])
    buf.push("x", {"seq": 5})  # before any state: held
    buf.reset(4)
    assert got == [5]
    buf.push("x", {"seq": 7})
    buf.push("x", {"seq": 5})  # duplicate
    assert got == [5] and not buf.check()
    buf.push("x", {"seq": 6})
    assert got == [5, 6, 7]
    buf.push("x", {"seq": 9})
    now[0] = 0.5
    assert not buf.check()
    now[0] = 1.2
    assert buf.check() and syncs == [1.2]
    buf.reset(9)  # the fresh state covers the gap
    buf.push("x", {"seq": 10})
    assert got == [5, 6, 7, 10]


def test_a_snapshot_reaches_the_inbox_before_the_events_held_back_for_it():
    """Events that came before a `state` are held; the state, then the newer events, reach the
    program in that order. The other way round, the older snapshot overwrote a newer event's queue
    figures on a kiosk, and they stayed wrong until the next event."""
    client = DeviceClient("http://127.0.0.1:9", "ls_unused-token-000")  # never started: handlers only
    handlers = client.sio.handlers["/"]
    handlers["queue.changed"]({"seq": 5, "fields": [{"code": "a", "waiting": 3}]})
    handlers["queue.changed"]({"seq": 6, "fields": [{"code": "a", "waiting": 4}]})
    handlers["state"]({"seq": 4, "fields": [{"code": "a", "waiting": 2}]})
    handlers["queue.changed"]({"seq": 7, "fields": [{"code": "a", "waiting": 5}]})
    got = []
    while not client.inbox.empty():
        kind, body = client.inbox.get_nowait()
        if kind == "state":
            got.append(("state", body["seq"]))
        elif kind == "event":
            got.append(("event", body[1]["seq"]))
    assert got == [("state", 4), ("event", 5), ("event", 6), ("event", 7)]
