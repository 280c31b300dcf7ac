"""The notification outbox: subscribing, matching queue events to subscriptions, delivering.

- `subscribe` records what a citizen asked on the tracking page (a phone number is kept only until
  the day's closing, see `forget_phones`).
- `Matcher.run` reads the ticket log after its cursor: a call of a subscribed ticket queues a
  `called` message; any movement in a field re-counts the people ahead of its subscribed tickets and
  queues an `ahead` message once the count reaches the citizen's number. A unique key (subscription,
  kind, channel) means a message is queued once even with several server processes matching.
- delivering (claim in batches, send, record, back-off) is `delivery.py`.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from layso.server import clock
from layso.server.engine.context import Settings
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.notify.channels import channels_of
from layso.server.notify.delivery import CLAIM_S, CLAIMED_COLUMNS, Claimed, backoff, deliver, due_messages  # noqa: F401
from layso.server.storage.database import Database, insert_of
from layso.server.storage.models import (
    Centre,
    Counter,
    Field,
    NotifySubscription,
    OutboxMessage,
    Ticket,
    TicketEvent,
)
from sqlalchemy import bindparam, func, select, update

# A ticket lives one day: a subscription older than this cannot be waiting for a message.
SUBSCRIPTION_LIFE = timedelta(days=2)
# `Matcher.idle`'s question, built once: any active subscription since `since`, any message due at
# `now`, and the ticket log's last id, in one snapshot (three index lookups)
_IDLE = select(select(NotifySubscription.id).where(NotifySubscription.created_at >= bindparam("since"),
                                                   NotifySubscription.active.is_(True)).exists(),
               due_messages(bindparam("now"), None).exists(),
               select(func.max(TicketEvent.id)).scalar_subquery())

log = logging.getLogger("layso.notify")

CHANNELS = ("webpush", "sms", "zalo")
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
            subscription = None
        else:
            phone, subscription = None, _push_subscription(subscription, cfg.webpush.insecure_endpoints)
        ahead = cfg.default_ahead if ahead is None else ahead
        sub = s.execute(select(NotifySubscription).where(NotifySubscription.ticket_id == t.id,
                                                         NotifySubscription.channel == channel)).scalar_one_or_none()
        if sub is None:
            sub = NotifySubscription(centre_id=t.centre_id, ticket_id=t.id, channel=channel, created_at=clock.now())
            s.add(sub)
        sub.ahead, sub.phone, sub.subscription, sub.active = ahead, phone, subscription, True
        s.flush()
        return {"channel": channel, "ahead": ahead, "number": t.number}


def _push_subscription(sub, insecure: bool) -> dict:
    from layso.server.notify.webpush import check_subscription
    try:
        return check_subscription(sub, insecure)
    except ValueError as err:
        raise BadRequest(str(err), "invalid_subscription") from None


def page_options(db: Database, centre_id: int) -> dict:
    """What the tracking page offers: the channels a citizen can choose here (Web Push first: it
    needs no phone number), and the default count."""
    with db.read() as s:
        cfg = Settings.of(s.get(Centre, centre_id)).notify
    return {"channels": [c for c in ("webpush", "sms", "zalo") if c in channels_of(cfg)], "ahead": cfg.default_ahead}


def _insert_ignore(s, rows: list[dict]) -> list:
    """Insert the rows no message is queued for yet; the rows really inserted (CLAIMED_COLUMNS)."""
    if not rows:
        return []
    ins = insert_of(s.bind.dialect.name)(OutboxMessage)
    return s.execute(ins.values(rows).on_conflict_do_nothing(
        index_elements=["subscription_id", "kind", "channel"]).returning(*CLAIMED_COLUMNS)).all()


class Matcher:
    """Turns the ticket log into outbox messages (one instance per worker, with its cursor).

    Reading is done in a read transaction; only messages to queue open a write. The people ahead are
    counted again only in the fields the new events touched (and those of new subscriptions), all
    fields after a transfer or at the first run. On PostgreSQL the log is re-read `LOOKBACK` ids
    behind the cursor: two centres' commands may commit their events out of id order."""

    LOOKBACK = 200

    def __init__(self, db: Database):
        self.db = db
        with db.read() as s:
            self.cursor = s.execute(select(func.max(TicketEvent.id))).scalar() or 0
        self.seen_subs = 0
        self.recount = True  # every field (the first run, a transfer)
        self.touched: set[int] = set()  # fields whose queue moved since the last count
        self.handled: set[int] = set()  # event ids read within the look-back window

    def idle(self) -> bool:
        """True when nobody can be waiting for a message: no active subscription of the last
        `SUBSCRIPTION_LIFE` and nothing due in the outbox. Then the log read so far is passed by (the
        cursor moves to its end, read in the same snapshot), and the round has nothing to do: one
        statement instead of the log, the calls' subscriptions and the outbox read one after another
        after every call (a tenth of a lobby server's CPU with nobody subscribed, docs/PERFORMANCE.md).
        A subscription made later is counted from its own field (`_recount`), as always."""
        now = clock.now()
        subscribed, due, last = self.db.point_read(lambda s: s.execute(
            _IDLE, {"since": now - SUBSCRIPTION_LIFE, "now": now}).one())
        if subscribed or due:
            return False
        self.cursor = max(self.cursor, last or 0)
        self.touched, self.recount, self.handled = set(), False, set()
        return True

    def run(self, ahead: bool = True) -> int:
        """Queue what the events since the last run call for; how many messages were queued.
        `ahead=False` queues only the `called` messages (the urgent ones) and leaves the counting of
        people ahead to the next full run."""
        return len(self._queue(ahead, claimed=False))

    def calls(self) -> list[Claimed]:
        """Queue the `called` messages of the new events already claimed by this process (`sending`,
        as `delivery.claim` would mark them), so that they go out without another transaction."""
        return [Claimed(*r) for r in self._queue(False, claimed=True)]

    def _queue(self, ahead: bool, claimed: bool) -> list:
        """Match and insert; the rows inserted. Should the database fail on the way, the cursor and
        the fields to count go back to where they were: the next round matches the same events."""
        saved = (self.cursor, set(self.touched), self.recount, set(self.handled), self.seen_subs)
        now = clock.now()
        try:
            with self.db.read() as s:
                events = self._events(s)
                rows = self._called(s, events, now) + (self._recount(s, now) if ahead else [])
            if not rows:
                return []
            if claimed:
                until = now + timedelta(seconds=CLAIM_S)
                rows = [{**r, "status": "sending", "next_attempt_at": until} for r in rows]
            with self.db.write() as s:
                return _insert_ignore(s, rows)
        except Exception:
            self.cursor, self.touched, self.recount, self.handled, self.seen_subs = saved
            raise

    def _events(self, s) -> list:
        back = 0 if self.db.sqlite else self.LOOKBACK
        where = (TicketEvent.id > self.cursor - back, TicketEvent.type.in_(MOVES))
        if back:
            # the ids of the look-back first, the rows of those not handled yet then: reading the whole
            # look-back's rows (their tickets, their times) after every call was a tenth of a busy
            # province process's CPU (docs/PERFORMANCE.md)
            new = [i for i in s.execute(select(TicketEvent.id).where(*where)).scalars() if i not in self.handled]
            if not new:
                return []
            where = (TicketEvent.id.in_(new),)
        events = s.execute(
            select(TicketEvent.id, TicketEvent.ticket_id, TicketEvent.type, TicketEvent.at, Ticket.field_id)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(*where).order_by(TicketEvent.id)).all()
        if events:
            self.cursor = max(self.cursor, events[-1].id)
            self.touched.update(ev.field_id for ev in events)
            self.recount = self.recount or any(ev.type == "ticket.transferred" for ev in events)
            if back:
                self.handled = {i for i in self.handled if i > self.cursor - back} | {ev.id for ev in events}
        return events

    def _called(self, s, events: list, now: datetime) -> list[dict]:
        called = {ev.ticket_id: ev.at for ev in events if ev.type == "ticket.called"}
        rows = []
        if called:
            for sub, t in s.execute(select(NotifySubscription, Ticket)
                                    .join(Ticket, Ticket.id == NotifySubscription.ticket_id)
                                    .where(NotifySubscription.ticket_id.in_(called),
                                           NotifySubscription.active.is_(True))):
                rows += self._messages(s, sub, t, "called", called[t.id], now)
        return rows

    def _recount(self, s, now: datetime) -> list[dict]:
        """`ahead` messages of the fields that moved, and of new subscriptions."""
        new_subs = s.execute(select(NotifySubscription.id, Ticket.field_id)
                             .join(Ticket, Ticket.id == NotifySubscription.ticket_id)
                             .where(NotifySubscription.id > self.seen_subs)).all()
        if new_subs:
            self.seen_subs = max(i for i, _f in new_subs)
            self.touched.update(f for _i, f in new_subs)
        if not (self.recount or self.touched):
            return []
        fields = None if self.recount else set(self.touched)
        self.recount, self.touched = False, set()
        return self._ahead(s, now, fields)

    def _ahead(self, s, now: datetime, fields: set[int] | None = None) -> list[dict]:
        """`ahead` messages for waiting subscribed tickets (of `fields`, default all) whose count of
        people ahead reached the wish."""
        q = (select(NotifySubscription, Ticket).join(Ticket, Ticket.id == NotifySubscription.ticket_id)
             .outerjoin(OutboxMessage, (OutboxMessage.subscription_id == NotifySubscription.id)
                        & (OutboxMessage.kind == "ahead"))
             .where(NotifySubscription.active.is_(True), NotifySubscription.ahead.is_not(None),
                    Ticket.status == "waiting", OutboxMessage.id.is_(None)))
        if fields is not None:
            q = q.where(Ticket.field_id.in_(fields))
        subs = s.execute(q).all()
        if not subs:
            return []
        days = {t.day for _sub, t in subs}
        order: dict[int, int] = {}
        for centre_id, field_id in {(t.centre_id, t.field_id) for _sub, t in subs}:
            # the field's waiting tickets in queue order (priority first), through ix_tickets_queue
            waiting = s.execute(select(Ticket.id)
                                .where(Ticket.centre_id == centre_id, Ticket.status == "waiting",
                                       Ticket.field_id == field_id, Ticket.day.in_(days))
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
        own = {**base, "to": sub.phone, "subscription": sub.subscription}
        if sub.channel == "webpush" and cfg.notify.webpush is not None:  # Vietnamese with its marks, a title, a link
            push = cfg.notify.webpush
            own["text"] = (push.called_template if kind == "called" else push.ahead_template).format(
                centre=centre.name, number=t.number, ahead=ahead, counter=counter or "")
            own.update(title=centre.name, url=f"/t/{t.track_token}")
        out = [{"centre_id": sub.centre_id, "subscription_id": sub.id, "ticket_id": t.id, "kind": kind,
                "channel": sub.channel, "payload": own,
                "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                "trigger_at": trigger_at}]
        if cfg.notify.webhook is not None:
            out.append({**out[0], "channel": "webhook", "payload": base})
        return out


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
