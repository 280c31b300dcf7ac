"""Faults and attacks on real server processes (issue 11): PostgreSQL stopped under a connected display
(a PostgreSQL of the test's own, on its own port: the machine's is never touched), a full and a
read-only SQLite file (on a small file system of the test's own), a PIN-guessing flood, password
guesses spread over two processes that share Redis, and a foreign Origin riding on a session cookie."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import socketio
from conftest import free_port, start_server, wait_for
from layso.client import ONLINE, DeviceClient

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").exists() else None



# ---- a PostgreSQL of our own ------------------------------------------------------------------------
class OwnPostgres:
    """initdb + pg_ctl in a temporary folder, on a free port, as the `postgres` user when we are root."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "pgdata"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args, check=True):
        return subprocess.run([*self.as_user, *args], check=check, capture_output=True, text=True, timeout=60)

    def init(self) -> "OwnPostgres":
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        return self

    def start(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture
def own_postgres(tmp_path):
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed (/usr/lib/postgresql/*/bin)")
    folder = Path("/tmp") / f"layso-pg-{uuid.uuid4().hex[:8]}"  # short: the socket path has a length limit
    pg = OwnPostgres(folder).init()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_stopped_under_a_connected_display(tmp_path, own_postgres):
    import psycopg
    with psycopg.connect(own_postgres.url(), autocommit=True) as c:
        c.execute("CREATE DATABASE layso")
    sp = start_server(tmp_path, db_url=own_postgres.url("layso"))
    kiosk = sp.add_device("kiosk", "Kiosk")
    display = sp.add_device("display", "TV")
    client = DeviceClient(sp.url, display, timeout=3).start()
    late = None
    try:
        assert client.wait_online(15)
        assert sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
        own_postgres.stop("fast")
        # writes and reads say what is wrong, with a 503; liveness stays, readiness does not
        r = sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable", r.text
        assert r.headers.get("Retry-After")
        r = sp.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
        assert sp.get("/healthz").status_code in (200, 503)  # the process lives (its check reads the database)
        # a new connection fails closed: refused, so its client keeps retrying instead of sitting frozen
        late = DeviceClient(sp.url, display, timeout=3).start()
        time.sleep(3)
        assert late.state is None and late.status != ONLINE
        own_postgres.start()
        assert wait_for(lambda: sp.get("/readyz").status_code == 200, 30)
        assert late.wait_online(30), "the refused client did not come in once the database was back"
        while not client.inbox.empty():
            client.inbox.get()
        number = sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).json()["number"]
        got = []

        def issued():
            while not client.inbox.empty():
                got.append(client.inbox.get())
            return any(kind == "event" and d[0] == "ticket.issued" and d[1]["ticket"]["number"] == number
                       for kind, d in got)
        assert wait_for(issued, 15), "the display that stayed connected is frozen"
    finally:
        client.close()
        if late is not None:
            late.close()
        sp.stop()


# ---- a small file system of our own -------------------------------------------------------------------
@contextmanager
def small_filesystem(tmp_path: Path, size: str = "8m"):
    """A tmpfs of `size` mounted on a folder of `tmp_path` (root only; skips elsewhere)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; → the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_answers_503_storage_full_and_recovers(tmp_path):
    with small_filesystem(tmp_path) as mnt:
        sp = start_server(tmp_path, db_url=f"sqlite:///{mnt / 'layso.db'}")
        try:
            kiosk = sp.add_device("kiosk", "Kiosk")
            assert sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
            filler = _fill(mnt)
            answers = []
            for _ in range(400):  # the WAL may still have room for a few: go on until it has none
                r = sp.post("/api/v1/tickets", kiosk, {"field": "bhxh"})
                answers.append(r.status_code)
                if r.status_code != 201:
                    break
            assert answers[-1] == 503, answers
            assert r.json()["error"]["code"] == "storage_full", r.text
            assert "đầy" in r.json()["error"]["message"]  # Vietnamese by default
            assert set(answers[:-1]) <= {201}, "a write failed with something else than storage_full"
            ready = sp.get("/readyz")
            assert ready.status_code in (200, 503)
            if ready.status_code == 503:
                assert ready.json()["error"]["code"] == "storage_full"
            filler.unlink()
            assert wait_for(lambda: sp.get("/readyz").status_code == 200, 10)
            assert sp.post("/api/v1/tickets", kiosk, {"field": "bhxh"}).status_code == 201
        finally:
            sp.stop()


def test_a_read_only_database_refuses_to_start_with_a_clear_message(tmp_path):
    with small_filesystem(tmp_path) as mnt:
        db_path = mnt / "layso.db"
        sp = start_server(tmp_path, db_url=f"sqlite:///{db_path}")
        sp.stop()
        r = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
        cfg = tmp_path / "layso.toml"
        proc = subprocess.run([sys.executable, "-m", "layso.cli", "serve", "--config", str(cfg), "--db",
                               f"sqlite:///{db_path}", "--port", str(free_port())], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "LAYSO_SECRET_KEY": "test-secret"})
        assert proc.returncode != 0
        assert "serving on" not in proc.stdout
        assert "read-only" in proc.stderr and str(db_path) in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


# ---- guessing -------------------------------------------------------------------------------------------
def test_a_pin_guessing_flood_from_one_panel_is_stopped(tmp_path):
    sp = start_server(tmp_path)
    try:
        sp.add_user("officer", "staff", pin="4826")
        panel = sp.add_device("counter", "Quầy 1", counter=1)
        panel2 = sp.add_device("counter", "Quầy 2", counter=2)
        # the officer's account: at most 5 guesses, then even the right PIN waits
        for pin in ("0000", "1111", "2222", "3333", "4444"):
            assert sp.post("/api/v1/counters/2/signin", panel2, {"username": "officer", "pin": pin}).status_code == 401
        r = sp.post("/api/v1/counters/2/signin", panel2, {"username": "officer", "pin": "4826"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_requests"
        statuses = []
        for i in range(60):  # a new user name each time (the old limiter forgot them all at 10,000 keys)
            r = sp.post("/api/v1/counters/1/signin", panel, {"username": f"u{i}-{uuid.uuid4().hex[:6]}",
                                                             "pin": f"{i:04d}"})
            statuses.append(r.status_code)
        # 20 checked guesses per panel in 5 minutes, then nothing more is checked
        assert statuses.count(401) == 20 and set(statuses[20:]) == {429}, statuses
        # and over Socket.IO the same limits apply
        raw = socketio.Client(reconnection=False)
        raw.connect(sp.url, auth={"token": panel}, transports=["websocket"], wait_timeout=10)
        try:
            ack = raw.call("counter.signin", {"username": "officer", "pin": "4826"}, timeout=10)
            assert ack["error"]["code"] == "too_many_requests"
        finally:
            raw.disconnect()
    finally:
        sp.stop()


@pytest.mark.redis
def test_password_guesses_are_counted_across_processes(tmp_path, redis_url):
    env = {"LAYSO_MESSAGE_QUEUE": redis_url}
    a = start_server(tmp_path, env=env)
    b = None
    try:
        b = start_server(tmp_path, env=env)
        a.add_user("manager", "manager")
        statuses = [(a if i % 2 else b).post("/api/v1/session", json={"username": "manager", "password": f"guess-{i}"})
                    .status_code for i in range(14)]
        # 10 guesses per account in 5 minutes, whichever process answers
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}, statuses
        r = a.post("/api/v1/session", json={"username": "manager", "password": "password-123"})
        assert r.status_code == 429
    finally:
        a.stop()
        if b is not None:
            b.stop()


# ---- cross-site WebSocket hijacking ------------------------------------------------------------------------
def test_a_foreign_origin_cannot_ride_on_a_session_cookie(tmp_path):
    sp = start_server(tmp_path)
    try:
        sp.add_user("officer", "staff")
        web = requests.Session()
        r = web.post(sp.url + "/api/v1/session", json={"username": "officer", "password": "password-123",
                                                        "counter": 1}, timeout=10)
        assert r.status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in web.cookies.items())
        # a page on another port of the same host (long-polling: the Origin header is exactly ours)
        foreign = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            foreign.connect(sp.url, headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{free_port()}"},
                            transports=["polling"], wait_timeout=10)
        for transport, headers in (("polling", {"Origin": sp.url}), ("websocket", {})):  # a WebSocket sends its own
            own = socketio.Client(reconnection=False)
            states = []
            own.on("state", states.append)
            own.connect(sp.url, headers={"Cookie": cookie, **headers}, transports=[transport], wait_timeout=10)
            try:
                assert wait_for(lambda: states, 10), transport
            finally:
                own.disconnect()
    finally:
        sp.stop()


# ---- text PostgreSQL refuses, on a real server over PostgreSQL -----------------------------------------------
@pytest.mark.postgres
def test_text_postgresql_refuses_is_a_400_everywhere(tmp_path, pg_url):
    import json
    sp = start_server(tmp_path, db_url=pg_url)
    try:
        kiosk = sp.add_device("kiosk", "Kiosk")
        panel = sp.add_device("counter", "Quầy 1", counter=1)
        h = {"Authorization": f"Bearer {kiosk}", "Content-Type": "application/json"}
        for body in ({"field": "a\x00b"}, {"field": "dat-dai", "request_id": "\x00"}, {"field": "\ud800"}):
            r = requests.post(sp.url + "/api/v1/tickets", data=json.dumps(body), headers=h, timeout=10)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_text", (body, r.text)
        r = requests.post(sp.url + "/api/v1/session", data=json.dumps({"username": "a\x00", "password": "x" * 9}),
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 400
        for path in ("/t/%00", "/api/v1/track/%00", "/api/v1/stats?from=2026-01-01%00&to=2026-01-02"):
            assert sp.get(path).status_code == 400, path
        r = sp.post("/api/v1/counters/1/pause", panel, {"reason": "ăn\x00trưa"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_text"
        for auth in ({"track": "a\x00b"}, {"token": "ls_\x00" + "x" * 20}):
            raw = socketio.Client(reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                raw.connect(sp.url, auth=auth, transports=["websocket"], wait_timeout=10)
        assert sp.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201  # nothing broke
    finally:
        sp.stop()


@pytest.mark.timeout(240)
def test_a_web_display_refused_while_the_database_is_down_comes_back_by_itself(tmp_path, own_postgres):
    """Socket.IO's browser client does not retry a connection the server refused: the page must."""
    from conftest import chromium
    import psycopg
    with psycopg.connect(own_postgres.url(), autocommit=True) as c:
        c.execute("CREATE DATABASE layso")
    sp = start_server(tmp_path, db_url=own_postgres.url("layso"))
    display = sp.add_device("display", "TV")
    try:
        with chromium() as browser:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{sp.url}/display?token={display}")
            page.wait_for_function("window.laysoDisplay.connection === 'online'", timeout=20000)
            own_postgres.stop("fast")
            context.set_offline(True)  # the lobby's network drops; the server notices at its ping timeout
            page.wait_for_function("window.laysoDisplay.connection === 'offline'", timeout=60000)
            time.sleep(3)  # past the cache of the display's token: its check now needs the database
            context.set_offline(False)  # back on the network, but the server refuses: no database
            time.sleep(8)
            assert page.evaluate("window.laysoDisplay.connection") == "offline"
            own_postgres.start()
            page.wait_for_function("window.laysoDisplay.connection === 'online'", timeout=60000)
    finally:
        sp.stop()
