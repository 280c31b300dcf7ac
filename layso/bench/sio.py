"""A lean Socket.IO v5 client over one raw WebSocket (Engine.IO v4 on asyncio + wsproto), for `layso bench`.

python-socketio's Client costs several threads and a full JSON decode per event; a bench process
that holds a hundred lobby displays needs neither. This speaks only the packets a device uses:
the Engine.IO open packet, connect with auth, ping/pong, events and acknowledgements. Each
received event reaches `on_event` as the raw Socket.IO payload text (`["name",{...}]`), so the
caller decides what it is worth decoding, with two times: when its bytes reached the client's socket
(the kernel's receive time) and when the client read them.
"""
from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from typing import Callable

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

ENGINEIO_PATH = "/socket.io/?EIO=4&transport=websocket"


class SocketIOError(Exception):
    """The server refused the connection or went away."""


# The kernel's receive time of what a socket reads (Linux: SO_TIMESTAMPNS, its control message a
# struct timespec). A client process holds a hundred screens, and the bench's processes share two
# cores with the server: when the client reads a screen's bytes says as much about the client's own
# turn on a core as about the server. The moment the bytes reached the screen's socket does not.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_STAMP_SPACE = socket.CMSG_SPACE(16)
RECEIVE_BYTES = 65536


def kernel_time(ancillary) -> float | None:
    """The receive time in `recvmsg`'s control messages (for TCP: of the last segment read); None when
    the kernel gave none (Linux turns receive timestamps on for the machine a moment after the first
    socket asks): the client's read time stands in then, a later time, never an earlier one."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec + nsec / 1e9
    return None


class _Link:
    """The client's end of the connection: writes without waiting (what the socket cannot take yet
    waits for it to be writable); reads are the client's (`SioClient._readable`)."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop):
        self.sock, self.loop = sock, loop
        self._out = bytearray()

    def write(self, data: bytes) -> None:
        if self._out:
            self._out += data
            return
        try:
            n = self.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:  # closed: the reader has noticed, or will
            return
        if n < len(data):
            self._out += data[n:]
            self.loop.add_writer(self.sock.fileno(), self._flush)

    def _flush(self) -> None:
        try:
            n = self.sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            n = len(self._out)
        del self._out[:n]
        if not self._out:
            self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        fd = self.sock.fileno()
        if fd >= 0:
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)
            self.sock.close()


class SioClient:
    def __init__(self, host: str, port: int, auth: dict, on_event: Callable[[str, float, float], None] | None = None):
        self.host = host
        self.port = port
        self.auth = auth
        self.on_event = on_event  # on_event(text, arrived, read): the kernel's receive time, the client's read
        self.transport: _Link | None = None
        self.lost = False
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._parts: list[str] = []
        self._acks: dict[int, asyncio.Future] = {}
        self._last_ack_id = 0
        self._connected: asyncio.Future | None = None
        self._inbox: list[tuple[float, float, bytes]] = []  # what was read, when it arrived and was read
        self.ack_arrived = 0.0  # when the answer to the last `call` reached the socket (the kernel's time)
        self._arrived_at = self._read_at = 0.0  # of the bytes being handled

    # ---- public --------------------------------------------------------------------------------
    async def connect(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            await asyncio.wait_for(loop.sock_connect(sock, (self.host, self.port)), timeout)
        except BaseException:
            sock.close()
            raise
        self.transport = _Link(sock, loop)
        loop.add_reader(sock.fileno(), self._readable)
        self.transport.write(self._ws.send(Request(host=f"{self.host}:{self.port}", target=ENGINEIO_PATH)))
        await asyncio.wait_for(self._connected, timeout)

    async def call(self, event: str, data: dict, timeout: float = 30.0):
        """Emit `event` with an acknowledgement and return the acknowledgement's first argument (when
        it reached the socket: `ack_arrived`)."""
        if self.lost or self.transport is None:
            raise SocketIOError("not connected")
        self._last_ack_id += 1
        ack_id = self._last_ack_id
        future = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        self._send(f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._acks.pop(ack_id, None)

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.lost = True
            self.transport.write(self._ws.send(CloseConnection(code=1000)))
            self.transport.close()

    # ---- reading -------------------------------------------------------------------------------
    def _readable(self) -> None:
        """Read what arrived, with the kernel's receive time and our own; handle it once this moment's
        reads are done (what `call_soon` adds runs after every ready connection's read), so no screen's
        read waits for the screens before it in the process to parse theirs."""
        try:
            data, ancillary, _flags, _addr = self.transport.sock.recvmsg(RECEIVE_BYTES, _STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._fail(SocketIOError(f"connection lost ({err})"))
            return
        if not data:
            self._fail(SocketIOError("connection closed"))
            return
        read_at = time.time()
        self._inbox.append((kernel_time(ancillary) or read_at, read_at, data))
        if len(self._inbox) == 1:
            asyncio.get_running_loop().call_soon(self._handle_inbox)

    def _handle_inbox(self) -> None:
        inbox, self._inbox = self._inbox, []
        for self._arrived_at, self._read_at, data in inbox:
            if self.lost:
                return
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        self._ws.receive_data(data)
        for ev in self._ws.events():
            if isinstance(ev, TextMessage):
                if ev.message_finished and not self._parts:
                    self._packet(ev.data)
                else:
                    self._parts.append(ev.data)
                    if ev.message_finished:
                        text, self._parts = "".join(self._parts), []
                        self._packet(text)
            elif isinstance(ev, Ping):
                self.transport.write(self._ws.send(ev.response()))
            elif isinstance(ev, RejectConnection):
                self._fail(SocketIOError(f"websocket upgrade refused ({ev.status_code})"))
            elif isinstance(ev, CloseConnection):
                self._fail(SocketIOError("the server closed the connection"))
            elif not isinstance(ev, AcceptConnection):
                continue  # binary frames and pongs carry nothing a device needs here


    # ---- Engine.IO / Socket.IO packets ---------------------------------------------------------
    def _send(self, text: str) -> None:
        self.transport.write(self._ws.send(TextMessage(data=text)))

    def _packet(self, text: str) -> None:
        kind = text[:1]
        if kind == "4":  # an Engine.IO message carrying a Socket.IO packet
            sio = text[1:2]
            if sio == "2":
                if self.on_event is not None:
                    self.on_event(text[2:], self._arrived_at, self._read_at)
            elif sio == "3":
                self._ack(text[2:])
            elif sio == "0":
                if self._connected is not None and not self._connected.done():
                    self._connected.set_result(True)
            elif sio == "4":
                try:
                    message = json.loads(text[2:]).get("message", text[2:])
                except ValueError:
                    message = text[2:]
                self._fail(SocketIOError(f"connection refused: {message}"))
            elif sio == "1":
                self._fail(SocketIOError("disconnected by the server"))
        elif kind == "2":  # Engine.IO ping: answer at once or the server drops us
            self._send("3")
        elif kind == "0":  # Engine.IO open: now connect to the default namespace with our credential
            self._send("40" + json.dumps(self.auth, separators=(",", ":")))
        elif kind == "1":
            self._fail(SocketIOError("closed by the server"))

    def _ack(self, body: str) -> None:
        digits = 0
        while digits < len(body) and body[digits].isdigit():
            digits += 1
        if not digits:
            return
        future = self._acks.get(int(body[:digits]))
        if future is not None and not future.done():
            args = json.loads(body[digits:])
            self.ack_arrived = self._arrived_at
            future.set_result(args[0] if args else None)

    def _fail(self, err: SocketIOError) -> None:
        first = not self.lost
        self.lost = True
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(err)
        for future in self._acks.values():
            if not future.done():
                future.set_exception(err)
        if first and self.transport is not None:
            self.transport.close()
