"""The states and kinds the queue knows, as `StrEnum`s: each member is the string stored in the
database and sent on the wire (CONTRACT.md), so `TicketStatus.WAITING == "waiting"`."""
from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class CounterStatus(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class Channel(StrEnum):
    """How a ticket was taken."""
    KIOSK = "kiosk"
    STAFF = "staff"
    ONLINE = "online"
    APPOINTMENT = "appointment"


ISSUE_CHANNELS = (Channel.KIOSK, Channel.STAFF, Channel.ONLINE)  # what POST /tickets accepts


class CancelReason(StrEnum):
    DAY_CLOSED = "day_closed"  # still waiting at closing
    CITIZEN = "citizen"        # cancelled through the tracking link


class RatingSource(StrEnum):
    PANEL = "panel"  # on the counter panel, within its short window
    LINK = "link"    # through the ticket's tracking link, within the longer window


class CallHow(StrEnum):
    NEXT = "next"      # call-next: the call order decides
    NUMBER = "number"  # the officer called a printed number


class QueueGroup(StrEnum):
    """Why a waiting ticket stands where it does in a counter's call order."""
    TO_COUNTER = "to_counter"    # transferred to this counter
    TRANSFERRED = "transferred"  # transferred into one of its fields: first in that field's queue
    QUEUE = "queue"              # its field's queue, under the priority rule


class FieldClosed(StrEnum):
    """Why a field takes no tickets now (a Field's `closed_reason`)."""
    FIELD_CLOSED = "field_closed"
    OUTSIDE_HOURS = "outside_hours"
    DAILY_CAP_REACHED = "daily_cap_reached"
