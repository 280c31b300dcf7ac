"""The server's shared parts (database, engine, publisher, limiter), reachable from adapters as
`services()`, and `publish` that hands a committed command's events to the realtime adapter."""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from flask import current_app
from layso.server.engine import QueueEngine, Result
from layso.server.errors import TooManyRequests
from layso.server.storage.database import Database


class RateLimiter:
    """A sliding-window limit per key (client address and bucket), in memory per process."""

    def __init__(self):
        self._hits: dict[tuple, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: tuple, limit: int, per_s: float = 60.0) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._hits[key]
            while q and now - q[0] > per_s:
                q.popleft()
            if len(q) >= limit:
                raise TooManyRequests("too many requests", "too_many_requests")
            q.append(now)
            if len(self._hits) > 10_000:
                self._hits.clear()


@dataclass
class Services:
    db: Database
    engine: QueueEngine
    publish: callable = None  # set by the realtime adapter: publish(list[Event])
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # per centre, the last (code, accepting, reason) of each field the janitor saw
    field_openness: dict = field(default_factory=dict)


def services() -> Services:
    return current_app.extensions["layso"]


def publish(res: Result) -> Result:
    """Hand a command's events to the realtime adapter once it has committed."""
    if res.events and services().publish is not None:
        services().publish(res.events)
    return res
