"""Delivering the outbox: claim due messages in a batch, send them outside any transaction, record
the outcomes in one transaction.

- `claim` takes up to `limit` due messages in one statement (pending, or `sending` past its claim:
  a sender that died mid-way), "your turn" first, marking them `sending` until `now + CLAIM_S`, so
  only one process sends each. On PostgreSQL the candidates are locked with SKIP LOCKED, so several
  processes claim different messages at once.
- `send` hands one message to its channel and says why it failed (None: it was sent); a batch's
  channels send side by side (`send_batch`), so a gateway that hangs holds up only its own messages.
- `record` marks each message sent, or pending again after an exponential back-off, or failed after
  `max_attempts` (at once when retrying cannot help: the channel is not configured, or the push
  subscription is gone — that subscription is dropped). Each message carries its key
  (`Idempotency-Key`), so a gateway can drop the rare repeat of a message whose outcome was lost.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from layso.server import clock
from layso.server.engine.context import Settings
from layso.server.notify.channels import DeliveryError, alert_channels, channels_of
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, NotifySubscription, OutboxMessage
from sqlalchemy import case, select, update

log = logging.getLogger("layso.notify")

CLAIM_S = 120.0


@dataclass
class Claimed:
    """One message taken for sending."""

    id: int
    centre_id: int
    subscription_id: int
    kind: str
    channel: str
    payload: dict
    attempts: int
    audience: str = "centre"  # whose settings hold its channel: the centre's, or the province's (alerts)

    @property
    def message(self) -> dict:
        return {**self.payload, "key": f"layso-{self.id}"}


@dataclass
class Outcome:
    claimed: Claimed
    error: str | None  # None: sent
    retry: bool = True  # False: failed for good at once
    gone: bool = False  # the recipient is no more: drop the subscription


def backoff(attempts: int, base_s: float = 1.0, max_s: float = 300.0) -> float:
    """Seconds before the next try after `attempts` failed ones: base, 2×base, 4×base … at most max."""
    return min(max_s, base_s * 2 ** max(0, attempts - 1))


def due_messages(now: datetime, kinds: tuple[str, ...] | None):
    q = select(OutboxMessage.id).where(OutboxMessage.status.in_(("pending", "sending")),
                                       OutboxMessage.next_attempt_at <= now)
    return q if kinds is None else q.where(OutboxMessage.kind.in_(kinds))


def _due_ids(s, now: datetime, limit: int, kinds: tuple[str, ...] | None):
    q = (due_messages(now, kinds)
         .order_by(case((OutboxMessage.kind == "called", 0), else_=1), OutboxMessage.next_attempt_at, OutboxMessage.id)
         .limit(limit))
    if s.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return q


CLAIMED_COLUMNS = (OutboxMessage.id, OutboxMessage.centre_id, OutboxMessage.subscription_id, OutboxMessage.kind,
                   OutboxMessage.channel, OutboxMessage.payload, OutboxMessage.attempts, OutboxMessage.audience)


def claim(db: Database, now: datetime, limit: int, kinds: tuple[str, ...] | None = None) -> list[Claimed]:
    """Take up to `limit` due messages (of `kinds`, default all) for sending, "your turn" first."""
    if limit <= 0:
        return []
    # the worker is woken after every call and polls every 0.5 s; most rounds find nothing due: look in
    # a snapshot first, so that an empty round does not queue behind (and hold up) the counters' writes
    with db.read() as s:
        if s.execute(due_messages(now, kinds).limit(1)).first() is None:
            return []
    with db.write() as s:
        ids = s.execute(_due_ids(s, now, limit, kinds)).scalars().all()
        if not ids:
            return []
        rows = s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                         .values(status="sending", next_attempt_at=now + timedelta(seconds=CLAIM_S))
                         .returning(*CLAIMED_COLUMNS)).all()
    out = [Claimed(*r) for r in rows]
    out.sort(key=lambda c: (c.kind != "called", ids.index(c.id)))
    return out


class Channels:
    """Each centre's channels and `max_attempts` (and the province's, for its alerts), read once per
    delivery round."""

    def __init__(self, db: Database, vapid=None, channels_for=None):
        self.db = db
        self.vapid = vapid
        self.channels_for = channels_for or channels_of
        self._cache: dict = {}

    def of(self, centre_id: int, audience: str = "centre") -> tuple[dict, int]:
        key = "province" if audience == "province" else centre_id
        if key not in self._cache:
            with self.db.read() as s:
                if audience == "province":
                    from layso.server.notify.alerts import alerts_config_in
                    cfg = alerts_config_in(s)
                    self._cache[key] = alert_channels(cfg), cfg.max_attempts
                else:
                    cfg = Settings.of(s.get(Centre, centre_id)).notify
                    self._cache[key] = self.channels_for(cfg, self.vapid), cfg.max_attempts
        return self._cache[key]


def send(c: Claimed, channels: Channels) -> Outcome:
    """Send one message outside any transaction."""
    channel = channels.of(c.centre_id, c.audience)[0].get(c.channel)
    if channel is None:
        return Outcome(c, f"the {c.channel} channel is not configured", retry=False)
    try:
        channel.send(c.message)
    except DeliveryError as err:
        return Outcome(c, str(err), retry=not err.gone, gone=err.gone)
    except Exception as err:  # noqa: BLE001 - a channel's bug must not stop the others
        log.exception("notification %s failed", c.id)
        return Outcome(c, f"unexpected error: {type(err).__name__}")
    return Outcome(c, None)


def record(db: Database, outcomes: list[Outcome], channels: Channels, backoff_base_s: float = 1.0) -> int:
    """Write the outcomes of a batch in one transaction; how many messages were sent."""
    if not outcomes:
        return 0
    done = clock.now()
    with db.write() as s:
        for o in outcomes:
            c = o.claimed
            attempts = c.attempts + 1
            if o.error is None:
                values = {"status": "sent", "sent_at": done, "last_error": None}
            elif o.retry and attempts < channels.of(c.centre_id, c.audience)[1]:
                values = {"status": "pending", "last_error": o.error[:300],
                          "next_attempt_at": done + timedelta(seconds=backoff(attempts, backoff_base_s))}
            else:
                values = {"status": "failed", "last_error": o.error[:300]}
            s.execute(update(OutboxMessage).where(OutboxMessage.id == c.id, OutboxMessage.status == "sending")
                      .values(attempts=attempts, **values))
            if o.gone:
                _drop_subscription(s, c, o.error)
    return sum(1 for o in outcomes if o.error is None)


def _drop_subscription(s, c: Claimed, why: str) -> None:
    """A push subscription the push service no longer knows: forget it, and fail its other messages."""
    s.execute(update(NotifySubscription).where(NotifySubscription.id == c.subscription_id)
              .values(active=False, subscription=None))
    s.execute(update(OutboxMessage).where(OutboxMessage.subscription_id == c.subscription_id,
                                          OutboxMessage.channel == c.channel, OutboxMessage.id != c.id,
                                          OutboxMessage.status == "pending")
              .values(status="failed", last_error=why[:300]))


def release(db: Database, claimed: list[Claimed]) -> None:
    """Give back messages claimed but not sent (the worker turned to something more urgent)."""
    if claimed:
        with db.write() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_([c.id for c in claimed]),
                                                  OutboxMessage.status == "sending")
                      .values(status="pending", next_attempt_at=clock.now()))


def deliver(db: Database, limit: int = 50, backoff_base_s: float = 1.0, channels_for=None, vapid=None,
            interrupted=None) -> int:
    """Send the due messages (at most `limit`), "your turn" first; how many were sent. `interrupted()`
    is asked before each message that is not a call, but each channel's first: when it says so, the
    rest go back to the queue (at least one is sent: a stream of wake-ups cannot starve the others)."""
    channels = Channels(db, vapid, channels_for)
    return send_batch(db, claim(db, clock.now(), limit), channels, backoff_base_s, interrupted)


def send_batch(db: Database, batch: list[Claimed], channels: Channels, backoff_base_s: float = 1.0,
               interrupted=None) -> int:
    """Send claimed messages and record the outcomes (see `deliver`); how many were sent. Each channel
    is a lane of its own, sent in order ("your turn" first); the lanes go at once, so a gateway that
    hangs until its timeout holds up only its own channel's messages, not the others'."""
    lanes: dict[str, list[Claimed]] = {}
    for c in batch:
        lanes.setdefault(c.channel, []).append(c)
    results: list[tuple[list[Outcome], list[Claimed]]] = []

    def run(lane: list[Claimed]) -> None:
        outcomes: list[Outcome] = []
        for i, c in enumerate(lane):
            if i and c.kind != "called" and interrupted is not None and interrupted():
                results.append((outcomes, lane[i:]))
                return
            outcomes.append(send(c, channels))
        results.append((outcomes, []))

    first, *others = lanes.values() or [[]]
    threads = [threading.Thread(target=run, args=(lane,), name="layso-notify-lane", daemon=True) for lane in others]
    for t in threads:
        t.start()
    run(first)
    for t in threads:
        t.join()
    release(db, [c for _outcomes, rest in results for c in rest])
    return record(db, [o for outcomes, _rest in results for o in outcomes], channels, backoff_base_s)
