"""Shared fixtures: configs, in-process apps with a frozen clock, real server processes on 127.0.0.1,
and PostgreSQL / Redis that skip with a reason where absent (and fail under LAYSO_REQUIRE_SERVICES)."""
from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import event

from layso.bench.officers import seat_officers  # noqa: F401  (tests import it from here)
from layso.config import parse_config, preset_data, write_config
from layso.install import SERVER_ENVIRONMENT

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"

# The tests' folders (tmp_path: their SQLite databases, configs, server logs) live in RAM where the
# machine has a tmpfs: SQLite in production fsyncs every commit (synchronous=FULL, a printed ticket
# survives a power cut), about half of a command's time on a disk, and no test can observe it. The
# same code runs with the same settings; only the fsync returns at once. PYTEST_DEBUG_TEMPROOT or
# TMPDIR, when set, still decide.
if not (os.environ.get("PYTEST_DEBUG_TEMPROOT") or os.environ.get("TMPDIR")) and os.access("/dev/shm", os.W_OK):
    tempfile.tempdir = "/dev/shm"


def require_services() -> bool:
    return os.environ.get("LAYSO_REQUIRE_SERVICES") == "1"


def _unavailable(what: str, reason: str):
    if require_services():
        pytest.fail(f"{what} is required here (LAYSO_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(f"{what} not available: {reason} (set {what.upper()}_URL, see README)")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def config_data(preset: str = "commune", **changes) -> dict:
    data = preset_data(preset, open_all_hours=True)
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    return data


def small_config_data() -> dict:
    """Three fields, four counters: the shape most tests need."""
    data = config_data()
    keep = {"dat-dai", "bhxh", "tu-phap-ho-tich"}
    data["fields"] = [f for f in data["fields"] if f["code"] in keep]
    data["counters"] = [
        {"number": 1, "name": "Quầy 1", "fields": ["dat-dai"]},
        {"number": 2, "name": "Quầy 2", "fields": ["dat-dai", "bhxh"]},
        {"number": 3, "name": "Quầy 3", "fields": ["bhxh", "tu-phap-ho-tich"]},
        {"number": 4, "name": "Quầy 4 – Ưu tiên", "fields": ["dat-dai", "bhxh", "tu-phap-ho-tich"],
         "priority_only": True},
    ]
    return data


@pytest.fixture
def small_config():
    return parse_config(small_config_data())


# ---- headless Chromium (Debian's package; never a downloaded browser) ---------------------------------
CHROMIUM = Path("/usr/bin/chromium")
requires_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                       reason="Debian's chromium (/usr/bin/chromium) is not installed")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")


def launch_chromium(playwright, *extra_args: str):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args])


@contextmanager
def chromium():
    """A headless Chromium for one test or one module; skips where Debian's chromium is absent."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


# ---- gpiozero's mock pins -----------------------------------------------------------------------------
@pytest.fixture
def factory():
    """gpiozero's MockFactory as the pin factory, reset after the test."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory
    f = MockFactory()
    Device.pin_factory = f
    yield f
    f.reset()
    Device.pin_factory = None


# ---- PostgreSQL and Redis ---------------------------------------------------------------------------
def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test (dropped afterwards)."""
    base = os.environ.get("LAYSO_TEST_POSTGRES_URL")
    if not base:
        if require_services() or _port_open("127.0.0.1", 5432):
            base = "postgresql://postgres@127.0.0.1:5432/test"
        else:
            _unavailable("layso_test_postgres", "LAYSO_TEST_POSTGRES_URL is not set and nothing listens on 5432")
    try:
        import psycopg
        admin = psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                                connect_timeout=3)
    except Exception as err:  # noqa: BLE001
        _unavailable("layso_test_postgres", f"cannot connect ({err})")
    name = f"layso_t_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def redis_url():
    url = os.environ.get("LAYSO_TEST_REDIS_URL")
    if not url:
        if require_services() or _port_open("127.0.0.1", 6379):
            url = "redis://127.0.0.1:6379/0"
        else:
            _unavailable("layso_test_redis", "LAYSO_TEST_REDIS_URL is not set and nothing listens on 6379")
    try:
        import redis
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as err:  # noqa: BLE001
        _unavailable("layso_test_redis", f"cannot connect ({err})")
    return url


# ---- password hashes --------------------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """Accounts the tests make hash with scrypt at n=2**10 instead of 2**15 (~3 ms, not ~90 ms, for
    each account, PIN and sign-in). Checking reads the method from the stored hash, so sign-in runs
    the same code; tests/unit/test_accounts.py checks the production cost itself."""
    from layso.server.domain import accounts
    accounts.HASH_METHOD = "scrypt:1024:8:1"
    yield
    accounts.HASH_METHOD = accounts.DEFAULT_HASH_METHOD


# ---- in-process engine and app ------------------------------------------------------------------------
@pytest.fixture
def frozen_clock():
    from layso.server import clock
    old = clock.get_clock()
    fc = clock.FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=HCM))  # a Monday morning
    clock.set_clock(fc)
    yield fc
    clock.set_clock(old)


def make_engine(tmp_path: Path, config_dict: dict | None = None, url: str | None = None, officers: bool = True):
    """An engine over a fresh database with one centre; `officers`: an officer is seated at every
    counter (a counter with nobody signed in cannot call), the counters still closed."""
    from layso.server.engine import QueueEngine, seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade
    db = Database(url or f"sqlite:///{tmp_path / 'engine.db'}")
    upgrade(db)
    cid = seed_centre(db, parse_config(config_dict or small_config_data()))
    if officers:
        seat_officers(db, cid)
    return QueueEngine(db, "http://127.0.0.1:5000"), cid


@pytest.fixture
def engine(tmp_path, frozen_clock):
    e, cid = make_engine(tmp_path)
    yield e, cid
    e.db.dispose()


@pytest.fixture
def app(tmp_path, frozen_clock):
    from layso.server.app import create_app
    os.environ["LAYSO_SECRET_KEY"] = "test-secret"
    application = create_app(parse_config(small_config_data()), db_url=f"sqlite:///{tmp_path / 'app.db'}",
                             testing=True)
    yield application
    application.extensions["layso"].db.dispose()


@pytest.fixture
def svc(app):
    """The app's services (db, engine, publish)."""
    return app.extensions["layso"]


@pytest.fixture
def cid(svc):
    """The id of the app's one centre."""
    from layso.server.storage.models import Centre
    from sqlalchemy import select
    with svc.db.read() as s:
        return s.execute(select(Centre.id)).scalar_one()


def settled_device_socket(app, token: str):
    """A Socket.IO test client for a device, returned once its connect has settled: the `state` and
    the "device online" news (recorded on a worker thread) have both arrived. → (client, received)"""
    from layso.server.realtime.events import socketio
    client = socketio.test_client(app, auth={"token": token})
    assert client.is_connected()
    received = client.get_received()

    def settled() -> bool:
        received.extend(client.get_received())
        return "device.changed" in [m["name"] for m in received]

    assert wait_for(settled, step=0.02), "the device's online news never came"
    return client, received


# ---- real server processes ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STARTED: list["ServerProcess"] = []  # the servers the running test started (their logs, if it fails)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.layso_failed = report.failed
    return report


@pytest.fixture(autouse=True)
def _server_logs_on_failure(request):
    """When a test fails, the tail of every server log it produced is printed with its report."""
    _STARTED.clear()
    yield
    if getattr(request.node, "layso_failed", False):
        for sp in _STARTED:
            try:
                tail = sp.log_path.read_text(errors="replace").splitlines()[-80:]
            except OSError:
                continue
            print(f"----- {sp.log_path} (last {len(tail)} lines) -----", *tail, sep="\n")
    _STARTED.clear()


class PortTaken(RuntimeError):
    """The server could not listen: its port was taken."""


@dataclass
class ServerProcess:
    """`layso serve` as a real process on 127.0.0.1."""

    workdir: Path
    db_url: str
    config_path: Path
    port: int = field(default_factory=free_port)
    fixed_port: bool = False  # the caller chose the port, or clients know it: never move to another
    env: dict = field(default_factory=dict)
    args: list = field(default_factory=list)  # more `layso serve` options, e.g. ["--workers", "2"]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        """Start and wait for "serving on"; a port taken meanwhile (free_port only found it free: another
        test process may bind it first) moves to another free port, unless the caller fixed it."""
        for _attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                if self.fixed_port:
                    raise
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> "ServerProcess":
        # as `layso install server`'s unit runs it (without docstrings, among others)
        env = {**SERVER_ENVIRONMENT, **os.environ, "LAYSO_SECRET_KEY": "test-secret", **self.env}
        env.pop("LAYSO_MESSAGE_QUEUE", None) if "LAYSO_MESSAGE_QUEUE" not in self.env else None
        log = open(self.log_path, "ab")  # the server's stderr, then (drained) its stdout
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "layso.cli", "serve", "--config", str(self.config_path), "--db", self.db_url,
             "--port", str(self.port), *self.args], stdout=subprocess.PIPE, stderr=log, env=env, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if b"serving on" in line:
                self.fixed_port = True  # clients know this address now: a restart keeps it
                _STARTED.append(self)
                self._drain_stdout(log)
                return self
            if self.proc.poll() is not None:
                break
        log.close()
        if self.proc.poll() is not None and b"cannot listen on" in self.log_path.read_bytes():
            raise PortTaken(self.port)
        raise RuntimeError(f"server did not start: {line!r}; see {self.log_path}")

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.port}.log"

    def _drain_stdout(self, log) -> None:
        """Whatever the server prints after its start goes to its log: a pipe nobody reads would fill
        and stop the server the moment it printed 64 KiB."""
        def drain():
            for chunk in iter(self.proc.stdout.readline, b""):
                log.write(chunk)
                log.flush()
        threading.Thread(target=drain, daemon=True, name=f"server-{self.port}-stdout").start()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def seat_officers(self) -> None:
        """An officer at every counter (a counter with nobody signed in cannot call)."""
        from layso.server.storage.database import Database
        db = Database(self.db_url)
        try:
            seat_officers(db)
        finally:
            db.dispose()

    def add_device(self, role: str, name: str, **kw) -> str:
        from layso.server.engine.devices import add_device
        from layso.server.storage.database import Database
        db = Database(self.db_url)
        try:
            return add_device(db, role, name, counter=kw.get("counter"), fields=kw.get("fields"),
                              counters=kw.get("counters"))
        finally:
            db.dispose()

    def add_user(self, username: str, role: str, password: str = "password-123", **kw) -> None:
        from layso.server.engine.accounts import add_user
        from layso.server.storage.database import Database
        db = Database(self.db_url)
        try:
            add_user(db, username, role, password, full_name=kw.get("full_name", ""), pin=kw.get("pin"))
        finally:
            db.dispose()

    def get(self, path: str, token: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.url + path, headers=headers, timeout=10, **kw)

    def post(self, path: str, token: str | None = None, json=None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(self.url + path, headers=headers, json=json, timeout=10, **kw)


def start_server(tmp_path: Path, db_url: str | None = None, config: dict | None = None, env: dict | None = None,
                 port: int | None = None, args: list | None = None) -> ServerProcess:
    return prepare_server(tmp_path, db_url, config, env, port, args).start()


def prepare_server(tmp_path: Path, db_url: str | None = None, config: dict | None = None, env: dict | None = None,
                   port: int | None = None, args: list | None = None) -> ServerProcess:
    """A server's database migrated and seeded, not started yet (devices and users can be added first)."""
    cfg = tmp_path / "layso.toml"
    if not cfg.exists():
        write_config(config or small_config_data(), cfg)
    db_url = db_url or f"sqlite:///{tmp_path / 'server.db'}"
    # migrate and seed once here, so that several processes never race on the first start
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.config import load_config
    db = Database(db_url)
    upgrade(db)
    seed_centre(db, load_config(cfg))
    db.dispose()
    sp = ServerProcess(tmp_path, db_url, cfg, env=env or {}, args=args or [])
    if port:
        sp.port, sp.fixed_port = port, True
    return sp


@pytest.fixture
def server(tmp_path):
    sp = start_server(tmp_path)
    yield sp
    sp.stop()


def count_queries(db, fn) -> int:
    """How many SQL statements `fn()` sends through the database's engines."""
    n = [0]

    def on_exec(*_a, **_k):
        n[0] += 1
    engines = {db.read_engine, db.write_engine}
    for eng in engines:
        event.listen(eng, "before_cursor_execute", on_exec)
    try:
        fn()
    finally:
        for eng in engines:
            event.remove(eng, "before_cursor_execute", on_exec)
    return n[0]


def wait_for(predicate, timeout: float = 20.0, step: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; whether it held (checked once more at the end)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())
