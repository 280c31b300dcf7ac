"""The server's WebSocket under `layso serve` (server/realtime/green.py), spoken to frame by frame.

A raw WebSocket client (wsproto over a blocking socket) shows what a lobby screen's connection gets:
no permessage-deflate, a message split over frames understood, a WebSocket ping answered, Engine.IO
pings every 10 s from the server's one pinger (a client that answers them stays, one that does not
is dropped), and a message over the 64 KiB limit closes that connection only.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from tests.conftest import prepare_server, wait_for

PING_INTERVAL_S = 10  # server/realtime/events.py
PING_TIMEOUT_S = 20


class RawSocketIO:
    """One device connection, frame by frame; `answer_pings=False` plays a client that froze."""

    def __init__(self, port: int, token: str, answer_pings: bool = True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.answer_pings = answer_pings
        self.packets: list[str] = []
        self.pongs = 0
        self.closed_code: int | None = None
        self.engineio_pings = 0
        self.accept: AcceptConnection | None = None
        self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}",
                                               target="/socket.io/?EIO=4&transport=websocket",
                                               extensions=[PerMessageDeflate()])))
        self.read_until(lambda: self.accept is not None)
        self.read_until(lambda: any(p.startswith("0{") for p in self.packets))
        self.send("40" + json.dumps({"token": token}))
        self.read_until(lambda: any(p.startswith("40") for p in self.packets))

    def send(self, text: str, fragments: int = 1) -> None:
        size = -(-len(text) // fragments)
        parts = [text[i:i + size] for i in range(0, len(text), size)]
        for i, part in enumerate(parts):
            self.sock.sendall(self.ws.send(TextMessage(data=part, message_finished=i == len(parts) - 1)))

    def read_until(self, predicate, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.closed_code is not None or time.monotonic() > deadline:
                return predicate()
            self.sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                self.closed_code = self.closed_code or -1
                return predicate()
            if not data:
                self.closed_code = self.closed_code or -1
                return predicate()
            self.ws.receive_data(data)
            for ev in self.ws.events():
                if isinstance(ev, AcceptConnection):
                    self.accept = ev
                elif isinstance(ev, RejectConnection):
                    raise AssertionError(f"upgrade refused: {ev.status_code}")
                elif isinstance(ev, TextMessage):
                    self.packets.append(ev.data)
                    if ev.data == "2":
                        self.engineio_pings += 1
                        if self.answer_pings:
                            self.send("3")
                elif isinstance(ev, Pong):
                    self.pongs += 1
                elif isinstance(ev, CloseConnection):
                    self.closed_code = ev.code
        return True

    def close(self) -> None:
        try:
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        except Exception:  # noqa: BLE001
            pass
        self.sock.close()


@pytest.fixture
def display_server(tmp_path):
    sp = prepare_server(tmp_path)
    tokens = [sp.add_device("display", f"Màn hình {i}") for i in range(3)]
    sp.start()
    yield sp, tokens
    sp.stop()


def test_frames_deflate_ping_and_an_oversized_message(display_server):
    sp, tokens = display_server
    a = RawSocketIO(sp.port, tokens[0])
    assert a.accept.extensions == []  # no zlib window per connection for events of a few hundred bytes

    # a Socket.IO command split over three WebSocket frames is one message, and gets its answer
    a.send('421["sync",{}]', fragments=3)
    assert a.read_until(lambda: any(p.startswith("431") for p in a.packets)), a.packets

    # a WebSocket-level ping is answered
    a.sock.sendall(a.ws.send(Ping(payload=b"hi")))
    assert a.read_until(lambda: a.pongs == 1)

    # over the 64 KiB limit: that connection is closed, the server and other connections go on
    b = RawSocketIO(sp.port, tokens[1])
    b.send('42["sync",' + json.dumps({"x": "y" * 70_000}) + "]")
    assert b.read_until(lambda: b.closed_code is not None)
    a.send('422["sync",{}]')
    assert a.read_until(lambda: any(p.startswith("432") for p in a.packets)), a.packets
    assert sp.get("/healthz").status_code == 200
    a.close()


def test_engineio_pings_keep_a_live_client_and_drop_a_silent_one(display_server):
    sp, tokens = display_server
    live = RawSocketIO(sp.port, tokens[0])
    silent = RawSocketIO(sp.port, tokens[1], answer_pings=False)
    deadline = time.monotonic() + 2 * PING_INTERVAL_S + PING_TIMEOUT_S + 8
    while time.monotonic() < deadline and (silent.closed_code is None or live.engineio_pings < 2):
        live.read_until(lambda: False, timeout=0.5)
        silent.read_until(lambda: False, timeout=0.5)
    assert live.engineio_pings >= 2 and live.closed_code is None  # pinged every interval, and stays
    assert silent.engineio_pings == 1 and silent.closed_code is not None  # one ping unanswered: dropped
    live.send('421["sync",{}]')
    assert live.read_until(lambda: any(p.startswith("431") for p in live.packets))
    assert wait_for(lambda: sp.get("/healthz").status_code == 200)
    live.close()


def test_frames_built_by_the_server_are_the_ones_wsproto_would_build():
    from wsproto.connection import Connection
    from wsproto.events import BytesMessage

    from layso.server.realtime.green import frame
    ref = Connection(ConnectionType.SERVER)
    for text in ("", "a", "x" * 125, "x" * 126, "ư" * 300, "y" * 70_000):  # 7-bit, 16-bit and 64-bit lengths
        assert frame(text) == ref.send(TextMessage(data=text))
    for data in (b"", b"z" * 200, b"q" * 66_000):
        assert frame(data) == ref.send(BytesMessage(data=data))


class _Ws:
    connected = True

    def __init__(self, order):
        self.order = order

    def _write(self, data):
        self.order.append("write")


def _upgraded_socket(order):
    """What `_send` and `send_group` read of an upgraded Engine.IO socket of ours with nothing queued."""
    class Sock:
        layso_ws, layso_direct, upgraded, upgrading, closed = _Ws(order), True, True, False, False

        class queue:
            @staticmethod
            def qsize():
                return 0

        @staticmethod
        def check_ping_timeout():
            return True
    return Sock()


def test_a_long_run_of_single_sends_lets_other_greenlets_run_between_its_writes():
    """Writing never waits, so many packets sent one by one would hold the event loop to the last; the
    writer steps aside every `FAN_OUT_TURN` of them, so that a command (its commit back from the
    thread pool) goes on."""
    import gevent
    from engineio import packet

    from layso.server.realtime import green

    order: list = []

    def fan_out():
        for _ in range(3 * green.FAN_OUT_TURN):
            green._send(_upgraded_socket(order), packet.Packet(packet.MESSAGE, "42[\"ticket.called\",{}]"))

    writer = gevent.spawn(fan_out)
    command = gevent.spawn(lambda: order.append("command"))
    gevent.joinall([writer, command], timeout=10)
    assert order.count("write") == 3 * green.FAN_OUT_TURN
    assert order.index("command") <= green.FAN_OUT_TURN, "the command waited for the whole fan-out"


def test_a_batch_reaches_a_lobby_in_one_go_and_a_bigger_one_takes_turns():
    """A command's batch to a centre's screens (fewer than `FAN_OUT_TURN`) is written to its last
    client before another greenlet runs (a turn inside it would put other greenlets' runs between
    the first screen and the last); a batch to more clients steps aside every `FAN_OUT_TURN`."""
    import gevent
    from engineio import packet

    from layso.server.realtime import green

    for clients, command_at in ((260, 260), (3 * green.FAN_OUT_TURN + 7, green.FAN_OUT_TURN)):
        order: list = []
        sockets = {i: _upgraded_socket(order) for i in range(clients)}

        class Server:
            @staticmethod
            def _get_socket(eio_sid):
                return sockets[eio_sid]

        group = [packet.Packet(packet.MESSAGE, "42[\"ticket.called\",{}]")]

        def batch():
            write = green.batch_writer(Server())
            for eio_sid in sockets:
                write(eio_sid, group)

        writer = gevent.spawn(batch)
        command = gevent.spawn(lambda: order.append("command"))
        gevent.joinall([writer, command], timeout=10)
        assert order.count("write") == clients
        assert order.index("command") == command_at


def test_an_upgrade_without_a_key_is_refused_and_the_server_goes_on(display_server):
    sp, tokens = display_server
    with socket.create_connection(("127.0.0.1", sp.port), timeout=10) as s:
        s.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 400"), head[:200]
    ok = RawSocketIO(sp.port, tokens[2])
    ok.send('421["sync",{}]')
    assert ok.read_until(lambda: any(p.startswith("431") for p in ok.packets))
    ok.close()


def test_writing_never_waits_and_a_slow_reader_gets_every_message_in_order():
    """A lobby event is written to each screen by the greenlet that publishes it: it must never wait
    for a client that reads slowly. What the kernel cannot take yet waits in that connection's
    backlog, drained by a greenlet of its own, and arrives whole and in order."""
    import gevent
    import gevent.socket
    from wsproto.connection import Connection

    from layso.server.realtime.green import GreenWebSocket, frame

    server_end, client_end = gevent.socket.socketpair()
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws = GreenWebSocket(handler=None, server=None)
    ws.attach(server_end)
    ws.connected = True
    messages = [f"{i:05d}:" + "ư" * 500 for i in range(400)]  # ~400 KB: far beyond both buffers
    t0 = time.monotonic()
    for m in messages:
        ws._write(frame(m))  # no greenlet switch here: a wait would hang this test (nobody reads yet)
    assert time.monotonic() - t0 < 5
    assert ws._backlog and ws._flusher is not None, "the buffers should be full and the rest waiting"

    received: list[str] = []
    client = Connection(ConnectionType.CLIENT)

    def read():
        while len(received) < len(messages):
            data = client_end.recv(65536)
            if not data:
                return
            client.receive_data(data)
            received.extend(ev.data for ev in client.events() if isinstance(ev, TextMessage))

    reader = gevent.spawn(read)
    reader.join(30)
    assert received == messages
    gevent.sleep(0)
    assert not ws._backlog and ws._flusher is None
    ws._write(frame("after"))  # an empty backlog again: written at once
    assert not ws._backlog and ws._flusher is None
    server_end.close()
    client_end.close()


ONE_GREENLET = textwrap.dedent('''
    import gc, json, sys, time
    from layso.server import serving
    serving.patch()
    import gevent, greenlet
    sys.path.insert(0, sys.argv[2])
    from tests.conftest import small_config_data
    from tests.e2e.test_websocket import RawSocketIO
    from layso.config import parse_config
    from layso.server.app import create_app
    from layso.server.engine.devices import add_device
    app = create_app(parse_config(small_config_data()), db_url="sqlite:///" + sys.argv[1], janitor=False)
    db = app.extensions["layso"].db
    tokens = [add_device(db, "display", f"Màn hình {i}") for i in range(5)]
    listener = serving.bind("127.0.0.1", 0)
    serving.make_server(app, listener).start()
    port = listener.getsockname()[1]

    def alive():
        return [g for g in gc.get_objects() if isinstance(g, greenlet.greenlet) and g and not g.dead]

    def writers():
        return [g for g in alive() if "writer" in getattr(getattr(g, "_run", None), "__qualname__", "")]

    def settled(done):  # the count once a connect's or a close's passing greenlets have finished
        end = time.monotonic() + 10
        while not done() and time.monotonic() < end:
            gevent.sleep(0.05)
        return len(alive())

    first = RawSocketIO(port, tokens[0])  # starts the server's own greenlets (pinger, service task, workers)
    gevent.sleep(0.5)
    before = len(alive())
    clients = [RawSocketIO(port, t) for t in tokens[1:]]
    during = settled(lambda: len(alive()) - before <= len(clients)) - before
    writing = len(writers())
    clients[0].send('421["sync",{}]')
    answered = clients[0].read_until(lambda: any(p.startswith("431") for p in clients[0].packets))
    for c in clients:
        c.close()
    left = settled(lambda: len(alive()) <= before) - before
    print(json.dumps({"per_connection": during / len(clients), "writers": writing, "answered": answered,
                      "left": left}))
''')


def test_a_websocket_connection_is_served_by_one_greenlet_without_a_writer(tmp_path):
    """Engine.IO gives a WebSocket a writer greenlet waiting on a queue (~10.7 KiB a connection); ours
    write every packet where it is sent, so a connection is its handler's greenlet alone, and none is
    left once the clients have gone."""
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", ONE_GREENLET, str(tmp_path / "g.db"), root], capture_output=True,
                          text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["writers"] == 0 and out["answered"]
    assert out["per_connection"] == 1, out
    assert out["left"] <= 0, out
