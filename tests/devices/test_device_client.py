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
