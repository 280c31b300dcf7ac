"""The call order, priority rule and skip rules of `domain.queue`, without a database: against a
plain list-based oracle of CONTRACT.md's rules, and the invariants they promise."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from layso.server.domain.queue import (
    SINCE_START,
    PriorityRule,
    may_call,
    requeue_position,
    serves,
    skip_outcome,
)

rules = st.builds(PriorityRule, st.sampled_from(["strict", "interleave"]), st.integers(1, 4))


def oracle(rule: str, n: int, kinds: list[bool], since: int) -> list[int]:
    """Indexes of `kinds` (True: priority) in the order one counter calls them, written plainly."""
    waiting = list(range(len(kinds)))
    out = []
    while waiting:
        p = next((i for i in waiting if kinds[i]), None)
        q = next((i for i in waiting if not kinds[i]), None)
        pick = p if p is not None and (q is None or rule == "strict" or since >= n) else q
        since = 0 if kinds[pick] else since + 1
        waiting.remove(pick)
        out.append(pick)
    return out


@given(rule=rules, kinds=st.lists(st.booleans(), max_size=40), since=st.integers(0, 5) | st.just(SINCE_START))
def test_interleave_agrees_with_the_oracle(rule, kinds, since):
    prio = [i for i, k in enumerate(kinds) if k]
    normal = [i for i, k in enumerate(kinds) if not k]
    assert rule.interleave(prio, normal, since) == oracle(rule.rule, rule.normal_per_priority, kinds, since)


@given(rule=rules, kinds=st.lists(st.booleans(), max_size=40), limit=st.integers(0, 10))
def test_the_limit_cuts_the_same_order(rule, kinds, limit):
    prio = [i for i, k in enumerate(kinds) if k]
    normal = [i for i, k in enumerate(kinds) if not k]
    assert rule.interleave(prio, normal, SINCE_START, limit=limit) == rule.interleave(prio, normal, SINCE_START)[:limit]


@given(n=st.integers(1, 4), kinds=st.lists(st.booleans(), min_size=1, max_size=40))
def test_interleave_never_starves_either_class(n, kinds):
    rule = PriorityRule("interleave", n)
    order = rule.interleave([i for i, k in enumerate(kinds) if k], [i for i, k in enumerate(kinds) if not k], 0)
    prio_left = sum(kinds)
    normal_left = len(kinds) - prio_left
    run = 0
    for i in order:
        if kinds[i]:
            prio_left, run = prio_left - 1, 0
        else:
            normal_left -= 1
            if prio_left:
                run += 1
                assert run <= n, "a priority ticket waited more than n normal calls"


def test_strict_calls_every_priority_ticket_first_and_a_priority_counter_only_them():
    rule = PriorityRule("strict", 2)
    assert rule.interleave(["p1", "p2"], ["n1", "n2"], 0) == ["p1", "p2", "n1", "n2"]
    inter = PriorityRule("interleave", 2)
    assert inter.interleave(["p1", "p2"], ["n1", "n2", "n3"], SINCE_START) == ["p1", "n1", "n2", "p2", "n3"]
    assert inter.interleave(["p1"], ["n1", "n2"], SINCE_START, priority_only=True) == ["p1"]
    assert inter.priority_next(0, True, True, priority_only=True)
    assert not inter.priority_next(SINCE_START, False, True)


def test_who_a_counter_may_call_and_serve():
    assert may_call(False, False, False) and may_call(True, True, False) and may_call(True, False, True)
    assert not may_call(True, False, False)
    assert serves(False, False) and serves(True, True) and not serves(True, False)


@given(n=st.integers(1, 4), normals=st.integers(0, 20), prios=st.integers(0, 20))
def test_ahead_closed_form_agrees_with_the_order_for_normal_tickets(n, normals, prios):
    """A fresh counter (owing a priority call) takes a normal ticket after exactly `ahead` others."""
    rule = PriorityRule("interleave", n)
    order = rule.interleave([("p", i) for i in range(prios)], [("n", i) for i in range(normals)], SINCE_START)
    for k in range(normals):
        ahead = rule.ahead(transferred=False, priority=False, transfers=0, same_class_before=k,
                           priority_waiting=prios)
        assert order.index(("n", k)) == ahead


@given(normals=st.integers(0, 20), prios=st.integers(0, 20), transfers=st.integers(0, 3))
def test_ahead_under_strict(normals, prios, transfers):
    rule = PriorityRule("strict", 2)
    order = rule.interleave([("p", i) for i in range(prios)], [("n", i) for i in range(normals)], 0)
    for k in range(prios):
        assert rule.ahead(transferred=False, priority=True, transfers=transfers, same_class_before=k,
                          priority_waiting=prios) == transfers + order.index(("p", k))
    for k in range(normals):
        assert rule.ahead(transferred=False, priority=False, transfers=transfers, same_class_before=k,
                          priority_waiting=prios) == transfers + order.index(("n", k))
    assert rule.ahead(transferred=True, priority=False, transfers=transfers, same_class_before=5,
                      priority_waiting=prios) == transfers


def test_after_call_counts_normal_calls_since_the_last_priority_call():
    assert PriorityRule.after_call(3, True) == 0
    assert PriorityRule.after_call(3, False) == 4
    assert PriorityRule.after_call(SINCE_START, False) == SINCE_START


def test_skip_requeues_until_the_last_skip_or_when_configured_to_end():
    assert skip_outcome("requeue", 1, 2) == "waiting"
    assert skip_outcome("requeue", 2, 2) == "no_show"
    assert skip_outcome("no_show", 1, 5) == "no_show"


@given(positions=st.lists(st.integers(1, 10**6), unique=True, max_size=12).map(sorted), behind=st.integers(0, 6))
def test_requeue_position_is_behind_exactly_n_others(positions, behind):
    tail = (positions[-1] if positions else 0) + 1
    pos = float(requeue_position([float(p) for p in positions], behind, float(tail)))
    assert sum(1 for p in positions if p < pos) == min(behind, len(positions))
    assert pos not in positions
