"""A lean Socket.IO v5 client over one raw WebSocket (Engine.IO v4 on asyncio + wsproto), for `layso bench`.

python-socketio's Client costs several threads and a full JSON decode per event; a bench process
that holds a hundred lobby displays needs neither. This speaks only the packets a device uses:
the Engine.IO open packet, connect with auth, ping/pong, events and acknowledgements. Each
received event reaches `on_event` as the raw Socket.IO payload text (`["name",{...}]`), so the
caller decides what it is worth decoding.
"""
from __future__ import annotations

import asyncio
import json
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


class SioClient(asyncio.Protocol):
    def __init__(self, host: str, port: int, auth: dict, on_event: Callable[[str, float], None] | None = None):
        self.host = host
        self.port = port
        self.auth = auth
        self.on_event = on_event
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._parts: list[str] = []
        self._acks: dict[int, asyncio.Future] = {}
        self._last_ack_id = 0
        self._connected: asyncio.Future | None = None
        self._inbox: list[tuple[float, bytes]] = []  # what was read, and when, not yet handled
        self._received_at = 0.0  # when the bytes being handled were read

    # ---- public --------------------------------------------------------------------------------
    async def connect(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()
        await asyncio.wait_for(loop.create_connection(lambda: self, self.host, self.port), timeout)
        await asyncio.wait_for(self._connected, timeout)

    async def call(self, event: str, data: dict, timeout: float = 30.0):
        """Emit `event` with an acknowledgement and return the acknowledgement's first argument."""
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
            self.transport.write(self._ws.send(CloseConnection(code=1000)))
            self.transport.close()

    # ---- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self._ws.send(Request(host=f"{self.host}:{self.port}", target=ENGINEIO_PATH)))

    def data_received(self, data: bytes) -> None:
        """Note when the bytes were read and handle them once this moment's reads are done: asyncio
        runs what `call_soon` adds after every ready connection's read, so a client process holding a
        hundred screens stamps each screen's event when it was read, not after the screens before it
        in the process have parsed theirs (a real screen is alone on its device)."""
        self._inbox.append((time.time(), data))
        if len(self._inbox) == 1:
            asyncio.get_running_loop().call_soon(self._handle_inbox)

    def _handle_inbox(self) -> None:
        inbox, self._inbox = self._inbox, []
        for self._received_at, data in inbox:
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

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(SocketIOError(f"connection lost ({exc})" if exc else "connection closed"))

    # ---- Engine.IO / Socket.IO packets ---------------------------------------------------------
    def _send(self, text: str) -> None:
        self.transport.write(self._ws.send(TextMessage(data=text)))

    def _packet(self, text: str) -> None:
        kind = text[:1]
        if kind == "4":  # an Engine.IO message carrying a Socket.IO packet
            sio = text[1:2]
            if sio == "2":
                if self.on_event is not None:
                    self.on_event(text[2:], self._received_at)
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
