"""The notification outbox: subscribing, matching queue events to subscriptions, delivering.

- `subscribe` records what a citizen asked on the tracking page (a phone number is kept only until
  the day's closing, see `forget_phones`).
- `Matcher.run` reads the ticket log after its cursor: a call of a subscribed ticket queues a
  `called` message; any movement in a field re-counts the people ahead of its subscribed tickets and
  queues an `ahead` message once the count reaches the citizen's number. A unique key (subscription,
  kind, channel) means a message is queued once even with several server processes matching.
- `deliver` claims due messages one by one (pending → sending, so only one process sends each),
  sends them outside any transaction, then marks them sent, or schedules a retry with exponential
  back-off, or after `max_attempts` marks them failed with the reason. A message whose sender died
  mid-way is taken up again after `CLAIM_S`; each message carries its key (`Idempotency-Key`), so a
  gateway can drop the rare repeat.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from layso.server import clock
from layso.server.engine.context import Settings
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.notify.channels import DeliveryError, alert_channels, channels_of
from layso.server.storage.database import Database
from layso.server.storage.models import (
    Centre,
    Counter,
    Field,
    NotifySubscription,
    OutboxMessage,
    Ticket,
    TicketEvent,
)
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

log = logging.getLogger("layso.notify")

CHANNELS = ("webpush", "sms", "zalo")
CLAIM_S = 120.0
MOVES = ("ticket.called", "ticket.skipped", "ticket.cancelled", "ticket.transferred", "ticket.completed",
         "ticket.issued", "booking.checked_in")


def subscribe(db: Database, token, channel, ahead=None, phone=None, subscription=None) -> dict:
    """POST /track/<token>/notify: be told when `ahead` people are left, and when called."""
    from layso.server.domain.booking import normalise_phone
    if channel not in CHANNELS:
        raise BadRequest("channel must be webpush, sms or zalo", "invalid_channel")
    if ahead is not None and (not isinstance(ahead, int) or isinstance(ahead, bool) or not 0 <= ahead <= 50):
        raise BadRequest("ahead must be a whole number from 0 to 50", "invalid_ahead")
    with db.write() as s:
        t = s.execute(select(Ticket).where(Ticket.track_token == token)).scalar_one_or_none() \
            if isinstance(token, str) and len(token) <= 64 else None
        if t is None:
            raise NotFound("unknown tracking link", "ticket_not_found")
        cfg = Settings.of(s.get(Centre, t.centre_id)).notify
        if channel not in channels_of(cfg):
            raise Conflict(f"{channel} notifications are not available at this centre", "channel_unavailable")
        if t.status not in ("waiting", "called"):
            raise Conflict("this ticket is no longer waiting", "ticket_not_waiting")
        if channel in ("sms", "zalo"):
            try:
                phone = normalise_phone(phone)
            except ValueError:
                raise BadRequest("phone must be a Vietnamese mobile number", "invalid_phone") from None
        ahead = cfg.default_ahead if ahead is None else ahead
        sub = s.execute(select(NotifySubscription).where(NotifySubscription.ticket_id == t.id,
                                                         NotifySubscription.channel == channel)).scalar_one_or_none()
        if sub is None:
            sub = NotifySubscription(centre_id=t.centre_id, ticket_id=t.id, channel=channel, created_at=clock.now())
            s.add(sub)
        sub.ahead, sub.phone, sub.subscription, sub.active = ahead, phone, subscription, True
        s.flush()
        return {"channel": channel, "ahead": ahead, "number": t.number}


def page_options(db: Database, centre_id: int) -> dict:
    """What the tracking page offers: the channels a citizen can choose here, and the default count."""
    with db.read() as s:
        cfg = Settings.of(s.get(Centre, centre_id)).notify
    return {"channels": [c for c in ("sms", "zalo") if c in channels_of(cfg)], "ahead": cfg.default_ahead}


def _insert_ignore(s, rows: list[dict]) -> int:
    if not rows:
        return 0
    ins = (sqlite_insert if s.bind.dialect.name == "sqlite" else pg_insert)(OutboxMessage)
    return s.execute(ins.values(rows).on_conflict_do_nothing(
        index_elements=["subscription_id", "kind", "channel"])).rowcount or 0


class Matcher:
    """Turns the ticket log into outbox messages (one instance per worker, with its cursor)."""

    def __init__(self, db: Database):
        self.db = db
        with db.read() as s:
            self.cursor = s.execute(select(func.max(TicketEvent.id))).scalar() or 0
        self.seen_subs = 0
        self.recount = True

    def run(self, ahead: bool = True) -> int:
        """Queue what the events since the last run call for; how many messages were queued.
        `ahead=False` queues only the `called` messages (the urgent ones) and leaves the counting of
        people ahead to the next full run."""
        now = clock.now()
        with self.db.write() as s:
            events = s.execute(select(TicketEvent.id, TicketEvent.ticket_id, TicketEvent.type, TicketEvent.at)
                               .where(TicketEvent.id > self.cursor, TicketEvent.type.in_(MOVES))
                               .order_by(TicketEvent.id)).all()
            last_sub = s.execute(select(func.max(NotifySubscription.id))).scalar() or 0
            if not events and (last_sub == self.seen_subs or not ahead) and not self.recount:
                return 0
            if events:
                self.cursor = events[-1].id
                self.recount = True  # the queue moved: count the people ahead again
            if ahead:
                self.seen_subs = last_sub
            rows = []
            called = {ev.ticket_id: ev.at for ev in events if ev.type == "ticket.called"}
            if called:
                for sub, t in s.execute(select(NotifySubscription, Ticket)
                                        .join(Ticket, Ticket.id == NotifySubscription.ticket_id)
                                        .where(NotifySubscription.ticket_id.in_(called),
                                               NotifySubscription.active.is_(True))):
                    rows += self._messages(s, sub, t, "called", called[t.id], now)
            if ahead and (self.recount or last_sub != self.seen_subs or rows or events):
                rows += self._ahead(s, now)
                self.recount = False
            return _insert_ignore(s, rows)

    def _ahead(self, s, now: datetime) -> list[dict]:
        """`ahead` messages for waiting subscribed tickets whose count of people ahead reached the wish."""
        subs = s.execute(select(NotifySubscription, Ticket).join(Ticket, Ticket.id == NotifySubscription.ticket_id)
                         .outerjoin(OutboxMessage, (OutboxMessage.subscription_id == NotifySubscription.id)
                                    & (OutboxMessage.kind == "ahead"))
                         .where(NotifySubscription.active.is_(True), NotifySubscription.ahead.is_not(None),
                                Ticket.status == "waiting", OutboxMessage.id.is_(None))).all()
        if not subs:
            return []
        fields = {t.field_id for _sub, t in subs}
        days = {t.day for _sub, t in subs}
        order: dict[int, int] = {}
        for field_id in fields:  # the field's waiting tickets in queue order (priority first)
            waiting = s.execute(select(Ticket.id).where(Ticket.field_id == field_id, Ticket.status == "waiting",
                                                        Ticket.day.in_(days))
                                .order_by(Ticket.transferred.desc(), Ticket.priority.is_(None), Ticket.queue_pos,
                                          Ticket.id)).scalars().all()
            order.update({tid: i for i, tid in enumerate(waiting)})
        rows = []
        for sub, t in subs:
            ahead = order.get(t.id)
            if ahead is not None and ahead <= sub.ahead:
                rows += self._messages(s, sub, t, "ahead", now, now, ahead=ahead)
        return rows

    @staticmethod
    def _messages(s, sub: NotifySubscription, t: Ticket, kind: str, trigger_at: datetime, now: datetime,
                  ahead: int | None = None) -> list[dict]:
        centre = s.get(Centre, sub.centre_id)
        cfg = Settings.of(centre)
        counter = s.get(Counter, t.counter_id).number if kind == "called" and t.counter_id else None
        field = s.get(Field, t.field_id)
        template = cfg.notify.called_template if kind == "called" else cfg.notify.sms_template
        text = template.format(centre=centre.name, number=t.number, ahead=ahead, counter=counter or "")
        base = {"kind": kind, "centre": centre.code, "number": t.number, "field": field.code, "ahead": ahead,
                "counter": counter, "text": text, "at": trigger_at.isoformat()}
        out = [{"centre_id": sub.centre_id, "subscription_id": sub.id, "ticket_id": t.id, "kind": kind,
                "channel": sub.channel, "payload": {**base, "to": sub.phone, "subscription": sub.subscription},
                "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                "trigger_at": trigger_at}]
        if cfg.notify.webhook is not None:
            out.append({**out[0], "channel": "webhook", "payload": base})
        return out


def backoff(attempts: int, base_s: float = 1.0, max_s: float = 300.0) -> float:
    """Seconds before the next try after `attempts` failed ones: base, 2×base, 4×base … at most max."""
    return min(max_s, base_s * 2 ** max(0, attempts - 1))


def deliver(db: Database, limit: int = 50, backoff_base_s: float = 1.0, channels_for=None) -> int:
    """Send the due messages (at most `limit`); how many were sent."""
    now = clock.now()
    sent = 0
    cache: dict = {}  # per centre (or the province): its channels and max_attempts
    for mid in _due(db, now, limit):
        claim = _claim(db, mid, now, cache, channels_for or channels_of)
        if claim is None:
            continue  # another process took it
        channel_name, channel, message, max_attempts = claim
        error = _send(mid, channel_name, channel, message)
        sent += _record(db, mid, error, max_attempts, channel is not None, backoff_base_s)
    return sent


def _due(db: Database, now: datetime, limit: int) -> list[int]:
    """The ids of the messages due now, "your turn" first: it cannot wait. Messages whose sender died
    mid-way (claimed longer than `CLAIM_S` ago) are due again."""
    with db.write() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.status == "sending", OutboxMessage.next_attempt_at <= now)
                  .values(status="pending"))
    with db.read() as s:
        return s.execute(select(OutboxMessage.id).where(OutboxMessage.status == "pending",
                                                        OutboxMessage.next_attempt_at <= now)
                         .order_by((OutboxMessage.kind != "called"), OutboxMessage.next_attempt_at, OutboxMessage.id)
                         .limit(limit)).scalars().all()


def _claim(db: Database, mid: int, now: datetime, cache: dict, channels_for):
    """Take message `mid` for sending (pending → sending); None when another process took it first,
    else (its channel's name, the channel or None when not configured, the message, max_attempts)."""
    with db.write() as s:
        claimed = s.execute(update(OutboxMessage).where(OutboxMessage.id == mid, OutboxMessage.status == "pending")
                            .values(status="sending", next_attempt_at=now + timedelta(seconds=CLAIM_S))).rowcount
        if not claimed:
            return None
        m = s.get(OutboxMessage, mid)
        key = ("province",) if m.audience == "province" else m.centre_id  # whose settings hold the channel
        if key not in cache:
            if m.audience == "province":
                from layso.server.notify.alerts import alerts_config_in
                cfg = alerts_config_in(s)
                cache[key] = alert_channels(cfg), cfg.max_attempts
            else:
                cfg = Settings.of(s.get(Centre, m.centre_id)).notify
                cache[key] = channels_for(cfg), cfg.max_attempts
        channels, max_attempts = cache[key]
        return m.channel, channels.get(m.channel), {**m.payload, "key": f"layso-{m.id}"}, max_attempts


def _send(mid: int, channel_name: str, channel, message: dict) -> str | None:
    """Send one message outside any transaction; why it failed (None: it was sent)."""
    if channel is None:
        return f"the {channel_name} channel is not configured"
    try:
        channel.send(message)
    except DeliveryError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - a channel's bug must not stop the others
        log.exception("notification %s failed", mid)
        return f"unexpected error: {type(err).__name__}"
    return None


def _record(db: Database, mid: int, error: str | None, max_attempts: int, retry: bool, backoff_base_s: float) -> int:
    """Mark message `mid` sent, or due again after a back-off, or failed after `max_attempts` tries
    (at once when `retry` is False: its channel is not configured); 1 when it was sent."""
    done = clock.now()
    with db.write() as s:
        m = s.get(OutboxMessage, mid)
        if error is None:
            m.status, m.sent_at, m.attempts, m.last_error = "sent", done, m.attempts + 1, None
            return 1
        m.attempts += 1
        m.last_error = error[:300]
        if m.attempts >= max_attempts or not retry:
            m.status = "failed"
        else:
            m.status = "pending"
            m.next_attempt_at = done + timedelta(seconds=backoff(m.attempts, backoff_base_s))
        return 0


def forget_phones(db: Database) -> int:
    """At the day's closing, phone numbers of past days' tickets are deleted (subscriptions and the
    outbox); how many subscriptions were cleared. Reads first and writes only when there is work."""
    from zoneinfo import ZoneInfo
    now = clock.now()
    with db.read() as s:
        rows = s.execute(select(NotifySubscription.id, Ticket.day, Centre.timezone)
                         .join(Ticket, Ticket.id == NotifySubscription.ticket_id)
                         .join(Centre, Centre.id == NotifySubscription.centre_id)
                         .where(NotifySubscription.phone.is_not(None))).all()
    today: dict[str, object] = {}
    ids = [sid for sid, day, tz in rows if day < today.setdefault(tz, now.astimezone(ZoneInfo(tz)).date())]
    if not ids:
        return 0
    with db.write() as s:
        s.execute(update(NotifySubscription).where(NotifySubscription.id.in_(ids)).values(phone=None, active=False))
        for m in s.execute(select(OutboxMessage).where(OutboxMessage.subscription_id.in_(ids))).scalars():
            if m.payload.get("to"):
                m.payload = {k: v for k, v in m.payload.items() if k != "to"}
    return len(ids)


def outbox_view(db: Database, centre_id: int, limit: int = 200) -> dict:
    """What the manager sees: counts by status and the latest messages with why they failed."""
    mine = (OutboxMessage.centre_id == centre_id, OutboxMessage.audience == "centre")  # not the province's
    with db.read() as s:
        counts = dict(s.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                .where(*mine).group_by(OutboxMessage.status)).all())
        rows = s.execute(select(OutboxMessage).where(*mine)
                         .order_by(OutboxMessage.id.desc()).limit(limit)).scalars().all()
        return {"counts": {k: counts.get(k, 0) for k in ("pending", "sending", "sent", "failed")},
                "messages": [{"id": m.id, "kind": m.kind, "channel": m.channel, "number": m.payload.get("number"),
                              "status": m.status, "attempts": m.attempts, "last_error": m.last_error,
                              "created_at": m.created_at.isoformat(), "sent_at": m.sent_at.isoformat() if m.sent_at else None}
                             for m in rows]}
