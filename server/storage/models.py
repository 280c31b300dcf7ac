"""SQLAlchemy 2 models. Every row belongs to a centre; the default deployment has one.

Current state lives in the ticket and counter rows; the append-only `ticket_events` log records
who did what to which ticket and when (audit trail, statistics). Ratings are append-only too and
chained by hash so an edit is evident.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from layso.server.domain import numbering
from layso.server.domain.queue import SINCE_START
from layso.server.domain.statuses import CounterStatus, TicketStatus


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


class Centre(Base):
    __tablename__ = "centres"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    public_url: Mapped[str | None] = mapped_column(String(300))
    ticker: Mapped[str] = mapped_column(Text, default="")
    # hours, priority, queue, rating, voice and centre extras, as validated config sections
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    # per-centre event sequence; incremented in the same transaction as each change
    seq: Mapped[int] = mapped_column(Integer, default=0)
    # the last local day whose closing was done (waiting tickets cancelled)
    closed_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    # the province's grouping of its centres (e.g. a former district), for filtering the overview
    area: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # the preset the centre was made from: commune | province ("" for a centre seeded from a file)
    kind: Mapped[str] = mapped_column(String(20), default="", server_default="")
    # a suspended centre keeps its data, but its devices and accounts stop working until resumed
    suspended_at: Mapped[datetime | None]


class Field(Base):
    __tablename__ = "fields"
    __table_args__ = (UniqueConstraint("centre_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    agency: Mapped[str] = mapped_column(String(200), default="")
    agency_aliases: Mapped[list] = mapped_column(JSON, default=list)
    prefix: Mapped[str | None] = mapped_column(String(3))
    width: Mapped[int] = mapped_column(Integer, default=3)
    range_start: Mapped[int | None] = mapped_column(Integer)
    range_end: Mapped[int | None] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    cutoff: Mapped[str | None] = mapped_column(String(5))
    target_wait_min: Mapped[int | None] = mapped_column(Integer)
    accepting: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def range_size(self) -> int:
        return numbering.range_size(self.prefix, self.width, self.range_start, self.range_end)

    def format_number(self, n: int) -> str:
        """The n-th number of the day (n from 1) as printed."""
        return numbering.format_number(n, self.prefix, self.width, self.range_start)


class CounterField(Base):
    __tablename__ = "counter_fields"
    counter_id: Mapped[int] = mapped_column(ForeignKey("counters.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id", ondelete="CASCADE"), primary_key=True)


class Counter(Base):
    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("centre_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default=CounterStatus.CLOSED)
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    priority_only: Mapped[bool] = mapped_column(Boolean, default=False)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", use_alter=True))
    # normal calls since this counter last called a priority ticket (interleave rule)
    normals_since_priority: Mapped[int] = mapped_column(Integer, default=SINCE_START)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    fields: Mapped[list[Field]] = relationship(secondary="counter_fields", order_by="Field.position")
    officer: Mapped["User | None"] = relationship(foreign_keys=[officer_id])


class DaySequence(Base):
    """The last number issued for a field on a local day."""

    __tablename__ = "day_sequences"
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("issue_field_id", "day", "seq_in_day"),
        UniqueConstraint("centre_id", "request_id"),
        # every column the waiting counts read (engine/statements.py): they never touch the table
        Index("ix_tickets_queue", "centre_id", "status", "field_id", "day", "transfer_counter_id", "transferred",
              "priority", "queue_pos"),
        Index("ix_tickets_day", "centre_id", "day"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"))
    issue_field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"))  # the field it was issued in
    day: Mapped[date] = mapped_column(Date)
    seq_in_day: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(12))
    priority: Mapped[str | None] = mapped_column(String(40))
    priority_reason: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20), default="kiosk")
    request_id: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=TicketStatus.WAITING)
    issued_at: Mapped[datetime]
    first_called_at: Mapped[datetime | None]
    called_at: Mapped[datetime | None]  # the last call
    completed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    queue_pos: Mapped[float] = mapped_column(Float)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # a transfer addressed to one counter (else to the field, first in its queue)
    transfer_counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    skips: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    dossier_code: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    track_token: Mapped[str] = mapped_column(String(40), unique=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))  # issuing kiosk

    field: Mapped[Field] = relationship(foreign_keys=[field_id])
    counter: Mapped[Counter | None] = relationship(foreign_keys=[counter_id])


class TicketEvent(Base):
    """Append-only: who did what to which ticket, when (database triggers forbid edits)."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id"), Index("ix_ticket_events_at", "centre_id", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class Rating(Base):
    """One rating per ticket, never edited; `hash` chains each rating to the previous one."""

    __tablename__ = "ratings"
    # a centre's ratings of a range of time (the statistics on SQLite read them so)
    __table_args__ = (Index("ix_ratings_centre_at", "centre_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    comment: Mapped[str | None] = mapped_column(Text)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"))
    dossier_code: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(10))  # panel | link
    at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    pin_hash: Mapped[str | None] = mapped_column(String(256))
    # staff | manager | admin | province_admin; SQLite keeps VARCHAR lengths as decoration, so its
    # column stays VARCHAR(10) (migration 0007 widens it elsewhere, where a table rebuild is not needed)
    role: Mapped[str] = mapped_column(String(20).with_variant(String(10), "sqlite"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # kiosk | display | counter
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    zone_fields: Mapped[list | None] = mapped_column(JSON)  # display limited to these field codes
    zone_counters: Mapped[list | None] = mapped_column(JSON)  # … or these counter numbers
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    printer: Mapped[str | None] = mapped_column(String(20))  # ok | paper_out | cover_open | offline
    status_detail: Mapped[str | None] = mapped_column(String(300))

    counter: Mapped[Counter | None] = relationship(foreign_keys=[counter_id])


class DeviceConnection(Base):
    """A live Socket.IO connection of a device, in whichever server process holds it: a device is
    online while it has one. Each process refreshes `seen_at` of its own rows; rows of a process that
    stopped refreshing (it died) are removed by the other processes' janitors."""

    __tablename__ = "device_connections"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    process: Mapped[str] = mapped_column(String(64), index=True)
    seen_at: Mapped[datetime]


class AuditEntry(Base):
    """Administrative changes: who changed what, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"), index=True)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(120), default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class Booking(Base):
    """A number or appointment taken remotely (the booking page or its API).

    Nothing personal is kept: the citizen is a keyed hash (`citizen_key`) of the phone number or of
    a browser cookie, used only to count bookings per citizen and day. An online number (`number`)
    has its ticket from the moment of booking (`ticket_id`, same tracking token).
    """

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("centre_id", "request_id"),
        Index("ix_bookings_day_field", "centre_id", "day", "field_id"),
        Index("ix_bookings_citizen", "centre_id", "day", "citizen_key"),
        Index("ix_bookings_status", "centre_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    code: Mapped[str] = mapped_column(String(8), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # number | appointment
    field_id: Mapped[int] = mapped_column(ForeignKey("fields.id"))
    day: Mapped[date] = mapped_column(Date)
    slot_start: Mapped[datetime | None]
    slot_end: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="booked")  # booked | checked_in | lapsed | cancelled
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    track_token: Mapped[str] = mapped_column(String(40), unique=True)
    citizen_key: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[str | None] = mapped_column(String(10))  # kiosk | staff
    lapsed_at: Mapped[datetime | None]
    lapse_reason: Mapped[str | None] = mapped_column(String(20))  # hour | after_call | day_closed
    cancelled_at: Mapped[datetime | None]

    field: Mapped[Field] = relationship(foreign_keys=[field_id])
    ticket: Mapped[Ticket | None] = relationship(foreign_keys=[ticket_id])


class NotifySubscription(Base):
    """A citizen asked to be told when `ahead` people are left before their ticket, and when it is
    called. The phone number is kept only until the day's closing (the janitor clears it)."""

    __tablename__ = "notify_subscriptions"
    __table_args__ = (UniqueConstraint("ticket_id", "channel"), Index("ix_notify_subs_active", "centre_id", "active"),
                      Index("ix_notify_subs_created", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(10))  # sms | zalo | webpush
    ahead: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(20))
    subscription: Mapped[dict | None] = mapped_column(JSON)  # a browser's Web Push subscription
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ProvinceSetting(Base):
    """Settings of the whole installation (the province), one validated JSON value per key: `alerts`
    (`layso.config.AlertsConfig`)."""

    __tablename__ = "province_settings"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class ProvinceAlert(Base):
    """An alert of the province overview, from when it was first seen until it ended. While it lasts
    `open_key` (kind, centre, field or device) is set, and unique: one condition has one open alert,
    whichever server process saw it first. `notified_at` is set by the process that queued its
    messages (an update that only one can win), `cleared_at` when it ended."""

    __tablename__ = "province_alerts"
    __table_args__ = (Index("ix_province_alerts_centre", "centre_id", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    kind: Mapped[str] = mapped_column(String(20))  # wait_over_target | paper_out | display_offline
    subject: Mapped[str] = mapped_column(String(60))  # the field's code or the device's id
    open_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # what the overview said when it started
    started_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """One notification to send, sent by the notifier worker with retries (never by a command).
    A citizen's: one row per subscription, kind (`ahead`, `called`) and channel. An alert's (`alert_id`;
    kind `alert` or `cleared`): one row per recipient, `dedupe_key` naming it. Either way a message is
    never queued twice. `audience` says whose settings hold its channel: the centre's `[notify]`, or
    the province's alerts settings."""

    __tablename__ = "notify_outbox"
    __table_args__ = (UniqueConstraint("subscription_id", "kind", "channel"), Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_centre", "centre_id", "created_at"),
                      UniqueConstraint("dedupe_key", name="uq_notify_outbox_dedupe_key"))
    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("notify_subscriptions.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("province_alerts.id"))
    audience: Mapped[str] = mapped_column(String(10), default="centre", server_default="centre")  # centre | province
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10))  # ahead | called | alert | cleared
    channel: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    trigger_at: Mapped[datetime | None]  # when what it reports happened (delay measurements)
    sent_at: Mapped[datetime | None]
