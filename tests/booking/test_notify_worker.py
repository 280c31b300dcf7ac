"""The notifier's delivery design (server/notify/delivery.py, outbox.Matcher): batches claimed by
several senders at once never send a message twice (SQLite and PostgreSQL), a wake-up during the
"near" messages hands the round back to the calls, the people ahead are counted only in fields that
moved, on PostgreSQL an event committed behind the cursor is still matched, only a call wakes the
worker at once, and a hanging gateway holds up only its own channel."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from conftest import make_engine, small_config_data
from layso.server.notify.delivery import claim, deliver
from layso.server.notify.outbox import Matcher, outbox_view, subscribe
from layso.server.storage.models import OutboxMessage, TicketEvent
from sqlalchemy import select


class Recorder:
    """A channel that keeps every message it was given (thread-safe)."""

    def __init__(self):
        self.keys: Counter = Counter()
        self.kinds: list[str] = []
        self.lock = threading.Lock()

    def send(self, message: dict) -> None:
        with self.lock:
            self.keys[message["key"]] += 1
            self.kinds.append(message["kind"])


def sms_config() -> dict:
    data = small_config_data()
    data["notify"] = {"sms": {"url": "http://127.0.0.1:9/sms"}}
    for f in data["fields"]:
        f.pop("daily_cap", None)
    return data


def world(tmp_path, url=None, n: int = 40, ahead: int = 50):
    """n waiting tickets of one field, each subscribed to SMS (told at `ahead` ahead: at once)."""
    e, cid = make_engine(tmp_path, sms_config(), url=url)
    tickets = [e.issue(cid, "bhxh").value for _ in range(n)]
    for t in tickets:
        subscribe(e.db, t["track_url"].rsplit("/", 1)[1], "sms", ahead=ahead, phone="0912345678")
    return e, cid, tickets


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_senders_in_parallel_send_each_message_once(tmp_path, frozen_clock, database, request):
    url = request.getfixturevalue("pg_url") if database == "postgresql" else None
    e, cid, tickets = world(tmp_path, url)
    m = Matcher(e.db)
    m.cursor = 0
    assert m.run() == len(tickets)
    rec = Recorder()
    channels = lambda cfg, vapid=None: {"sms": rec}  # noqa: E731
    sent = []

    def sender():
        while True:
            n = deliver(e.db, limit=7, channels_for=channels)
            sent.append(n)
            if n == 0:
                return

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(rec.keys.values()) == len(tickets) == sum(sent)
    assert max(rec.keys.values()) == 1  # nothing twice
    assert outbox_view(e.db, cid)["counts"] == {"pending": 0, "sending": 0, "sent": len(tickets), "failed": 0}
    e.db.dispose()


def test_a_wake_up_hands_the_round_back_to_the_calls(tmp_path, frozen_clock):
    e, cid, tickets = world(tmp_path, n=6)
    m = Matcher(e.db)
    m.cursor = 0
    m.run()  # six "near" messages queued
    rec = Recorder()
    channels = lambda cfg, vapid=None: {"sms": rec}  # noqa: E731
    woken = iter([False, True])  # a command is published while the second is about to go
    assert deliver(e.db, channels_for=channels, interrupted=lambda: next(woken, True)) == 2
    assert outbox_view(e.db, cid)["counts"]["pending"] == 4  # given back, due at once
    e.call_next(cid, 3)
    m.run(ahead=False)  # the call is queued …
    assert deliver(e.db, limit=1, channels_for=channels) == 1
    assert rec.kinds[-1] == "called"  # … and goes before the four left
    # woken all the time: still one message a round (a stream of commands cannot starve the others)
    assert deliver(e.db, channels_for=channels, interrupted=lambda: True) == 1
    assert deliver(e.db, channels_for=channels) == 3
    assert sum(rec.keys.values()) == 7 and max(rec.keys.values()) == 1
    e.db.dispose()


def test_due_messages_are_claimed_calls_first_and_once(tmp_path, frozen_clock):
    e, cid, tickets = world(tmp_path, n=3)
    m = Matcher(e.db)
    m.cursor = 0
    m.run()
    e.call_next(cid, 3)
    m.run(ahead=False)
    from layso.server import clock
    batch = claim(e.db, clock.now(), 10)
    assert [c.kind for c in batch] == ["called", "ahead", "ahead", "ahead"]
    assert claim(e.db, clock.now(), 10) == []  # claimed: nobody else takes them
    frozen_clock.advance(seconds=121)  # the sender died: due again after two minutes
    assert len(claim(e.db, clock.now(), 10)) == 4
    e.db.dispose()


def test_a_round_with_nothing_due_does_not_wait_for_the_writer(tmp_path, frozen_clock):
    """The worker is woken after every command; a round that finds nothing must not queue behind the
    counters' writes (it looks in a snapshot first), and one that finds something still claims it."""
    e, cid, _tickets = world(tmp_path, n=3)
    from layso.server import clock
    outcome: list = []
    with e.db._writer:  # a long write of another greenlet or thread
        t = threading.Thread(target=lambda: outcome.append(claim(e.db, clock.now(), 10)), daemon=True)
        t.start()
        t.join(5)
        assert outcome == [[]], "an empty round waited for the writer"
    m = Matcher(e.db)
    m.cursor = 0
    m.run()
    assert len(claim(e.db, clock.now(), 10)) == 3
    e.db.dispose()


def test_people_ahead_are_counted_again_only_where_the_queue_moved(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path, sms_config())
    bhxh = [e.issue(cid, "bhxh").value for _ in range(4)]
    land = [e.issue(cid, "dat-dai").value for _ in range(4)]
    for t in (bhxh[3], land[3]):
        subscribe(e.db, t["track_url"].rsplit("/", 1)[1], "sms", ahead=2, phone="0912345678")
    m = Matcher(e.db)
    assert m.run() == 0 and m.touched == set() and not m.recount  # 3 ahead of each: not yet
    counted: list = []
    inner = m._ahead
    m._ahead = lambda s, now, fields=None: counted.append(fields) or inner(s, now, fields)
    e.call_next(cid, 1)  # counter 1 serves dat-dai only
    assert m.run() == 1 and len(counted) == 1 and len(counted[0]) == 1  # only dat-dai's field counted
    with e.db.read() as s:
        assert s.execute(select(OutboxMessage.ticket_id)).scalars().all() == [land[3]["id"]]
    assert m.run() == 0 and len(counted) == 1  # nothing moved: nothing counted
    e.db.dispose()


@pytest.mark.postgres
def test_an_event_committed_behind_the_cursor_is_still_matched(tmp_path, frozen_clock, pg_url):
    """Two centres' commands may commit their events out of id order on PostgreSQL: the matcher
    re-reads a window behind its cursor, and matches each event once."""
    e, cid, tickets = world(tmp_path, pg_url, n=2, ahead=0)
    m = Matcher(e.db)
    e.call_next(cid, 3)
    with e.db.read() as s:
        called_id = s.execute(select(TicketEvent.id).where(TicketEvent.type == "ticket.called")).scalar_one()
    m.cursor = called_id + 5  # as if a later event (another centre's) had been read first
    assert m.run(ahead=False) == 1  # the call is still found
    assert m.run(ahead=False) == 0  # and only once
    e.db.dispose()


def test_a_call_is_queued_already_claimed_by_the_process_that_saw_it(tmp_path, frozen_clock):
    from layso.server import clock
    e, cid, tickets = world(tmp_path, n=2)
    m, other = Matcher(e.db), Matcher(e.db)
    e.call_next(cid, 3)
    mine = m.calls()
    assert [(c.kind, c.payload["number"]) for c in mine] == [("called", tickets[0]["number"])]
    assert other.calls() == []  # another process matching the same event queues nothing twice
    assert claim(e.db, clock.now(), 10) == []  # nobody else sends it
    with e.db.read() as s:
        assert s.execute(select(OutboxMessage.status)).scalars().all() == ["sending"]
    frozen_clock.advance(seconds=121)  # this process died before sending: due again for anyone
    assert [c.id for c in claim(e.db, clock.now(), 10)] == [mine[0].id]
    e.db.dispose()


def test_a_database_failure_while_queueing_loses_no_call(tmp_path, frozen_clock, monkeypatch):
    from layso.server.notify import outbox
    e, cid, tickets = world(tmp_path, n=2)
    m = Matcher(e.db)
    e.call_next(cid, 3)
    real = outbox._insert_ignore

    def failing(s, rows):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(outbox, "_insert_ignore", failing)
    with pytest.raises(RuntimeError):
        m.calls()
    monkeypatch.setattr(outbox, "_insert_ignore", real)
    assert [c.kind for c in m.calls()] == ["called"]  # the same event, matched again
    e.db.dispose()


def test_only_a_call_wakes_the_worker_at_once(tmp_path, frozen_clock, monkeypatch):
    """The publisher wakes the worker after a command that called a ticket ("your turn" cannot wait
    for the 0.5 s poll); an issue, a completion or a skip only moves the people ahead, which the poll
    counts — woken by those too, it read the ticket log after every command for nothing."""
    from types import SimpleNamespace

    from layso.server.notify import worker as worker_module
    engine, cid = make_engine(tmp_path, sms_config())
    published: list = []
    woken: list = []
    monkeypatch.setattr(worker_module.NotifierWorker, "start", lambda self: self)  # no thread: just the wiring
    monkeypatch.setattr(worker_module.NotifierWorker, "wake", lambda self, *_a: woken.append(1))
    svc = SimpleNamespace(db=engine.db, vapid=None, publish=published.extend)
    worker_module.start_notifier(svc)
    svc.publish(engine.issue(cid, "bhxh").events)
    assert published and woken == []
    svc.publish(engine.call_next(cid, 3).events)
    assert woken == [1]
    svc.publish(engine.complete(cid, 3).events)
    assert woken == [1]


class Hanging(Recorder):
    """A gateway that takes each message and answers only when let go (as one does until its timeout)."""

    def __init__(self):
        super().__init__()
        self.let_go = threading.Event()

    def send(self, message: dict) -> None:
        super().send(message)
        assert self.let_go.wait(30), "never let go"


def test_a_hanging_gateway_holds_up_only_its_own_channel(tmp_path, frozen_clock):
    """Every ticket is followed by SMS and by Zalo; the SMS gateway hangs: the Zalo messages all go
    while it does (each channel is a lane of its own), and each message is sent once."""
    data = sms_config()
    data["notify"]["zalo"] = {"url": "http://127.0.0.1:9/zalo"}
    e, cid = make_engine(tmp_path, data)
    tickets = [e.issue(cid, "bhxh").value for _ in range(4)]
    for t in tickets:
        for channel in ("sms", "zalo"):
            subscribe(e.db, t["track_url"].rsplit("/", 1)[1], channel, ahead=50, phone="0912345678")
    m = Matcher(e.db)
    m.cursor = 0
    assert m.run() == 8
    sms, zalo = Hanging(), Recorder()
    channels = lambda cfg, vapid=None: {"sms": sms, "zalo": zalo}  # noqa: E731
    sent = []
    sender = threading.Thread(target=lambda: sent.append(deliver(e.db, channels_for=channels)))
    sender.start()
    try:
        deadline = time.monotonic() + 10
        # the lanes start in threads of their own: the SMS lane may reach its (hanging) first message
        # after Zalo's four went, or before
        while (len(zalo.kinds) < 4 or not sms.kinds) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(zalo.kinds) == 4, "Zalo waited for the hanging SMS gateway"
        assert len(sms.kinds) == 1  # the SMS lane is still on its first message
    finally:
        sms.let_go.set()
        sender.join(30)
    assert sent == [8]
    assert max(sms.keys.values()) == max(zalo.keys.values()) == 1 and len(sms.keys) == len(zalo.keys) == 4
    assert outbox_view(e.db, cid)["counts"]["sent"] == 8
    e.db.dispose()
