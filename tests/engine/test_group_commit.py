"""Group commit on SQLite (storage/database.py `write_grouped`): commands that queue while one commits
share the next transaction, each in a savepoint — fewer fsyncs, the same results: every number once,
the centre's seq without gaps or repeats, and a command that fails takes nothing of the others with
it."""
from __future__ import annotations

import threading
import time

from sqlalchemy import event, func, select

from layso.server.errors import NotFound
from layso.server.storage.models import Centre, Ticket, TicketEvent


def test_commands_queued_during_a_commit_share_the_next_one(engine):
    e, cid = engine
    commits = []

    @event.listens_for(e.db.write_engine, "commit")
    def slow_commit(conn):  # a slow disk: the others queue meanwhile
        commits.append(1)
        time.sleep(0.02)

    results, errors = [], []
    lock = threading.Lock()

    def kiosk(i):
        for j in range(10):
            field = "nope" if (i, j) in ((2, 3), (5, 7)) else ("dat-dai" if (i + j) % 2 else "bhxh")
            try:
                r = e.issue(cid, field, request_id=f"k{i}-{j}")
                with lock:
                    results.append((f"k{i}-{j}", r))
            except NotFound as err:
                with lock:
                    errors.append(err)

    before = e.db.write_grouped(lambda s: s.execute(select(Centre.seq).where(Centre.id == cid)).scalar_one())
    threads = [threading.Thread(target=kiosk, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    requests = dict(results)
    results = [r for _, r in results]
    assert len(results) == 78 and len(errors) == 2 and all(err.code == "field_not_found" for err in errors)
    print("commits for 80 commands:", len(commits))
    assert len(commits) < 60, len(commits)  # 78 tickets in fewer commits (one each before)
    numbers = [(r.value["field"], r.value["number"]) for r in results]
    assert len(set(numbers)) == 78
    seqs = sorted(ev.seq for r in results for ev in r.events)
    assert seqs == list(range(before + 1, before + 1 + len(seqs)))  # contiguous: no gap from a failed one
    with e.db.read() as s:
        assert s.execute(select(func.count(Ticket.id))).scalar_one() == 78
        assert s.execute(select(Centre.seq).where(Centre.id == cid)).scalar_one() == seqs[-1]
        logged = s.execute(select(TicketEvent.seq).where(TicketEvent.centre_id == cid)).scalars().all()
    assert sorted(logged) == sorted(ev.seq for r in results for ev in r.events if ev.type == "ticket.issued")
    # a kiosk's retry of a request is answered from the database, not numbered twice
    rid, first = next(iter(requests.items()))
    again = e.issue(cid, first.value["field"], request_id=rid)
    assert again.created is False and again.value["number"] == first.value["number"]


def test_a_failed_commit_fails_every_command_of_its_group(engine):
    e, cid = engine
    calls = []

    @event.listens_for(e.db.write_engine, "commit")
    def failing_commit(conn):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk gone")

    try:
        e.issue(cid, "dat-dai")
    except RuntimeError as err:
        assert "disk gone" in str(err)
    else:
        raise AssertionError("the command answered although its transaction did not commit")
    r = e.issue(cid, "dat-dai")  # the next transaction is a new one, and commits
    with e.db.read() as s:
        assert s.execute(select(func.count(Ticket.id))).scalar_one() == 1
    assert r.value["number"]
