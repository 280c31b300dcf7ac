"""SQL conditions the engine and the read models share, so each is written once."""
from __future__ import annotations

from datetime import date

from layso.server.domain.statuses import TicketStatus
from layso.server.storage.models import Counter, Field, Ticket


def waiting_on(centre_id: int, day: date) -> tuple:
    """The centre's tickets waiting on a local day."""
    return Ticket.centre_id == centre_id, Ticket.status == TicketStatus.WAITING, Ticket.day == day


def active_fields(centre_id: int) -> tuple:
    return Field.centre_id == centre_id, Field.active.is_(True)


def active_counters(centre_id: int) -> tuple:
    return Counter.centre_id == centre_id, Counter.active.is_(True)
