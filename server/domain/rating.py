"""Satisfaction ratings: the scale, the window, reasons for a low score, "satisfied", and the hash
chain that makes the append-only ratings tamper-evident (DOMAIN.md, "Satisfaction").

One rating per ticket, after its service, within a window: short on the counter panel, longer
through the ticket's tracking link. A score at or below `reason_max` needs a reason or a comment. A
score at or above `satisfied_min` counts as satisfied. Each rating's `hash` is SHA-256 over the
previous rating's hash (of the same centre) and the rating's body as sorted JSON.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from layso.server.domain.statuses import RatingSource

GENESIS = "0" * 64  # the `prev_hash` of a centre's first rating


def is_satisfied(score: int, satisfied_min: int) -> bool:
    return score >= satisfied_min


def satisfied_count(counts: Mapping[int, int], satisfied_min: int) -> int:
    """How many ratings are satisfied, from the number of ratings per score."""
    return sum(n for score, n in counts.items() if is_satisfied(score, satisfied_min))


def satisfied_share(counts: Mapping[int, int], satisfied_min: int) -> float | None:
    """The satisfaction rate (4 decimals) over rated tickets; None when nothing was rated."""
    rated = sum(counts.values())
    return round(satisfied_count(counts, satisfied_min) / rated, 4) if rated else None


def on_scale(score: int, levels: Iterable) -> bool:
    return score in {lv.score for lv in levels}


def window(source: str, cfg) -> timedelta:
    """How long after "complete" a ticket can be rated from `source` (config `[rating]`)."""
    if source == RatingSource.PANEL:
        return timedelta(seconds=cfg.panel_window_s)
    return timedelta(hours=cfg.link_window_h)


def within_window(completed_at: datetime, now: datetime, source: str, cfg) -> bool:
    return now - completed_at <= window(source, cfg)


def needs_reason(score: int, reason_max: int, reasons: list, comment: str | None) -> bool:
    """A low score without a reason or a comment is refused."""
    return score <= reason_max and not reasons and not comment


def body(ticket: int, score: int, reasons: list, comment: str | None, officer: int | None, counter: int | None,
         field: int, dossier: str | None, source: str, at: datetime) -> dict:
    """What a rating's hash covers."""
    return {"ticket": ticket, "score": score, "reasons": reasons, "comment": comment, "officer": officer,
            "counter": counter, "field": field, "dossier": dossier, "source": str(source), "at": at.isoformat()}


def chain_hash(prev_hash: str, rating_body: dict) -> str:
    return hashlib.sha256((prev_hash + json.dumps(rating_body, sort_keys=True)).encode()).hexdigest()
