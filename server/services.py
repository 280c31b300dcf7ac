"""The server's shared parts (database, engine, publisher, limiter), reachable from adapters as
`services()`, and `publish` that hands a committed command's events to the realtime adapter."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app
from layso.server.engine import QueueEngine, Result
from layso.server.errors import TooManyRequests
from layso.server.storage.database import Database

log = logging.getLogger("layso.server")


class RateLimiter:
    """Sliding-window limits per key (bucket and account, device or client address), kept by the
    `limits` library: in this process's memory, or in Redis when the server runs with a message queue
    (`LAYSO_MESSAGE_QUEUE`), so that every process of an installation counts the same hits. Keys
    expire on their own: a flood of new keys wipes nobody's count."""

    def __init__(self, redis_url: str | None = None, prefix: str = "layso"):
        from limits import storage, strategies
        if redis_url and redis_url.startswith(("redis://", "rediss://", "unix://")):
            self.storage = storage.RedisStorage(redis_url, key_prefix=f"{prefix}:limits")
        else:
            self.storage = storage.MemoryStorage()
        self._strategy = strategies.MovingWindowRateLimiter(self.storage)

    def hit(self, key: tuple, limit: int, per_s: float = 60.0) -> None:
        """Count one hit on `key`; 429 when `key` had `limit` hits in the last `per_s` seconds."""
        from limits import RateLimitItemPerSecond
        item = RateLimitItemPerSecond(limit, max(1, round(per_s)))
        try:
            allowed = self._strategy.hit(item, *(str(k) for k in key))
        except Exception as err:  # noqa: BLE001 - Redis away: fail closed, like the database does
            log.error("rate limit store unavailable: %s", err)
            raise TooManyRequests("too many requests (the limit store is unavailable)", "too_many_requests") from None
        if not allowed:
            raise TooManyRequests("too many requests", "too_many_requests")

    def clear(self) -> None:
        """Forget every count (tests, and an administrator after an attack is over)."""
        self.storage.reset()


def rate_limiter(message_queue: str | None, db_url: str) -> RateLimiter:
    """The limiter of a server: in Redis with the message queue (keys named after the database, so
    the processes of one installation share them and other installations do not), else in memory."""
    import hashlib
    return RateLimiter(message_queue, prefix="layso:" + hashlib.sha256(db_url.encode()).hexdigest()[:12])


@dataclass
class Services:
    db: Database
    engine: QueueEngine
    publish: callable = None  # set by the realtime adapter: publish(list[Event])
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # per centre, the last (code, accepting, reason) of each field the janitor saw
    field_openness: dict = field(default_factory=dict)
    vapid: object = None  # notify.vapid.VapidKeys: the installation's Web Push key pair
    notifier: object = None  # notify.worker.NotifierWorker of this process (None in tests' apps)


def services() -> Services:
    return current_app.extensions["layso"]


def publish(res: Result) -> Result:
    """Hand a command's events to the realtime adapter once it has committed."""
    if res.events and services().publish is not None:
        services().publish(res.events)
    return res
