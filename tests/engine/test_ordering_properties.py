"""Property tests of the call order (hypothesis): random sequences of issue / next / skip / recall /
transfer run on the engine and on a small list-based model of CONTRACT.md's queue rules; the
tickets each counter calls must agree, and the stated invariants must hold. The model keeps its own
lists and positions; which class a counter calls next and when a skip ends a ticket are the domain's
rules (`layso.server.domain.queue`, tested against a plain oracle in tests/unit/test_queue.py)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from conftest import seat_officers, small_config_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layso.server.domain.queue import SINCE_START, PriorityRule, skip_outcome
from layso.server.engine import QueueEngine, seed_centre
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade

from layso.config import parse_config

FIELDS = ["dat-dai", "bhxh", "tu-phap-ho-tich"]
COUNTERS = {1: ["dat-dai"], 2: ["dat-dai", "bhxh"], 3: ["bhxh", "tu-phap-ho-tich"], 4: FIELDS}
PRIORITY_ONLY = {4}


@dataclass
class T:
    id: int
    field: str
    prio: bool
    status: str = "waiting"
    transferred: bool = False
    to_counter: int | None = None
    skips: int = 0


class Model:
    """The contract's rules, written as plainly as possible over one ordered list."""

    def __init__(self, rule: str, n: int, skip_action: str, behind: int, max_skips: int):
        self.rule = PriorityRule(rule, n)
        self.skip_action, self.behind, self.max_skips = skip_action, behind, max_skips
        self.order: list[T] = []  # queue order of everything ever queued
        self.current: dict[int, T | None] = {c: None for c in COUNTERS}
        self.since = {c: SINCE_START for c in COUNTERS}

    def waiting(self):
        return [t for t in self.order if t.status == "waiting"]

    def issue(self, tid: int, field: str, prio: bool) -> None:
        self.order.append(T(tid, field, prio))

    def next(self, c: int) -> T | None:
        if self.current[c] is not None:
            self.current[c].status = "done"
            self.current[c] = None
        w = self.waiting()
        fields = COUNTERS[c]
        pick = next((t for t in w if t.to_counter == c), None)
        if pick is None:
            pick = next((t for t in w if t.transferred and t.to_counter is None and t.field in fields), None)
        if pick is None:  # the plain queues, under the domain's priority rule (tested in tests/unit)
            plain = [t for t in w if not t.transferred and t.field in fields]
            p = next((t for t in plain if t.prio), None)
            q = next((t for t in plain if not t.prio and c not in PRIORITY_ONLY), None)
            first = self.rule.priority_next(self.since[c], p is not None, q is not None, c in PRIORITY_ONLY)
            pick = p if first else q
            if pick is not None:
                self.since[c] = self.rule.after_call(self.since[c], pick.prio)
        if pick is not None:
            pick.status, pick.transferred, pick.to_counter = "called", False, None
            self.current[c] = pick
        return pick

    def skip(self, c: int) -> None:
        t = self.current[c]
        if t is None:
            return
        self.current[c] = None
        t.skips += 1
        if skip_outcome(self.skip_action, t.skips, self.max_skips) == "no_show":
            t.status = "no_show"
            return
        t.status = "waiting"
        self.order.remove(t)
        same = [o for o in self.waiting() if o.field == t.field and o.prio == t.prio and not o.transferred
                and o.to_counter is None]
        if self.behind == 0:
            at = self.order.index(same[0]) if same else len(self.order)
        elif len(same) > self.behind:
            at = self.order.index(same[self.behind - 1]) + 1
        else:
            at = len(self.order)
        self.order.insert(at, t)

    def transfer(self, c: int, field: str | None, counter: int | None) -> None:
        t = self.current[c]
        if t is None or counter == c:
            return
        self.current[c] = None
        t.status, t.transferred = "waiting", True
        if field is not None:
            t.field, t.to_counter = field, None
        else:
            t.to_counter = counter
        self.order.remove(t)
        self.order.append(t)


_issue = st.tuples(st.just("issue"), st.sampled_from(FIELDS), st.booleans())
_next = st.tuples(st.just("next"), st.sampled_from(list(COUNTERS)))
_skip = st.tuples(st.just("skip"), st.sampled_from(list(COUNTERS)))
# weighted towards building queues and calling from them, so skips and transfers meet real queues
ops = st.lists(st.one_of(
    _issue, _issue, _issue, _issue, _next, _next, _next, _skip, _skip,
    st.tuples(st.just("recall"), st.sampled_from(list(COUNTERS))),
    st.tuples(st.just("transfer_field"), st.sampled_from(list(COUNTERS)), st.sampled_from(FIELDS)),
    st.tuples(st.just("transfer_counter"), st.sampled_from(list(COUNTERS)), st.sampled_from(list(COUNTERS))),
), min_size=1, max_size=60)

rules = st.tuples(st.sampled_from(["strict", "interleave"]), st.integers(1, 3), st.sampled_from(["requeue", "no_show"]),
                  st.integers(0, 3), st.integers(1, 3))


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('props') / 'props.db'}")
    upgrade(db)
    yield db
    db.dispose()


_centre_codes = (f"p{i}" for i in itertools.count())


def fresh_centre(db: Database, rule, n, skip_action, behind, max_skips) -> int:
    data = small_config_data()
    data["centre"]["code"] = next(_centre_codes)
    data["priority"].update(rule=rule, normal_per_priority=n)
    data["queue"].update(skip_action=skip_action, requeue_behind=behind, max_skips=max_skips)
    cid = seed_centre(db, parse_config(data))
    seat_officers(db, cid)
    return cid


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(program=ops, rule=rules)
def test_engine_calls_in_the_order_the_rules_say(shared_db, program, rule):
    cid = fresh_centre(shared_db, *rule)
    engine = QueueEngine(shared_db, "http://x")
    model = Model(*rule)
    from layso.server.errors import BadRequest, Conflict
    for op in program:
        kind = op[0]
        if kind == "issue":
            res = engine.issue(cid, op[1], priority="elderly" if op[2] else None)
            t = res.value
            model.issue(t["id"], op[1], op[2])
            # the issue's own counts (one statement) agree with the ordinary reads of the ticket and field
            assert t["ahead"] == engine.ticket(cid, t["id"])["ahead"], (op, program)
            changed = next(ev for ev in res.events if ev.type == "queue.changed").payload["fields"]
            now = {f["code"]: f for f in engine.fields(cid)}
            assert [(f["waiting"], f["est_wait_s"]) for f in changed] == \
                [(now[f["code"]]["waiting"], now[f["code"]]["est_wait_s"]) for f in changed], (op, program)
        elif kind == "next":
            got = engine.call_next(cid, op[1]).value
            want = model.next(op[1])
            assert (got["ticket"]["id"] if got else None) == (want.id if want else None), (op, program)
        elif kind == "skip":
            try:
                engine.skip(cid, op[1])
            except Conflict:
                assert model.current[op[1]] is None
            model.skip(op[1])
        elif kind == "recall":
            try:
                res = engine.recall(cid, op[1]).value
                assert res["ticket"]["id"] == model.current[op[1]].id
            except Conflict:
                assert model.current[op[1]] is None
        else:
            field = op[2] if kind == "transfer_field" else None
            counter = op[2] if kind == "transfer_counter" else None
            try:
                engine.transfer(cid, op[1], to_field=field, to_counter=counter)
            except (Conflict, BadRequest):
                assert model.current[op[1]] is None or counter == op[1]
            model.transfer(op[1], field, counter)
    # the waiting queue the engine reports agrees with the model too
    waiting = {f["code"]: f["waiting"] for f in engine.fields(cid)}
    for f in FIELDS:
        assert waiting[f] == sum(1 for t in model.waiting() if t.field == f)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.booleans(), min_size=1, max_size=30), n=st.integers(1, 4))
def test_interleave_never_starves_either_class(shared_db, kinds, n):
    """One counter: with both classes waiting, it never makes more than n normal calls in a row, and
    never two priority calls in a row while normals wait; each class keeps its own FIFO order."""
    cid = fresh_centre(shared_db, "interleave", n, "requeue", 3, 2)
    engine = QueueEngine(shared_db, "http://x")
    issued = {True: [], False: []}
    for prio in kinds:
        issued[prio].append(engine.issue(cid, "dat-dai", priority="elderly" if prio else None).value["id"])
    calls = []
    while (res := engine.call_next(cid, 1).value) is not None:
        calls.append((res["ticket"]["priority"] is not None, res["ticket"]["id"]))
    assert [i for p, i in calls if p] == issued[True]
    assert [i for p, i in calls if not p] == issued[False]
    prio_left, normal_left = len(issued[True]), len(issued[False])
    run_normals = 0
    previous_priority = False
    for is_prio, _ in calls:
        if is_prio:
            assert not (previous_priority and normal_left > 0), "two priority calls while normals waited"
            run_normals, prio_left = 0, prio_left - 1
        else:
            if prio_left > 0:
                run_normals += 1
                assert run_normals <= n, "a priority ticket waited more than n normal calls"
            normal_left -= 1
        previous_priority = is_prio


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.tuples(st.sampled_from(FIELDS), st.booleans()), min_size=1, max_size=25))
def test_strict_priority_first_and_fifo_within_a_field(shared_db, kinds):
    cid = fresh_centre(shared_db, "strict", 2, "requeue", 3, 2)
    engine = QueueEngine(shared_db, "http://x")
    issued = [(f, p, engine.issue(cid, f, priority="elderly" if p else None).value["id"]) for f, p in kinds]
    calls = []
    while (res := engine.call_next(cid, 3).value) is not None:  # counter 3: bhxh + tu-phap-ho-tich
        calls.append(res["ticket"]["id"])
    served = [(f, p, i) for f, p, i in issued if f in COUNTERS[3]]
    expected = [i for f, p, i in served if p] + [i for f, p, i in served if not p]
    assert calls == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 8), behind=st.integers(0, 4), recalls=st.integers(0, 2))
def test_skip_puts_the_ticket_back_exactly_behind_n_others(shared_db, k, behind, recalls):
    cid = fresh_centre(shared_db, "strict", 2, "requeue", behind, 3)
    engine = QueueEngine(shared_db, "http://x")
    ids = [engine.issue(cid, "dat-dai").value["id"] for _ in range(k)]
    first = engine.call_next(cid, 1).value["ticket"]["id"]
    for _ in range(recalls):  # a recall never changes the queue
        assert engine.recall(cid, 1).value["ticket"]["id"] == first
    engine.skip(cid, 1)
    order = []
    while (res := engine.call_next(cid, 1).value) is not None:
        order.append(res["ticket"]["id"])
        if res["ticket"]["id"] == first:
            break
    others = ids[1:]
    assert order == others[:behind] + [first]
