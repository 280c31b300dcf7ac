"""A command's events to their rooms in one pass: `emit_batch` on Socket.IO's client manager.

A counter's NEXT commits four events (the finished ticket, the called one, the counter, the queue)
and each goes to every device of the centre: 260 clients in the lobby bench, four passes over the
room, four writes a client. `emit_batch(items)` takes every (event, payload, room) of a publication
at once: each Socket.IO packet is encoded once, and each client gets all of its packets in the order
of `items` with one write (`green.send_group` under gevent: the frames joined, one `send`; the
library's packet by packet elsewhere). The packets and their order on every connection are what
one `emit` after another would have sent. Through Redis (`LAYSO_MESSAGE_QUEUE`) the batch is one
message on the channel, fanned out by each process to its own clients.
"""
from __future__ import annotations

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

BATCH = "layso:batch"  # the event name of a batch on the Redis channel (never sent to a client)


class BatchEmit:
    """`emit_batch` for a Socket.IO client manager (a mixin)."""

    def emit_batch(self, items: list, namespace: str = "/") -> None:
        """Send each (event, payload, room) of `items`; see the module."""
        self._emit_batch_here(items, namespace)

    def _emit_batch_here(self, items: list, namespace: str) -> None:
        if not items or namespace not in self.rooms:
            return
        server = self.server
        packets = []  # per item: its Engine.IO packets (one, unless the payload has binary parts)
        by_room: dict = {}  # room -> the indexes of its items, in order
        for i, (event, data, room) in enumerate(items):
            encoded = server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, data]).encode()
            packets.append([eio_packet.Packet(eio_packet.MESSAGE, p)
                            for p in (encoded if isinstance(encoded, list) else [encoded])])
            by_room.setdefault(room, []).append(i)
        members = {room: list(self.get_participants(namespace, room)) for room in by_room}
        # a client in more than one room of the batch (the kiosk that issued: its own room and the
        # devices') gets its packets in the order of `items`, not room after room
        several: set = set()
        if len(members) > 1:
            seen: set = set()
            for participants in members.values():
                for _sid, eio_sid in participants:
                    if eio_sid in seen:
                        several.add(eio_sid)
                    seen.add(eio_sid)
        send = _writer(server)
        for room, indexes in by_room.items():
            group = [p for i in indexes for p in packets[i]]
            for _sid, eio_sid in members[room]:
                if eio_sid not in several:
                    send(eio_sid, group)
        for eio_sid in several:
            its_rooms = {room for room, participants in members.items() if any(e == eio_sid for _s, e in participants)}
            send(eio_sid, [p for i, item in enumerate(items) if item[2] in its_rooms for p in packets[i]])


def _writer(server):
    """How a client's packets of a batch are written: `green.batch_writer` under `layso serve`, else
    one packet after another the library's way (the threading mode of in-process tests, whose test
    client listens there)."""
    eio = server.eio
    batch_writer = getattr(eio, "layso_batch_writer", None)
    if batch_writer is not None:
        return batch_writer(eio)

    def each(eio_sid, group):
        for p in group:
            server._send_eio_packet(eio_sid, p)
    return each


class Manager(BatchEmit, socketio.Manager):
    """One process: the batch goes straight to this process's clients."""


class RedisManager(BatchEmit, socketio.RedisManager):
    """Several processes: the batch is one message on the Redis channel; every process (this one
    at once) sends it to its own clients."""

    def emit_batch(self, items: list, namespace: str = "/") -> None:
        message = {"method": "emit", "event": BATCH, "data": [items], "binary": False, "namespace": namespace,
                   "room": None, "skip_sid": None, "callback": None, "host_id": self.host_id}
        self._emit_batch_here(items, namespace)
        self._publish(message)

    def _handle_emit(self, message):
        if message.get("event") == BATCH:
            return self._emit_batch_here(message["data"][0], message.get("namespace") or "/")
        return super()._handle_emit(message)


def client_manager(message_queue: str | None, channel: str):
    """The client manager of a server: Redis when `message_queue` is set (the only queue we ship)."""
    if not message_queue:
        return Manager()
    if not message_queue.startswith(("redis://", "rediss://")):
        raise RuntimeError(f"LAYSO_MESSAGE_QUEUE must be a Redis URL (redis://…), not {message_queue!r}")
    return RedisManager(message_queue, channel=channel)
