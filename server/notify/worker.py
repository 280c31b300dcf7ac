"""The notifier worker: one thread per server process that matches queue events to subscriptions
and sends the outbox, woken by the publisher right after a command that called a ticket has
committed and published (or every `every_s` at the latest: other moves, other processes' commands).
Nothing it does runs inside a command: a slow or failing gateway never delays the queue.

"Your turn" comes first: each round matches the calls and sends their messages before anything else,
and a wake-up during the sending of other messages (a command was just published: perhaps a call)
puts the rest of that batch back in the queue so the next round starts with the calls."""
from __future__ import annotations

import logging
import threading
import time

from layso.server.notify.delivery import Channels, send_batch
from layso.server.notify.outbox import Matcher, deliver, forget_phones
from layso.server.storage.database import Database

log = logging.getLogger("layso.notify")


class NotifierWorker:
    """One thread: each round matches and sends the calls first ("your turn" cannot wait), then —
    at most every `recount_s` — counts the people ahead of every subscribed ticket (the slow part
    with many subscriptions) and sends what that queued."""

    def __init__(self, db: Database, every_s: float = 0.5, backoff_base_s: float = 1.0, recount_s: float = 1.0,
                 vapid=None):
        self.db = db
        self.vapid = vapid  # the installation's VAPID keys (Web Push)
        self.every_s = every_s
        self.backoff_base_s = backoff_base_s
        self.recount_s = recount_s
        self._last_recount = float("-inf")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.matcher = Matcher(db)
        self.thread = threading.Thread(target=self._loop, name="layso-notifier", daemon=True)

    def start(self) -> "NotifierWorker":
        self.thread.start()
        return self

    def wake(self, *_events) -> None:
        """Called after a command's events are published: look for work now."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.thread.join(10)

    def run_once(self, recount: bool = True) -> int:
        """One round; `recount=False` leaves the people-ahead counting for a later round."""
        if self.matcher.idle():
            return 0
        sent = send_batch(self.db, self.matcher.calls(), Channels(self.db, self.vapid), self.backoff_base_s)
        sent += self._deliver()
        if recount:
            self._last_recount = time.monotonic()
            self.matcher.run()
            sent += self._deliver()
        return sent

    def _deliver(self) -> int:
        return deliver(self.db, backoff_base_s=self.backoff_base_s, vapid=self.vapid, interrupted=self._wake.is_set)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every_s)
            self._wake.clear()
            try:
                while self.run_once(recount=time.monotonic() - self._last_recount >= self.recount_s):
                    pass  # something was sent: there may be more
            except Exception:  # noqa: BLE001 - keep the worker alive; the next round retries
                log.exception("notifier round failed")


# Events after which a round cannot wait for the poll: a call ("your turn") is matched and sent at
# once. Every other move only changes how many people are ahead, which is counted at most once a
# `recount_s` anyway: the poll (`every_s`) finds it. Woken by every command, the worker read the
# ticket log ~17 times a second under the lobby bench for nothing (13 % of the server's CPU).
URGENT = frozenset({"ticket.called"})


def start_notifier(svc) -> NotifierWorker:
    """Start the worker and have the publisher wake it after each command that calls a ticket."""
    worker = NotifierWorker(svc.db, vapid=svc.vapid).start()
    inner = svc.publish

    def publish_and_wake(events):
        inner(events)
        if any(ev.type in URGENT for ev in events):
            worker.wake()

    svc.publish = publish_and_wake
    svc.notifier = worker
    return worker


__all__ = ["NotifierWorker", "forget_phones", "start_notifier"]
