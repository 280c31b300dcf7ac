"""One greenlet that sends every due Engine.IO ping (`layso serve`, gevent), instead of one sleeping
greenlet a connection: the intervals are all the same, so the due times are in the order they were
scheduled (`realtime/green.py` installs it)."""
from __future__ import annotations

import collections
import logging
import time

import gevent
import gevent.event
from engineio import packet

log = logging.getLogger("layso.realtime")


class Pinger:
    """One greenlet that sends every due Engine.IO ping (instead of one sleeping greenlet a socket).

    Engine.IO schedules a socket's next ping when its pong arrives (`Socket.schedule_ping`); the
    interval is the server's, the same for every socket, so a FIFO holds them in due order."""

    def __init__(self, interval: float):
        self.interval = interval
        self._due: collections.deque = collections.deque()
        self._wake = gevent.event.Event()
        self._greenlet = None  # spawned with the first connection

    def schedule(self, sock) -> None:
        if not sock.last_ping:  # only once the previous ping was answered (Engine.IO's own rule)
            return
        sock.last_ping = None
        self._due.append((time.monotonic() + self.interval, sock))
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)
        self._wake.set()

    def _loop(self) -> None:
        while True:
            if not self._due:
                self._wake.clear()
                self._wake.wait()
                continue
            due, sock = self._due[0]
            delay = due - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
                continue
            self._due.popleft()
            if sock.closing or sock.closed:
                continue
            try:
                sock.last_ping = time.time()
                sock.send(packet.Packet(packet.PING))
            except Exception:  # noqa: BLE001 - one socket's failure must not stop the others' pings
                log.exception("ping to %s failed", getattr(sock, "sid", "?"))
