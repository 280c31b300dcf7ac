"""WebSocket connections at one greenlet each instead of four, under `layso serve` (gevent).

Engine.IO's gevent mode gives every WebSocket four greenlets: the HTTP handler (which waits for the
next message), simple-websocket's reader (which reads the socket and wakes the handler), the writer
(which drains the connection's queue) and a ping task that sleeps `ping_interval` between pings.
A connection cost ~76 KiB of server memory; with two greenlets ~60 KiB, and the writer with its
queue ~10.7 KiB more (docs/PERFORMANCE.md). Here:

- `GreenWebSocket` is Engine.IO's WebSocket object for gevent: the handler greenlet reads the socket
  itself (wsproto's frame layer parses what arrives), each message goes out as one frame it builds
  itself, and permessage-deflate is not offered (a browser would get a zlib window of ~300 KiB per
  connection for events of a few hundred bytes);
- writing never waits: a frame goes to the kernel at once when its socket buffer has room, and what
  does not fit waits in the connection's backlog, which a greenlet of its own drains (only a slow
  client has one). So an event's message is written by the greenlet that publishes it
  (`_send`): no hand-over through Engine.IO's queue to a writer greenlet and back, two greenlet
  switches a recipient (the lobby bench sends 10,000–16,000 messages a second; the fan-out's CPU a
  message fell to 0.45 of what it was: docs/PERFORMANCE.md);
- no writer greenlet (`_websocket_handler`): a connection opened on the WebSocket — every device and
  page of ours — has what Engine.IO queued before written when it starts, and from then on every
  packet (pings, the CLOSE) is written where it is sent; `Socket.close` then neither waits for a
  writer nor leaves the connection to one. A polling client's upgrade keeps the library's writer;
- `Pinger` (`realtime/pinger.py`) is one greenlet that sends every connection's Engine.IO ping when
  it is due.

`install(server)` puts these in place for one Engine.IO server. This module is imported only under
gevent (`realtime/events.py`); the threading mode of in-process tests keeps the library's own.
"""
from __future__ import annotations

import collections
import logging
import socket
import struct

import gevent
from engineio import packet
from engineio import socket as eio_socket
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError, generate_accept_token

from layso.server.realtime.pinger import Pinger

log = logging.getLogger("layso.realtime")

RECEIVE_BYTES = 4096


class GreenWebSocket:
    """Engine.IO's WebSocket interface (`__call__`, `wait`, `send`, `close`) over the request's own
    socket, read in the handler's greenlet."""

    def __init__(self, handler, server):
        self.app = handler
        self.max_message = getattr(server, "max_http_buffer_size", 1_000_000)
        self._sock = None  # Engine.IO sets the read timeout on `_sock` (ping interval + timeout)
        self._conn = None
        self._messages: collections.deque = collections.deque()
        self._partial: list = []
        self._partial_len = 0
        self.connected = False
        self._backlog: collections.deque = collections.deque()
        self._flusher = None

    # ---- the handshake ------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13" or not key or \
                environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"not a WebSocket request"]
        self.attach(_request_socket(environ))
        # the frame layer only: the HTTP handshake is these four lines, and no h11 object stays with
        # the connection; no extensions offered back, so no deflate
        self._sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: " + generate_accept_token(key.encode("latin-1")) + b"\r\n\r\n")
        self._conn = Connection(ConnectionType.SERVER)
        self.connected = True
        eio_socket_of_handler = getattr(self.app, "__self__", None)
        if isinstance(eio_socket_of_handler, eio_socket.Socket):
            eio_socket_of_handler.layso_ws = self  # for `_send`, Engine.IO's messages written at once
        try:
            return self.app(self)
        finally:
            self._shut()

    def attach(self, sock) -> None:
        """Write to `sock` (the request's own socket, after the handshake)."""
        self._sock = sock
        self._backlog = collections.deque()  # frames the kernel has not taken yet
        self._flusher = None  # the greenlet draining the backlog, while there is one

    # ---- Engine.IO's calls ------------------------------------------------------------------
    def wait(self):
        """The next message (str or bytes), or None once the connection is closed or silent for longer
        than Engine.IO's read timeout."""
        while not self._messages:
            if not self.connected:
                return None
            try:
                data = self._sock.recv(RECEIVE_BYTES)
            except (OSError, ValueError):  # timeout, reset, closed by the writer
                data = b""
            if not data:
                self.connected = False
                return None
            self._receive(data)
        return self._messages.popleft()

    def send(self, message) -> None:
        """One whole message in one frame (the fan-out's path: one header and one write, ~1 µs of
        framing instead of wsproto's ~8)."""
        if not self.connected:
            raise OSError("the WebSocket is closed")
        self._write(frame(message))

    def close(self) -> None:
        if self.connected:
            try:
                self._write(self._conn.send(CloseConnection(CloseReason.NORMAL_CLOSURE)))
                flusher = self._flusher
                if flusher is not None:
                    flusher.join(CLOSE_FLUSH_S)  # what is written reaches the client before the close
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass
            self.connected = False
        self._shut()

    # ---- internals --------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        """Hand `data` to the kernel without waiting: what does not fit joins the backlog, in order."""
        if self._backlog or self._flusher is not None:
            self._backlog.append(data)
            return
        try:
            n = self._sock.send(data, 0, 0.0)  # timeout 0: never wait for room
        except BlockingIOError:
            n = 0
        except (OSError, ValueError) as err:  # the client is gone: never fail the publisher's loop
            self._lost(err)
            return
        if n < len(data):
            self._backlog.append(data[n:] if n else data)
            self._flusher = gevent.spawn(self._flush)

    def _flush(self) -> None:
        """Drain the backlog of a client that reads slower than we write (its greenlet waits, nobody else)."""
        try:
            while self._backlog:
                self._sock.sendall(self._backlog[0])
                self._backlog.popleft()
        except (OSError, ValueError) as err:  # gone, or not reading for Engine.IO's whole timeout
            self._lost(err)
        finally:
            self._flusher = None

    def _lost(self, err) -> None:
        """Writing failed: end the connection (the reading handler then sees its end, Engine.IO closes
        the session, the client connects again and gets `state`), never leave it open and deaf."""
        log.info("WebSocket write failed, closing the connection: %s", err)
        self._backlog.clear()
        self.connected = False
        self._shut()

    def _receive(self, data: bytes) -> None:
        try:
            self._conn.receive_data(data)
            for ev in self._conn.events():
                if isinstance(ev, (TextMessage, BytesMessage)):
                    self._partial.append(ev.data)
                    self._partial_len += len(ev.data)
                    if self._partial_len > self.max_message:
                        self._write(self._conn.send(CloseConnection(CloseReason.MESSAGE_TOO_BIG, "too big")))
                        self.connected = False
                        return
                    if ev.message_finished:
                        parts, self._partial, self._partial_len = self._partial, [], 0
                        self._messages.append(parts[0] if len(parts) == 1 else
                                              ("" if isinstance(ev, TextMessage) else b"").join(parts))
                elif isinstance(ev, Ping):
                    self._write(self._conn.send(ev.response()))
                elif isinstance(ev, CloseConnection):
                    try:
                        self._write(self._conn.send(ev.response()))
                    except (OSError, LocalProtocolError):
                        pass
                    self.connected = False
                    return
        except (OSError, LocalProtocolError, RemoteProtocolError):
            self.connected = False

    def _shut(self) -> None:
        """End the TCP connection; the HTTP server's next read then sees its end and closes it."""
        self.connected = False
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


CLOSE_FLUSH_S = 2.0  # how long a closing connection waits for its backlog to reach the client


def frame(message) -> bytes:
    """A server's (unmasked) WebSocket frame holding the whole message: text for str, binary for bytes
    (RFC 6455 §5.2)."""
    if isinstance(message, bytes):
        op, data = 0x82, message
    else:
        op, data = 0x81, str(message).encode()
    n = len(data)
    if n < 126:
        return bytes((op, n)) + data
    if n < 65536:
        return struct.pack("!BBH", op, 126, n) + data
    return struct.pack("!BBQ", op, 127, n) + data


def _request_socket(environ):
    """The client's socket under gevent's WSGI server (as simple-websocket finds it)."""
    wsgi_input = environ["wsgi.input"]
    if not hasattr(wsgi_input, "raw") and hasattr(wsgi_input, "rfile"):
        wsgi_input = wsgi_input.rfile
    sock = getattr(getattr(wsgi_input, "raw", None), "_sock", None)
    if sock is None:
        raise RuntimeError("cannot find the client's socket in the WSGI environment")
    return sock


def install(eio_server) -> None:
    """One greenlet a connection for this Engine.IO server (gevent mode only)."""
    eio_server._async = {**eio_server._async, "websocket": GreenWebSocket}
    eio_server.layso_pinger = Pinger(eio_server.ping_interval)
    eio_server.layso_batch_writer = batch_writer
    if eio_socket.Socket.schedule_ping is not _schedule_ping:  # Engine.IO creates its sockets itself
        for name, ours in (("schedule_ping", _schedule_ping), ("send", _send), ("close", _close),
                           ("_websocket_handler", _websocket_handler)):
            _LIBRARY[name] = getattr(eio_socket.Socket, name)
            setattr(eio_socket.Socket, name, ours)


_LIBRARY: dict = {}

# Writing never waits, so a run of writes would not give the event loop a turn until its end. A
# command's batch (`batch_writer`) steps aside every FAN_OUT_TURN clients: a lobby (~3 ms of writes)
# gets its call in one go; a turn every 32 writes put other greenlets' runs inside the fan-out (call
# → screen p99 15.5–23.7 ms against 12.4–18.6 without, docs/PERFORMANCE.md). Packets sent on their
# own (`_send`: pings, answers, the library's emits) take a turn every FAN_OUT_TURN too.
FAN_OUT_TURN = 512


class _Turn:
    """Counts writes; every FAN_OUT_TURN-th gives the event loop a turn (gevent.sleep(0))."""

    written = 0

    def count(self) -> None:
        self.written += 1
        if self.written >= FAN_OUT_TURN:
            self.written = 0
            gevent.sleep(0)


_single_sends = _Turn()  # packets sent on their own, whoever sends them


def _send(self, pkt) -> None:
    """Engine.IO's `Socket.send`: on a WebSocket of ours that has no writer greenlet (`layso_direct`,
    see `_websocket_handler`) every packet is written at once (see `GreenWebSocket._write`);
    elsewhere (before the WebSocket, a polling client's upgrade) a message with nothing queued
    before it is written at once and anything else goes through Engine.IO's queue and its writer
    greenlet, as the library does it."""
    ws = getattr(self, "layso_ws", None)
    at_once = getattr(self, "layso_direct", False) or (
        pkt.packet_type == packet.MESSAGE and self.upgraded and not self.upgrading and not self.closed
        and not self.queue.qsize())
    if ws is None or not at_once:
        return _LIBRARY["send"](self, pkt)
    if not self.check_ping_timeout():
        return None
    if ws.connected:
        ws._write(_frame_of(pkt) if pkt.packet_type == packet.MESSAGE else frame(pkt.encode()))
        _single_sends.count()
    return None


def _websocket_handler(self, ws):
    """Engine.IO's `Socket._websocket_handler` without its writer greenlet (and the queue it waits
    on), ~10.7 KiB a connection (docs/PERFORMANCE.md), for a client that opened its connection on
    the WebSocket (every device and page of ours): what Engine.IO queued before (its OPEN packet,
    Socket.IO's answer to the connect) is written first, then `_send` writes every packet itself
    and the handler only reads. A polling client's upgrade goes the library's way."""
    if not isinstance(ws, GreenWebSocket) or self.connected:
        return _LIBRARY["_websocket_handler"](self, ws)
    ws._sock.settimeout(self.server.ping_interval + self.server.ping_timeout)  # a silent client ends
    self.connected = self.upgraded = True
    self.layso_ws, self.layso_direct = ws, True  # from here on nothing waits in the queue: nothing below yields
    for pkt in _drain(self.queue):
        if pkt is None:  # closed before it began
            ws.close()
            return []
        if ws.connected:
            ws._write(frame(pkt.encode()))
    self.server.logger.info("%s: Upgrade to websocket successful", self.sid)
    while True:
        try:
            data = ws.wait()
            if data and len(data) > self.server.max_http_buffer_size:
                raise ValueError("packet is too large")
        except Exception as err:  # noqa: BLE001 - as the library: a read error ends the connection
            if not self.closed:
                self.server.logger.info('%s: Unexpected error "%s", closing connection', self.sid, err)
            break
        if data is None:  # closed by the client, or silent past the timeout
            break
        try:
            self.receive(packet.Packet(encoded_packet=data))
        except Exception:  # noqa: BLE001 - as the library: log it, end this connection only
            if not self.closed:
                self.server.logger.exception("Unknown receive error")
            break
    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)  # ends `ws` too (`_close`)
    return []


def _drain(queue) -> list:
    """Everything in an Engine.IO socket's queue, each marked done (so `queue.join()` never waits)."""
    out = []
    while queue.qsize():
        out.append(queue.get(block=False))
        queue.task_done()
    return out


def _close(self, wait=True, abort=False, reason=None):
    """Engine.IO's `Socket.close`; on a WebSocket without a writer (`layso_direct`) it does not wait
    for one to drain the queue (its CLOSE packet is written at once) and it ends the connection, which
    the library left to the writer."""
    if not getattr(self, "layso_direct", False):
        return _LIBRARY["close"](self, wait=wait, abort=abort, reason=reason)
    _LIBRARY["close"](self, wait=False, abort=abort, reason=reason)
    _drain(self.queue)  # the None the library queues for a writer there is not
    self.layso_ws.close()
    return None


_last_frame: list = [None, b""]  # (packet, its frame): the packet held, so its id is never reused


def _frame_of(pkt) -> bytes:
    """The packet's frame, built once per fan-out: python-socketio sends the same Engine.IO packet
    object to every recipient of an emit without a callback."""
    if _last_frame[0] is not pkt:
        _last_frame[0], _last_frame[1] = pkt, frame(pkt.encode())
    return _last_frame[1]


_last_group: list = [None, b""]  # (a batch's packets for one room, their frames joined), as `_last_frame`


def batch_writer(eio_server):
    """The writer of one batch (`realtime/batch.py`): `write(eio_sid, group)` sends a client its
    packets of the batch (`send_group`), and every FAN_OUT_TURN clients the batch steps aside."""
    turn = _Turn()

    def write(eio_sid, group: list) -> None:
        send_group(eio_server, eio_sid, group)
        turn.count()
    return write


def send_group(eio_server, eio_sid, group: list) -> None:
    """A client's packets of a batch: on a WebSocket of ours without a writer, their frames joined
    in one write, built once for the room (every client of a room is given the same list);
    elsewhere one `Socket.send` a packet, as Engine.IO's `send_packet`."""
    try:
        sock = eio_server._get_socket(eio_sid)
    except KeyError:  # gone meanwhile
        return
    ws = getattr(sock, "layso_ws", None)
    if ws is None or not getattr(sock, "layso_direct", False):
        for pkt in group:
            sock.send(pkt)
        return
    if not sock.check_ping_timeout():
        return
    if ws.connected:
        if _last_group[0] is not group:
            _last_group[0], _last_group[1] = group, b"".join(frame(pkt.encode()) for pkt in group)
        ws._write(_last_group[1])


def _schedule_ping(self) -> None:
    """Engine.IO's `Socket.schedule_ping`, through the server's pinger when it has one."""
    pinger = getattr(self.server, "layso_pinger", None)
    if pinger is None:
        return _LIBRARY["schedule_ping"](self)
    return pinger.schedule(self)
