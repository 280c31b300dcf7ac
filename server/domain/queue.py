"""Call order, priority and skip: which waiting ticket a counter calls next (CONTRACT.md, "Queue rules").

A counter calls, in this order: tickets transferred to it; tickets transferred into one of its
fields (first in that field's queue); then the plain queues of its fields under the priority rule —
`strict` (priority tickets first) or `interleave` (a priority ticket is called first only once the
counter has made `normal_per_priority` normal calls since its last priority call, so nobody
starves) — first come, first served within each class. A dedicated priority counter
(`priority_only`) calls only priority tickets and transfers.

Everything here is plain data in, plain data out: the engine fetches the candidates with SQL and
asks these functions what to do with them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypeVar

from layso.server.domain.statuses import TicketStatus

T = TypeVar("T")

# A counter's "normal calls since its last priority call" starts (and is capped) here: a counter
# that never called a priority ticket owes one to the first priority ticket that waits.
SINCE_START = 1_000_000


def may_call(priority_only: bool, priority: bool, transferred: bool) -> bool:
    """Whether a counter may call a waiting ticket of one of its fields (a priority counter calls
    only priority tickets and tickets transferred to it or its fields)."""
    return not priority_only or priority or transferred


def serves(priority_only: bool, priority: bool) -> bool:
    """Whether a counter serving the field is one a new ticket is sent to (shown on the ticket)."""
    return priority or not priority_only


@dataclass(frozen=True)
class PriorityRule:
    """The centre's priority rule (config `[priority]`)."""
    rule: str = "interleave"  # strict | interleave
    normal_per_priority: int = 2

    @classmethod
    def of(cls, cfg) -> "PriorityRule":
        return cls(cfg.rule, cfg.normal_per_priority)

    def priority_next(self, since: int, has_priority: bool, has_normal: bool, priority_only: bool = False) -> bool:
        """Whether the next call from the plain queues takes a priority ticket; `since` is the
        counter's normal calls since its last priority call."""
        if not has_priority:
            return False
        if priority_only or not has_normal or self.rule == "strict":
            return True
        return since >= self.normal_per_priority

    @staticmethod
    def after_call(since: int, was_priority: bool) -> int:
        """The counter's `since` after a call from the plain queues."""
        return 0 if was_priority else min(since + 1, SINCE_START)

    def interleave(self, priority: Sequence[T], normal: Sequence[T], since: int, priority_only: bool = False,
                   limit: int | None = None) -> list[T]:
        """The plain queues (each first come, first served) merged in call order."""
        prio, norm = list(priority), [] if priority_only else list(normal)
        out: list[T] = []
        i = j = 0
        while (i < len(prio) or j < len(norm)) and (limit is None or len(out) < limit):
            if self.priority_next(since, i < len(prio), j < len(norm), priority_only):
                out.append(prio[i])
                i += 1
                since = self.after_call(since, True)
            else:
                out.append(norm[j])
                j += 1
                since = self.after_call(since, False)
        return out

    def ahead(self, *, transferred: bool, priority: bool, transfers: int, same_class_before: int,
              priority_waiting: int) -> int:
        """How many of a field's waiting tickets its counters call before one ticket, in closed form.

        `transfers`: transferred tickets into the field called before it (all of them for a plain
        ticket); `same_class_before`: plain tickets of its class queued before it; `priority_waiting`:
        plain priority tickets waiting in the field. Under `interleave` a normal ticket lets at most
        one priority ticket pass per `normal_per_priority` normal tickets before it (plus one owed).
        """
        if transferred:
            return transfers
        if priority:
            return transfers + same_class_before
        passing = priority_waiting
        if self.rule == "interleave":
            passing = min(priority_waiting, same_class_before // self.normal_per_priority + 1)
        return transfers + same_class_before + passing


def skip_outcome(skip_action: str, skips: int, max_skips: int) -> TicketStatus:
    """After the `skips`-th skip: back to the queue, or no-show (per config, and after K skips)."""
    if skip_action == "no_show" or skips >= max_skips:
        return TicketStatus.NO_SHOW
    return TicketStatus.WAITING


def requeue_position(positions: Sequence[float], behind: int, tail: float) -> float:
    """A skipped ticket's new queue position: behind `behind` others of its field and class.

    `positions` are the queue positions of those others in order (at least the first `behind` + 1);
    `tail` is a position after everything queued so far.
    """
    if behind == 0:
        return (positions[0] - 0.5) if positions else tail
    if len(positions) > behind:
        return (positions[behind - 1] + positions[behind]) / 2
    return tail
