"""The issue command reads its field and a retried request's earlier ticket in the statement that
locks the centre (`ISSUE_LOCKED`). On PostgreSQL that statement's reads see the moment before it
waited for the lock: a retry that waited while the first request committed must still find the
first request's ticket, not fail on the (centre, request_id) unique constraint. And how many
statements (round trips under the centre's lock) an issue, a call and a completion are there."""
from __future__ import annotations

import threading
import time

from conftest import count_queries, make_engine
from sqlalchemy import create_engine, text


def _waiting_for_a_lock(url: str, timeout: float = 20.0) -> bool:
    probe = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with probe.connect() as c:
                n = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND datname = current_database()")).scalar()
            if n:
                return True
            time.sleep(0.02)
        return False
    finally:
        probe.dispose()


def test_a_retry_that_waited_for_the_first_request_gets_its_ticket(tmp_path, frozen_clock, pg_url):
    e, cid = make_engine(tmp_path, url=pg_url)
    inserted, go = threading.Event(), threading.Event()
    new_ticket = e._new_ticket

    def paused(cmd, *args):
        t = new_ticket(cmd, *args)
        if threading.current_thread().name == "first":
            inserted.set()  # the ticket is in, the centre still locked, nothing committed
            assert go.wait(30)
        return t

    e._new_ticket = paused
    out = {}

    def issue(name):
        out[name] = e.issue(cid, "dat-dai", request_id="kiosk-1-retry")

    first = threading.Thread(target=issue, args=("first",), name="first")
    first.start()
    assert inserted.wait(30)
    retry = threading.Thread(target=issue, args=("retry",), name="retry")
    retry.start()
    try:
        assert _waiting_for_a_lock(pg_url), "the retry never waited for the centre's lock"
    finally:
        go.set()
        first.join(30)
        retry.join(30)
    assert out["first"].created and not out["retry"].created
    assert out["retry"].value["id"] == out["first"].value["id"]
    assert out["retry"].events == []  # nothing issued twice, nothing announced twice
    e.db.dispose()


def test_a_field_that_waited_for_the_lock_is_read_again(tmp_path, frozen_clock, pg_url):
    """Another command committing while an issue waited: its field is read again under the lock
    (here: a field closed meanwhile is refused, as it would be had the issue come a moment later)."""
    e, cid = make_engine(tmp_path, url=pg_url)
    locked, go = threading.Event(), threading.Event()
    errors = []

    def hold():
        with e.db.write() as s:  # as a command does: the centre locked, the field changed, seq moved on
            s.execute(text("SELECT seq FROM centres WHERE id = :c FOR UPDATE"), {"c": cid})
            s.execute(text("UPDATE fields SET active = false WHERE centre_id = :c AND code = 'dat-dai'"), {"c": cid})
            s.execute(text("UPDATE centres SET seq = seq + 1 WHERE id = :c"), {"c": cid})
            locked.set()
            go.wait(30)

    def issue():
        try:
            e.issue(cid, "dat-dai")
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30)
    issuer = threading.Thread(target=issue)
    issuer.start()
    try:
        assert _waiting_for_a_lock(pg_url)
    finally:
        go.set()
        holder.join(30)
        issuer.join(30)
    assert [getattr(err, "code", repr(err)) for err in errors] == ["field_not_found"]
    e.db.dispose()


def test_an_issue_is_five_statements_on_postgresql(tmp_path, frozen_clock, pg_url):
    """The lock with the field and an earlier ticket, the number, the ticket, its counts with the
    counters, the seq with the ticket log: five round trips besides BEGIN and COMMIT (the service
    times, cached, read once). The log and the seq are right."""
    e, cid = make_engine(tmp_path, url=pg_url)
    e.issue(cid, "dat-dai", request_id="warm")  # the service times of the field, read once and kept
    out = {}
    n = count_queries(e.db, lambda: out.setdefault("r", e.issue(cid, "dat-dai", request_id="k-2")))
    assert n == 5
    r = out["r"]
    assert [ev.type for ev in r.events] == ["ticket.issued", "queue.changed"]
    with e.db.read() as s:
        seq = s.execute(text("SELECT seq FROM centres WHERE id = :c"), {"c": cid}).scalar()
        log = s.execute(text("SELECT ticket_id, seq, type, data FROM ticket_events WHERE seq > 2 ORDER BY seq")).all()
    assert seq == r.events[-1].seq == 4
    assert [(t, q, ty) for t, q, ty, _d in log] == [(r.value["id"], 3, "ticket.issued")]
    assert log[0].data["number"] == r.value["number"]
    e.db.dispose()


def test_a_call_and_a_completion_are_eight_and_seven_statements_on_postgresql(tmp_path, frozen_clock, pg_url):
    """Each statement of a command is a round trip that holds the centre's lock: the counter comes
    with its fields and its officer (one statement, not a lazy load when the counter is described), the seq with the
    ticket log, the call order's four parts in one statement, the counter's new ticket in one UPDATE
    (not one to clear it and one to set it), the called ticket's field counted with its counters (one
    statement, not two), the ticket being completed loaded once. The figures guard
    against a statement coming back unnoticed."""
    e, cid = make_engine(tmp_path, url=pg_url)
    for _ in range(4):
        e.issue(cid, "dat-dai")
    e.call_next(cid, 1)
    e.complete(cid, 1)
    e.call_next(cid, 1)  # the field's service times read once and kept
    assert count_queries(e.db, lambda: e.complete(cid, 1)) == 7
    out = {}
    assert count_queries(e.db, lambda: out.setdefault("r", e.call_next(cid, 1))) == 8
    assert out["r"].value["counter"]["officer"]  # named, from the counter's own statement
    e.db.dispose()
