"""Publishing committed events: to every client of their centre (`guard.event_audiences`), and
(stripped) to the public tracking room, a publication's events in one batch (`realtime/batch.py`:
each client gets them in one write); from one ordered worker per process so a command's answer never
waits for the fan-out. With LAYSO_MESSAGE_QUEUE set, the batch goes through Redis to every server
process, and each process writes it to its own clients."""
from __future__ import annotations

import logging
import queue
import threading
import time

from layso.server.engine import Event

log = logging.getLogger("layso.realtime")

# Event types a public tracking page may see, stripped of ids and tracking links.
PUBLIC_TYPES = {"ticket.called", "ticket.recalled", "ticket.completed", "ticket.skipped", "ticket.cancelled",
                "ticket.transferred", "queue.changed", "ticker.changed"}


def public_room(centre_id: int) -> str:
    return f"public:{centre_id}"


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("id", "track_url", "device_id")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def publish(events: list[Event]) -> None:
    """Broadcast committed events to every client of their centre (through Redis when configured):
    the events of one publication (one command's) in one batch (`realtime/batch.py`), so that each
    client gets them all in one write."""
    from layso.server.realtime.guard import event_audiences, send_batch
    items = []
    for ev in events:
        items += event_audiences(ev)  # staff whole, devices without tracking links, the issuing kiosk its own
        if ev.type in PUBLIC_TYPES:
            items.append((ev.type, _strip(ev.payload), public_room(ev.centre_id)))
    # let what is ready go first (under gevent: the answer of the command that made these events,
    # other commands' answers): a fan-out to hundreds of screens runs without a pause of its own
    time.sleep(0)
    send_batch(items)


class OrderedWorker:
    """Runs submitted calls one after another on one thread (a greenlet under gevent), in order."""

    def __init__(self, name: str):
        self.name = name
        self._queue: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn, *args) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                    self._thread.start()
        self._queue.put((fn, args))

    def _loop(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one failure must not stop the later work
                log.exception("%s: %s failed", self.name, getattr(fn, "__name__", fn))


class AsyncPublisher:
    """Publishes from one worker, in the order commands committed, so that a command's answer never
    waits for the fan-out to hundreds of lobby screens."""

    def __init__(self):
        self._worker = OrderedWorker("layso-publisher")

    def __call__(self, events: list[Event]) -> None:
        self._worker.submit(publish, events)
