"""The production server: systemd's READY and watchdog from real processes, `--workers N` sharing a
port and replacing a dead worker, and device presence shared by every process."""
from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import socketio
from conftest import start_server, wait_for
from sqlalchemy import select

from layso.cli import main
from layso.server import serving
from layso.server.storage.database import Database
from layso.server.storage.models import Device, DeviceConnection

pytestmark = pytest.mark.slow



def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def online(db_url: str, name: str) -> bool:
    db = Database(db_url)
    try:
        with db.read() as s:
            return s.execute(select(Device.online).where(Device.name == name)).scalar_one()
    finally:
        db.dispose()


def cluster_env(redis_url: str) -> dict:
    return {"LAYSO_MESSAGE_QUEUE": redis_url, "LAYSO_MESSAGE_QUEUE_CHANNEL": f"layso-test-{uuid.uuid4().hex[:8]}"}


def test_the_server_tells_systemd_it_is_ready_and_feeds_the_watchdog(tmp_path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(15)
        sp = start_server(tmp_path, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"})
        try:
            got = [sock.recv(100)]
            while b"WATCHDOG=1" not in got:
                got.append(sock.recv(100))
            assert got[0] == b"READY=1"
            sp.proc.terminate()
            while b"STOPPING=1" not in got:
                got.append(sock.recv(100))
        finally:
            sp.stop()


def test_serve_refuses_several_workers_without_postgresql_and_redis(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LAYSO_MESSAGE_QUEUE", raising=False)
    assert main(["serve", "--workers", "2", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "postgresql" in capsys.readouterr().err
    assert main(["serve", "--workers", "0"]) == 2


@pytest.mark.postgres
@pytest.mark.redis
def test_workers_share_one_port_and_a_dead_worker_is_replaced(tmp_path, pg_url, redis_url):
    sp = start_server(tmp_path, db_url=pg_url, env=cluster_env(redis_url), args=["--workers", "2"])
    try:
        kiosk = sp.add_device("kiosk", "Kiosk")
        workers = children(sp.proc.pid)
        assert len(workers) == 2
        # the kernel spreads new connections over both workers: many fresh connections all succeed
        for _ in range(20):
            assert requests.post(f"{sp.url}/api/v1/tickets", json={"field": "bhxh"}, timeout=10,
                                 headers={"Authorization": f"Bearer {kiosk}", "Connection": "close"}).status_code == 201
        os.kill(workers[0], signal.SIGKILL)
        assert wait_for(lambda: len(children(sp.proc.pid)) == 2 and workers[0] not in children(sp.proc.pid))
        for _ in range(10):
            assert requests.get(f"{sp.url}/healthz", timeout=10, headers={"Connection": "close"}).status_code == 200
    finally:
        sp.stop()
    assert sp.proc.returncode is not None
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers[1:]), "workers outlived their parent"


@pytest.mark.postgres
@pytest.mark.redis
def test_workers_stop_when_their_parent_is_killed_and_when_they_are_told_to(tmp_path, pg_url, redis_url):
    """A parent killed outright (SIGKILL: no chance to stop its workers) leaves no worker serving on
    its own; a worker told to stop (SIGTERM) is gone within seconds, its Redis listener included."""
    sp = start_server(tmp_path, db_url=pg_url, env=cluster_env(redis_url), args=["--workers", "2"])
    try:
        workers = children(sp.proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGTERM)
        assert wait_for(lambda: not Path(f"/proc/{workers[0]}").exists()
                        or "Z" in Path(f"/proc/{workers[0]}/stat").read_text().split()[2], timeout=15)
        assert wait_for(lambda: len(children(sp.proc.pid)) == 2)  # replaced by the parent
        workers = children(sp.proc.pid)
        sp.proc.kill()
        sp.proc.wait(10)
        assert wait_for(lambda: all(not Path(f"/proc/{pid}").exists() for pid in workers), timeout=20), \
            "workers outlived a killed parent"
    finally:
        sp.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_a_device_moving_between_processes_stays_online(tmp_path, pg_url, redis_url):
    env = cluster_env(redis_url)
    a = start_server(tmp_path, db_url=pg_url, env=env)
    b = None
    try:
        b = start_server(tmp_path, db_url=pg_url, env=env)
        tv = a.add_device("display", "TV")
        first = socketio.Client(reconnection=False)
        first.connect(a.url, auth={"token": tv}, transports=["websocket"], wait_timeout=10)
        assert wait_for(lambda: online(pg_url, "TV"))
        second = socketio.Client(reconnection=False)  # the TV reconnects, to the other process
        second.connect(b.url, auth={"token": tv}, transports=["websocket"], wait_timeout=10)
        db = Database(pg_url)
        try:
            def rows():
                with db.read() as s:
                    return s.execute(select(DeviceConnection.process)).scalars().all()
            assert wait_for(lambda: len(set(rows())) == 2), "one connection row per process"
            first.disconnect()  # the old process sees the old connection go
            assert wait_for(lambda: len(rows()) == 1)
            time.sleep(0.3)
            assert online(pg_url, "TV"), "a disconnect on one process hid a device connected to another"
            second.disconnect()
            assert wait_for(lambda: not online(pg_url, "TV"))
            assert rows() == []
        finally:
            db.dispose()
    finally:
        a.stop()
        if b is not None:
            b.stop()


def test_connections_of_a_dead_process_are_cleared(app, svc, cid, frozen_clock):
    from layso.server.engine.devices import add_device
    from layso.server.realtime import presence
    from layso.server.realtime.events import socketio as sio
    add_device(svc.db, "display", "TV cũ")
    with svc.db.write() as s:
        device = s.execute(select(Device).where(Device.name == "TV cũ")).scalar_one()
        device.online = True
        s.add(DeviceConnection(sid="gone-1", device_id=device.id, process="a-dead-process",
                               seen_at=frozen_clock.now() - timedelta(minutes=5)))
        s.add(DeviceConnection(sid="alive-1", device_id=device.id, process="a-live-process",
                               seen_at=frozen_clock.now()))
    watcher = sio.test_client(app, flask_test_client=None, auth={"token": add_device(svc.db, "display", "TV mới")})
    watcher.get_received()
    assert presence.refresh(svc) == 1
    assert online(svc.db.url, "TV cũ"), "still connected through the live process"
    with svc.db.write() as s:
        s.execute(DeviceConnection.__table__.update().where(DeviceConnection.sid == "alive-1")
                  .values(seen_at=frozen_clock.now() - timedelta(minutes=5)))
    assert presence.refresh(svc) == 1
    assert not online(svc.db.url, "TV cũ")
    news = [m["args"][0]["device"] for m in watcher.get_received() if m["name"] == "device.changed"]
    assert any(d["name"] == "TV cũ" and d["online"] is False for d in news)
    watcher.disconnect()


def test_a_serving_process_reports_its_memory_and_keeps_its_startup_objects_out_of_the_collector(server):
    """`layso serve` freezes what it made while starting (a full collection walked ~120,000 objects:
    70–170 ms with every connection waiting), and /metrics tells the process's memory and collections."""
    text = server.get("/metrics").text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["python_gc_objects_frozen"] > 50_000
    assert 20 * 2**20 < values["process_resident_memory_bytes"] < 2**30
    assert {f'python_gc_collections_total{{generation="{g}"}}' for g in range(3)} <= set(values)
    # the youngest generation is larger than Python's 700: what a command keeps across the loop's
    # waits dies young instead of reaching the oldest generation and setting off full collections
    assert values['python_gc_threshold{generation="0"}'] == serving.YOUNG_OBJECTS > 700
