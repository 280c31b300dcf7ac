"""Real server processes on 127.0.0.1: concurrency, SIGKILL restart, two processes over PostgreSQL + Redis."""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio
from conftest import config_data, start_server, wait_for
from layso.server.storage.database import Database
from layso.server.storage.models import Ticket
from sqlalchemy import select

from layso.client import ONLINE, DeviceClient

pytestmark = pytest.mark.slow

KIOSKS, COUNTERS, PER_KIOSK = 8, 8, 30


def hammer(tmp_path, db_url=None):
    """8 kiosk threads and 8 counter threads against one real server process."""
    sp = start_server(tmp_path, db_url=db_url, config=config_data("commune"))
    try:
        kiosk_tokens = [sp.add_device("kiosk", f"Kiosk {i}") for i in range(KIOSKS)]
        counter_tokens = {n: sp.add_device("counter", f"Quầy {n}", counter=n) for n in range(1, COUNTERS + 1)}
        sp.seat_officers()
        fields = [f["code"] for f in sp.get("/api/v1/fields", kiosk_tokens[0]).json()]
        issued, called = [], []
        lock = threading.Lock()
        kiosks_done = threading.Event()

        def kiosk(token):
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            rnd = random.Random(token)
            for i in range(PER_KIOSK):
                r = s.post(f"{sp.url}/api/v1/tickets", json={"field": rnd.choice(fields), "request_id": f"{token}-{i}"},
                           timeout=30)
                assert r.status_code == 201, r.text
                with lock:
                    issued.append(r.json())

        def counter(n, token):
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            idle_after_done = 0
            while idle_after_done < 3:
                r = s.post(f"{sp.url}/api/v1/counters/{n}/next", timeout=30)
                assert r.status_code in (200, 204), r.text
                if r.status_code == 200:
                    with lock:
                        called.append(r.json()["ticket"])
                elif kiosks_done.is_set():
                    idle_after_done += 1
                else:
                    time.sleep(0.01)
            s.post(f"{sp.url}/api/v1/counters/{n}/complete", timeout=30)

        with ThreadPoolExecutor(KIOSKS + COUNTERS) as pool:
            counters = [pool.submit(counter, n, t) for n, t in counter_tokens.items()]
            kiosks = [pool.submit(kiosk, t) for t in kiosk_tokens]
            for f in kiosks:
                f.result()
            kiosks_done.set()
            for f in counters:
                f.result()

        assert len(issued) == KIOSKS * PER_KIOSK
        numbers = Tally((t["field"], t["day"], t["number"]) for t in issued)
        assert max(numbers.values()) == 1, "a number was issued twice"
        calls = Tally(t["id"] for t in called)
        assert max(calls.values()) == 1, "a ticket was called twice"
        assert set(calls) == {t["id"] for t in issued}, "a ticket was lost"
        db = Database(sp.db_url)
        with db.read() as s:
            rows = s.execute(select(Ticket.id, Ticket.status, Ticket.issue_field_id, Ticket.seq_in_day)).all()
        db.dispose()
        assert {r.id for r in rows} == {t["id"] for t in issued}
        assert all(r.status == "done" for r in rows)
        per_field = {}
        for r in rows:
            per_field.setdefault(r.issue_field_id, []).append(r.seq_in_day)
        for seqs in per_field.values():  # gapless daily sequences
            assert sorted(seqs) == list(range(1, len(seqs) + 1))
    finally:
        sp.stop()


def test_concurrent_kiosks_and_counters_on_sqlite(tmp_path):
    hammer(tmp_path)


@pytest.mark.postgres
def test_concurrent_kiosks_and_counters_on_postgresql(tmp_path, pg_url):
    hammer(tmp_path, db_url=pg_url)


def drain(client: DeviceClient):
    out = []
    while not client.inbox.empty():
        out.append(client.inbox.get())
    return out



def test_sigkill_restart_keeps_tickets_and_clients_resync(tmp_path):
    sp = start_server(tmp_path)
    kiosk = sp.add_device("kiosk", "Kiosk")
    display = sp.add_device("display", "TV")
    client = DeviceClient(sp.url, display, timeout=3).start()
    try:
        assert client.wait_online(15)
        before = [sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).json() for _ in range(5)]
        assert wait_for(lambda: client.buffer.last_seq is not None and client.buffer.last_seq >= 10)
        sp.kill()  # SIGKILL mid-day: no clean shutdown
        assert wait_for(lambda: client.status != ONLINE, 15)
        drain(client)
        sp.start()
        assert wait_for(lambda: client.status == ONLINE, 30), "the client did not reconnect by itself"
        snapshots = []
        assert wait_for(lambda: snapshots.extend(d for kind, d in drain(client) if kind == "state") or snapshots, 15), \
            "no resync from state"
        waiting = {f["code"]: f["waiting"] for f in snapshots[-1]["fields"]}
        assert waiting["dat-dai"] == 5, "the resynced snapshot lost tickets"
        after = sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).json()
        assert after["number"] == str(int(before[-1]["number"]) + 1), "the sequence did not continue"
        for t in before:  # every ticket issued before the kill is still there
            token = t["track_url"].rsplit("/", 1)[1]
            assert sp.get(f"/api/v1/track/{token}").json()["number"] == t["number"]
        # and the reconnected client receives live events again
        assert wait_for(lambda: any(kind == "event" and d[0] == "ticket.issued" for kind, d in drain(client)), 10)
    finally:
        client.close()
        sp.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_share_events_through_redis(tmp_path, pg_url, redis_url):
    env = {"LAYSO_MESSAGE_QUEUE": redis_url, "LAYSO_MESSAGE_QUEUE_CHANNEL": f"layso-test-{uuid.uuid4().hex[:8]}"}
    a = start_server(tmp_path, db_url=pg_url, env=env)
    b = None
    try:
        b = start_server(tmp_path, db_url=pg_url, env=env)
        kiosk = a.add_device("kiosk", "Kiosk")
        display = a.add_device("display", "TV")
        panel = a.add_device("counter", "Quầy 2", counter=2)
        a.seat_officers()
        raw = socketio.Client(reconnection=False)
        seen, state = [], {}

        @raw.on("state")
        def _state(data):
            state.setdefault("seq", data["seq"])

        @raw.on("*")
        def _any(event, data):
            seen.append((event, data["seq"]))

        raw.connect(a.url, auth={"token": display}, transports=["websocket"], wait_timeout=10)
        assert wait_for(lambda: "seq" in state)
        for i in range(6):  # issue on A and on B, call on B
            (a if i % 2 else b).post("/api/v1/tickets", kiosk, {"field": "bhxh"})
        called = [b.post("/api/v1/counters/2/next", panel).json()["ticket"]["number"] for _ in range(3)]
        expected_last = b.get("/api/v1/state", panel).json()["seq"]
        assert wait_for(lambda: seen and max(s for _e, s in seen) >= expected_last, 15)
        time.sleep(0.5)  # any duplicate would arrive by now
        raw.disconnect()
        seqs = [s for _e, s in seen]
        assert len(seqs) == len(set(seqs)), "an event arrived twice"
        assert sorted(seqs) == list(range(state["seq"] + 1, expected_last + 1)), "seq has gaps"
        calls_seen = [e for e, _s in seen if e == "ticket.called"]
        assert len(calls_seen) == len(called) == 3
    finally:
        a.stop()
        if b is not None:
            b.stop()
