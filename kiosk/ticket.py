"""What the printed ticket says, in Vietnamese: the kiosk's wording, laid out and drawn by
``layso.hardware.ticket_render`` (which knows the roles of the lines, not their words).

`TicketContent` holds the facts of one ticket; `compose` turns them into the lines the paper shows;
`ticket_content` reads them from the server's Ticket object. The words are in `texts`, which the
screen shares ("Có 3 người đang chờ trước bạn", "khoảng 25 phút"): a citizen reads the same on both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from layso.hardware.ticket_render import TicketPrint

from . import texts

__all__ = ["TicketContent", "compose", "destination_of", "ticket_content"]


@dataclass(frozen=True)
class TicketContent:
    """The facts one printed ticket shows."""

    centre_name: str
    number: str
    field_name: str
    destination: str  # "Quầy 3, 4", "Khu B"; "" for none
    issued_at: datetime  # aware; printed in its own offset as dd/mm/yyyy HH:MM
    ahead: int
    est_wait_s: int | None = None
    est_wait_reason: str | None = None  # "opens_later": the estimate counts from the next opening
    track_url: str | None = None
    priority_label: str | None = None  # "Người cao tuổi" -> "Ưu tiên: Người cao tuổi"
    thank_you: str = texts.PAPER_THANK_YOU
    header_lines: Sequence[str] = ()  # printed above the centre name, e.g. "UBND TỈNH BẮC NINH"

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise ValueError("TicketContent.issued_at must be timezone-aware")
        if not str(self.number).strip():
            raise ValueError("TicketContent.number must not be empty")


def compose(t: TicketContent) -> TicketPrint:
    """The lines of the paper ticket, by role, for the renderer."""
    details = [("issued", texts.PAPER_ISSUED.format(at=t.issued_at.strftime("%d/%m/%Y %H:%M"))),
               ("ahead", texts.format_ahead(t.ahead))]
    details += [("wait", line) for line in texts.wait_lines(t.est_wait_s, t.est_wait_reason)]
    destination = (t.destination or "").strip()
    return TicketPrint(
        centre_name=t.centre_name, title=texts.PAPER_TITLE, number=t.number, field_name=t.field_name,
        destination=texts.TICKET_GO_TO.format(destination=destination) if destination else None,
        priority=texts.priority_line(t.priority_label) if t.priority_label and t.priority_label.strip() else None,
        details=tuple(details), track_url=t.track_url, qr_caption=texts.TICKET_QR, thank_you=t.thank_you,
        header_lines=tuple(t.header_lines))


def destination_of(ticket: dict) -> str:
    """Where to go: the counters the server says serve the ticket ("Quầy 1, 2"; a priority ticket's
    include the priority counters)."""
    return texts.counters_text(sorted(set(ticket.get("serving_counters") or [])))


def ticket_content(ticket: dict, centre: dict) -> TicketContent:
    """What the paper shows, from the server's Ticket object and the centre of the state snapshot."""
    return TicketContent(
        centre_name=centre.get("name", ""),
        number=ticket["number"],
        field_name=ticket.get("field_name") or ticket.get("field", ""),
        destination=destination_of(ticket),
        issued_at=datetime.fromisoformat(ticket["issued_at"]),
        ahead=ticket.get("ahead") or 0,
        est_wait_s=ticket.get("est_wait_s") if ticket.get("status", "waiting") == "waiting" else None,
        est_wait_reason=ticket.get("est_wait_reason"),
        track_url=ticket.get("track_url"),
        priority_label=ticket.get("priority_name"),
        thank_you=centre.get("thank_you") or texts.PAPER_THANK_YOU,
    )
