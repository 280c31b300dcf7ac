"""A lean Socket.IO v5 client over one raw WebSocket (Engine.IO v4 on asyncio), for `layso bench`.

python-socketio's Client costs several threads and a full JSON decode per event; a bench process
that holds a hundred lobby displays needs neither. This speaks only the packets a device uses:
the Engine.IO open packet, connect with auth, ping/pong, events and acknowledgements. Each
received event reaches `on_event` as the raw Socket.IO payload text (`["name",{...}]`), so the
caller decides what it is worth decoding, with two times: when its bytes reached the client's socket
(the kernel's receive time) and when the client read them.

The WebSocket's frames are read and written here too (`FrameReader`, `client_frame`), not by
wsproto: its frame layer took ~100 µs of a client process's CPU for the four frames of a NEXT,
which made the bench's two hundred screens cost twice the CPU of the server they measure, on the
cores they share (docs/PERFORMANCE.md).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time
from typing import Callable

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


# WebSocket opcodes (RFC 6455 §5.2)
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_token(key: bytes) -> bytes:
    """The server's Sec-WebSocket-Accept for the client's key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One whole client frame: FIN, `opcode`, masked with a fresh key (RFC 6455 §5.3)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + _masked(payload, key)


def _masked(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


class FrameReader:
    """The server's frames from a byte stream: `feed(data)` returns what became whole, in order, as
    (opcode, payload): a message (TEXT as str, BINARY as bytes; fragments joined) or a control frame
    (CLOSE, PING, PONG: bytes), which may come between a message's fragments."""

    def __init__(self):
        self._buf = b""
        self._opcode = None  # of the message whose fragments are being joined
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[tuple[int, bytes | str]]:
        buf = self._buf + data if self._buf else data
        out, i, end = [], 0, len(buf)
        while end - i >= 2:
            b0, b1 = buf[i], buf[i + 1]
            length, at = b1 & 0x7F, i + 2
            if length == 126:
                if end - at < 2:
                    break
                length, at = int.from_bytes(buf[at:at + 2], "big"), at + 2
            elif length == 127:
                if end - at < 8:
                    break
                length, at = int.from_bytes(buf[at:at + 8], "big"), at + 8
            key = None
            if b1 & 0x80:  # a server must not mask, but a masked frame is still read right
                if end - at < 4:
                    break
                key, at = buf[at:at + 4], at + 4
            if end - at < length:
                break
            payload = buf[at:at + length]
            if key is not None:
                payload = _masked(payload, key)
            i = at + length
            opcode = b0 & 0x0F
            if opcode >= CLOSE:
                out.append((opcode, payload))
                continue
            if opcode != CONTINUATION:
                self._opcode, self._parts = opcode, []
            self._parts.append(payload)
            if b0 & 0x80:  # FIN: the message is whole
                whole = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                out.append((self._opcode, whole.decode() if self._opcode == TEXT else whole))
                self._parts = []
        self._buf = buf[i:]
        return out


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
        self._frames = FrameReader()
        self._key = base64.b64encode(os.urandom(16))
        self._head = b""  # the server's answer to the upgrade, until it is whole (then None)
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
        self.transport.write(f"GET {ENGINEIO_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                             f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                             f"Sec-WebSocket-Key: {self._key.decode()}\r\n\r\n".encode())
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
            self.transport.write(client_frame(CLOSE, struct.pack("!H", 1000)))
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
        if self._head is not None:  # the upgrade's answer first
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data, self._head = self._head[:end], self._head[end + 4:], None
            status = head.split(b"\r\n", 1)[0].split(b" ")
            if len(status) < 2 or status[1] != b"101":
                self._fail(SocketIOError(f"websocket upgrade refused ({b' '.join(status[1:2]).decode() or '?'})"))
                return
            if accept_token(self._key) not in head:  # Sec-WebSocket-Accept's value
                self._fail(SocketIOError("websocket upgrade answered with a wrong accept token"))
                return
            if not data:
                return
        for opcode, payload in self._frames.feed(data):
            if opcode == TEXT:
                self._packet(payload)
            elif opcode == PING:
                self.transport.write(client_frame(PONG, payload))
            elif opcode == CLOSE:
                self._fail(SocketIOError("the server closed the connection"))
                return
            # binary frames and pongs carry nothing a device needs here

    # ---- Engine.IO / Socket.IO packets ---------------------------------------------------------
    def _send(self, text: str) -> None:
        self.transport.write(client_frame(TEXT, text.encode()))

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
