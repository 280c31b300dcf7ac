"""Ratings (`domain.rating`): satisfied, the windows, reasons for a low score, the hash chain."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

from layso.server.domain import rating
from layso.server.domain.statuses import RatingSource

from layso.config import RatingConfig

CFG = RatingConfig.model_validate({"levels": [{"score": s, "label": str(s)} for s in (1, 2, 3, 4)],
                                   "satisfied_min": 3, "reason_max": 1, "panel_window_s": 30, "link_window_h": 72})
AT = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def test_satisfied_is_the_top_of_the_scale():
    assert rating.is_satisfied(3, 3) and rating.is_satisfied(4, 3) and not rating.is_satisfied(2, 3)
    assert rating.satisfied_share({4: 1, 3: 1, 1: 2}, 3) == 0.5
    assert rating.satisfied_share({}, 3) is None
    assert rating.satisfied_share({1: 1, 2: 2}, 3) == 0.0


def test_windows_by_source():
    assert rating.window(RatingSource.PANEL, CFG) == timedelta(seconds=30)
    assert rating.window(RatingSource.LINK, CFG) == timedelta(hours=72)
    assert rating.within_window(AT, AT + timedelta(seconds=30), "panel", CFG)
    assert not rating.within_window(AT, AT + timedelta(seconds=31), "panel", CFG)
    assert rating.within_window(AT, AT + timedelta(hours=71), "link", CFG)


def test_a_low_score_needs_a_reason_or_a_comment():
    assert rating.needs_reason(1, 1, [], None)
    assert not rating.needs_reason(1, 1, ["Chờ lâu"], None)
    assert not rating.needs_reason(1, 1, [], "Chờ lâu quá")
    assert not rating.needs_reason(2, 1, [], None)
    assert rating.on_scale(4, CFG.levels) and not rating.on_scale(5, CFG.levels)


def test_the_chain_hashes_the_previous_hash_and_the_sorted_body():
    body = rating.body(7, 4, [], None, 3, 2, 1, "H1", RatingSource.PANEL, AT)
    assert body == {"ticket": 7, "score": 4, "reasons": [], "comment": None, "officer": 3, "counter": 2,
                    "field": 1, "dossier": "H1", "source": "panel", "at": "2026-11-23T02:00:00+00:00"}
    first = rating.chain_hash(rating.GENESIS, body)
    assert first == hashlib.sha256(("0" * 64 + json.dumps(body, sort_keys=True)).encode()).hexdigest()
    second = rating.chain_hash(first, {**body, "ticket": 8})
    assert second != rating.chain_hash(rating.GENESIS, {**body, "ticket": 8})  # the chain carries history
