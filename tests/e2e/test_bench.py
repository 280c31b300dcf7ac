"""`layso bench`: a short smoke run of both scenarios against a real server, and the checks it relies on."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from layso.server.storage.models import Ticket, TicketEvent
from sqlalchemy import select

from layso.bench.clients import Display
from layso.bench.run import audit, bench_config, percentiles
from layso.config import parse_config


@pytest.mark.slow
def test_smoke_run_of_both_scenarios_reports_no_duplicates_or_double_calls(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "layso.cli", "bench", "--seconds", "2", "--displays", "3",
                           "--counters", "2", "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["correct"] is True and report["failed_requests"] == 0
    assert report["database"].startswith("sqlite")

    issue = report["issue"]
    assert issue["kiosks"] == 8 and issue["tickets"] > 0 and issue["tickets_per_s"] > 0
    assert issue["latency_ms"]["n"] == issue["tickets"]
    assert 0 < issue["latency_ms"]["p50"] <= issue["latency_ms"]["p99"] <= issue["latency_ms"]["max"]
    assert issue["tickets_in_database"] == issue["tickets"]
    assert issue["duplicate_numbers"] == {"clients": 0, "database": 0}
    assert issue["called_twice"] == {"clients": 0, "database": 0}
    assert issue["lost"] == 0 and issue["errors"] == {}
    assert issue["cpu"]["client_processes"] == 2 and issue["cpu"]["clients_cores"] >= 0
    assert set(issue["targets_met"]) == {"p99", "rate"}

    lobby = report["lobby"]
    assert lobby["connected"] == {"displays": 3, "counters": 2, "failed": 0}
    assert lobby["calls"] >= 2, "each counter calls at least once in a short run"
    calls = lobby["call_to_display_ms"]
    assert calls["from"] in ("commit", "send (upper bound)")
    assert calls["n"] == 3 * lobby["calls"], "every display holds every call"
    assert lobby["display_samples_unmatched"] == 0
    assert lobby["events_missed"] == 0 and lobby["events_received_twice"] == 0
    assert lobby["duplicate_numbers"] == {"clients": 0, "database": 0}
    assert lobby["called_twice"] == {"clients": 0, "displays": 0, "database": 0}
    assert lobby["lost"] == 0
    assert lobby["cpu"]["client_processes"] == 2 + 1  # counters, kiosks and one display process
    assert lobby["calls_per_s_offered"] == 2 / 5 and lobby["issued_per_s_offered"] == 5


def test_table_is_printed_without_json(tmp_path):
    from layso.bench.run import format_table
    issue = {"kiosks": 8, "tickets": 10, "tickets_per_s": 5.0, "latency_ms": percentiles([0.01] * 10),
             "errors": {"409": 1}, "duplicate_numbers": {"clients": 0, "database": 1},
             "called_twice": {"clients": 0, "database": 0}, "lost": 0,
             "cpu": {"client_processes": 2, "server_cores": 0.5, "clients_cores": 0.1, "rest_of_machine_cores": None,
                     "cores": 2, "busiest_client_process_share": 0.05,
                     "wake_late_ms": {"n": 4000, "p50": 0.1, "p99": 3.2, "max": 41.5, "late": 2}},
             "targets_met": {"p99": True, "rate": False}}
    text = format_table({"database": "sqlite (WAL, synchronous=FULL)", "cores": 2, "load_average_before": [0.5],
                         "issue": issue, "correct": False, "failed_requests": 1})
    assert "tickets/s" in text and "≥ 500 MISSED" in text and "p99 ≤ 20 ok" in text
    assert "0 / 1" in text and "409: 1" in text and "correct: NO" in text and "failed requests: 1" in text
    assert "0.1 / 3.2 / 41.5" in text and "2 late by ≥ 10 ms" in text  # the machine's stalls


def test_percentiles_use_the_nearest_rank():
    p = percentiles([i / 1000 for i in range(1, 101)])  # 1 … 100 ms
    assert p == {"n": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert percentiles([0.004])["p99"] == 4.0
    assert percentiles([])["p50"] is None


def test_bench_config_is_a_valid_provincial_centre_open_all_hours():
    data = bench_config("bench-x", 60)
    config = parse_config(data)
    assert len(config.counters) == 60 and [c.number for c in config.counters] == list(range(1, 61))
    assert len(config.fields) == 25
    assert all(f.cutoff is None and f.daily_cap is None for f in config.fields)
    assert all(f.range_size >= 9999 for f in config.fields if f.prefix)
    assert all(day == ["00:00-24:00"] for day in (config.hours.mon, config.hours.sun))
    small = parse_config(bench_config("bench-y", 2))  # fields nobody serves are left out
    assert {f.code for f in small.fields} == {code for c in small.counters for code in c.fields}


def test_a_display_counts_missed_and_repeated_events_and_double_calls():
    d = Display()
    d.on_event('["state",{"seq":10,"centre":{}}]', 1.0, 1.0)
    d.recording = True
    for seq in (11, 13, 13):
        d.on_event(f'["queue.changed",{{"seq":{seq},"fields":[]}}]', 1.0, 1.0)
    d.on_event('["ticket.called",{"seq":14,"ticket":{"id":7,"number":"A0001"},"counter":{"number":1}}]', 2.0, 2.5)
    d.on_event('["ticket.called",{"seq":15,"ticket":{"id":7,"number":"A0001"},"committed_at":1.5}]', 3.0, 3.1)
    assert d.coverage(16) == (2, 1)  # 12 and 16 missing; 13 twice
    assert d.called_twice == 1
    assert d.calls == [(7, 2.0, 2.5, None), (7, 3.0, 3.1, 1.5)]


def test_a_bench_client_stamps_what_arrived_when_the_kernel_received_it():
    """A client process holds a hundred screens: each read carries the kernel's receive time (not
    when the process got round to reading), and is parsed only after every read of that moment."""
    import asyncio
    import select
    import socket
    import time

    from layso.bench import sio

    async def reads():
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        clients, peers, handled = [], [], []
        for name in ("first", "second"):
            c = sio.SioClient("127.0.0.1", listener.getsockname()[1], {})
            sock = socket.create_connection(listener.getsockname())
            sock.setsockopt(socket.SOL_SOCKET, sio.SO_TIMESTAMPNS, 1)
            sock.setblocking(False)
            c.transport = sio._Link(sock, loop)
            c._handle = lambda data, c=c: handled.append((c._arrived_at, c._read_at, data))
            clients.append(c)
            peers.append(listener.accept()[0])
        # Linux turns receive timestamps on for the whole machine a moment after the first socket asks
        # (deferred work): until then a read has none and the client falls back to its read time
        for _ in range(100):
            peers[0].sendall(b"?")
            select.select([clients[0].transport.sock], [], [], 10)
            if sio.kernel_time(clients[0].transport.sock.recvmsg(16, sio._STAMP_SPACE)[1]) is not None:
                break
            time.sleep(0.02)
        else:
            pytest.skip("this kernel gives no receive timestamps")
        sent_at = time.time()
        for peer, data in zip(peers, (b"a", b"b")):
            peer.sendall(data)
        for c in clients:  # arrived: readable
            assert select.select([c.transport.sock], [], [], 10)[0]
        seen_at = time.time()
        time.sleep(0.1)  # the bytes wait in the sockets, as while a busy client parses others
        for c in clients:
            c._readable()
        assert handled == []  # nothing parsed while the moment's reads go on
        await asyncio.sleep(0)
        for s in (*peers, listener, *(c.transport.sock for c in clients)):
            s.close()
        return sent_at, seen_at, handled

    sent_at, seen_at, handled = asyncio.run(reads())
    assert [data for _a, _r, data in handled] == [b"a", b"b"]
    for arrived, read, _data in handled:
        assert sent_at <= arrived <= seen_at and read >= seen_at + 0.1  # the kernel's arrival, not the late read


def test_audit_finds_numbers_issued_twice_tickets_called_twice_and_lost_tickets(engine):
    e, cid = engine
    first = e.issue(cid, "dat-dai").value
    second = e.issue(cid, "dat-dai").value
    e.call_next(cid, 1)
    seen = [(t["id"], t["field"], t["day"], t["number"]) for t in (first, second)]
    assert audit(e.db, cid, seen) == {"tickets_in_database": 2, "duplicate_numbers": {"clients": 0, "database": 0},
                                      "called_twice_database": 0, "lost": 0}

    with e.db.write() as s:
        t2 = s.get(Ticket, second["id"])
        t2.number = first["number"]
        ev = s.execute(select(TicketEvent).where(TicketEvent.type == "ticket.called")).scalar_one()
        s.add(TicketEvent(centre_id=cid, ticket_id=ev.ticket_id, seq=ev.seq + 100, type="ticket.called",
                          at=ev.at + timedelta(seconds=1), data={}))
    seen_twice = seen + [(999_999, "dat-dai", first["day"], first["number"])]
    result = audit(e.db, cid, seen_twice)
    assert result["duplicate_numbers"] == {"clients": 1, "database": 1}
    assert result["called_twice_database"] == 1
    assert result["lost"] == 1


@pytest.mark.parametrize("script", sorted(p.name for p in (Path(__file__).resolve().parents[2] / "bench").glob("*.py")))
def test_every_bench_script_starts(script):
    """The scripts under bench/ import the project's modules: they must keep working as those change."""
    bench = Path(__file__).resolve().parents[2] / "bench"
    r = subprocess.run([sys.executable, str(bench / script), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()


@pytest.mark.slow
def test_open_loop_offers_its_rate_and_counts_latency_from_the_schedule(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "layso.cli", "bench", "--scenario", "issue", "--seconds", "3",
                           "--open-loop", "40", "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    issue = json.loads(proc.stdout)["issue"]
    assert issue["open_loop_offered_per_s"] == 40 and issue["latency_from"] == "schedule (open loop)"
    assert 0.6 * 40 * 3 <= issue["tickets"] <= 40 * 3 + 8, "about the offered rate, never flat out"
    assert issue["targets_met"]["rate"] is None
    assert len(issue["server_rss_mib"]) == 1 and issue["server_rss_mib"][0] > 10


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_behind_nginx_on_postgresql_and_redis(tmp_path, pg_url, redis_url):
    from layso.bench.proxy import nginx_binary
    if nginx_binary() is None:
        if os.environ.get("LAYSO_REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is required here (LAYSO_REQUIRE_SERVICES=1)")
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    proc = subprocess.run([sys.executable, "-m", "layso.cli", "bench", "--seconds", "2", "--displays", "3",
                           "--counters", "2", "--db", pg_url, "--workers", "2", "--message-queue", redis_url,
                           "--via-nginx", "--json"], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.stdout, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    what = {s: {k: report[s][k] for k in ("errors", "duplicate_numbers", "called_twice", "lost")}
            for s in ("issue", "lobby")}
    what["lobby"]["events_missed"] = report["lobby"]["events_missed"]
    assert report["correct"] is True and report["failed_requests"] == 0, what
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report["server_processes"] == 2 and report["via_nginx"] is True
    assert len(report["lobby"]["server_rss_mib"]) == 2
    assert report["lobby"]["call_to_display_ms"]["n"] == 3 * report["lobby"]["calls"]


def test_workers_need_postgresql_and_a_message_queue(tmp_path):
    from layso.cli import main
    assert main(["bench", "--workers", "2", "--seconds", "1"]) == 2
