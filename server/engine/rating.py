"""The rating command: one rating per ticket after its service, within the window of its source,
appended to the centre's hash chain (`domain.rating`)."""
from __future__ import annotations

from layso.server.domain import rating as rules
from layso.server.domain.statuses import RatingSource, TicketStatus
from layso.server.engine.context import Command, Result
from layso.server.errors import BadRequest, Conflict, Forbidden
from layso.server.storage.models import Rating, Ticket
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from layso.protocol import EventType as E


def _clean(score, reasons, comment) -> tuple[list, str | None]:
    """The rating's body, checked for shape (the scale is checked against the centre's settings)."""
    if not isinstance(score, int) or isinstance(score, bool):
        raise BadRequest("score must be a whole number", "invalid_score")
    if reasons is None:
        reasons = []
    if not isinstance(reasons, list) or len(reasons) > 10 or \
            not all(isinstance(r, str) and 0 < len(r) <= 100 for r in reasons):
        raise BadRequest("reasons must be a list of short texts", "invalid_reasons")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 1000):
        raise BadRequest("comment must be text of at most 1000 characters", "invalid_comment")
    return reasons, (comment or "").strip() or None


class RatingCommands:
    """Mixin of the engine."""

    def rate(self, centre_id: int, score, reasons=None, comment=None, ticket_id=None, track_token=None,
             counter_number: int | None = None, base_url=None) -> Result:
        """One rating per ticket, within the window (panel: short, tracking link: longer)."""
        reasons, comment = _clean(score, reasons, comment)
        source = RatingSource.LINK if track_token is not None else RatingSource.PANEL

        def run(cmd: Command):
            t = self._by_track(cmd, track_token) if track_token is not None else self._ticket(cmd, ticket_id)
            self._check_rating(cmd, t, score, reasons, comment, source, counter_number)
            self._append_rating(cmd, t, score, reasons, comment, source)
            value = {"score": score, "reasons": reasons, "comment": comment, "source": source,
                     "at": cmd.iso(cmd.now), "satisfied": rules.is_satisfied(score, cmd.cfg.rating.satisfied_min)}
            cmd.emit(E.TICKET_RATED, {"ticket": cmd.ticket_dict(t), "rating": value,
                                      "counter": t.counter.number if t.counter else None},
                     log={"ticket": t, "counter_id": t.counter_id, "officer_id": t.officer_id,
                          "data": {"score": score, "source": source}})
            return value

        return self._run(centre_id, run, base_url)

    @staticmethod
    def _check_rating(cmd: Command, t: Ticket, score: int, reasons, comment, source, counter_number) -> None:
        rc = cmd.cfg.rating
        if not rules.on_scale(score, rc.levels):
            raise BadRequest("score is not on the rating scale", "invalid_score")
        if counter_number is not None and (t.counter is None or t.counter.number != counter_number):
            raise Forbidden("this counter did not serve that ticket", "forbidden")
        if t.status != TicketStatus.DONE or t.completed_at is None:
            raise Conflict("a ticket can be rated after its service", "not_served")
        if cmd.s.execute(select(Rating.id).where(Rating.ticket_id == t.id)).first() is not None:
            raise Conflict("this ticket was already rated", "already_rated")
        if not rules.within_window(t.completed_at, cmd.now, source, rc):
            raise Conflict("the rating window is over", "window_over")
        if rules.needs_reason(score, rc.reason_max, reasons, comment):
            raise BadRequest("a low score needs a reason or a comment", "reason_required")

    @staticmethod
    def _append_rating(cmd: Command, t: Ticket, score: int, reasons, comment, source) -> None:
        prev = cmd.s.execute(select(Rating.hash).where(Rating.centre_id == cmd.centre.id)
                             .order_by(Rating.id.desc()).limit(1)).scalar() or rules.GENESIS
        digest = rules.chain_hash(prev, rules.body(t.id, score, reasons, comment, t.officer_id, t.counter_id,
                                                   t.field_id, t.dossier_code, source, cmd.now))
        cmd.s.add(Rating(centre_id=cmd.centre.id, ticket_id=t.id, score=score, reasons=reasons, comment=comment,
                         officer_id=t.officer_id, counter_id=t.counter_id, field_id=t.field_id,
                         dossier_code=t.dossier_code, source=source, at=cmd.now, prev_hash=prev, hash=digest))
        try:
            cmd.s.flush()
        except IntegrityError:
            raise Conflict("this ticket was already rated", "already_rated") from None
