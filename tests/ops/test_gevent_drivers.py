"""Under `layso serve`'s gevent (a process of its own, monkey-patched as the CLI does it), a slow
database call blocks only its own greenlet: SQLite through the thread pool, psycopg 3 and redis-py
on gevent's own waiting."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from layso.server.storage.database import READ_CONNECTIONS_KEPT

PROBE = textwrap.dedent('''
    import sys
    from layso.server.serving import patch
    patch()
    import gevent, time
    ticks = []

    def ticker(stop_at):
        while time.monotonic() < stop_at:
            ticks.append(1)
            gevent.sleep(0.01)

    def run(slow, label):
        ticks.clear()
        t = gevent.spawn(ticker, time.monotonic() + 60)
        started = time.monotonic()
        slow()
        took = time.monotonic() - started
        t.kill()
        print(label, round(took, 2), len(ticks), flush=True)

    kind, url = sys.argv[1], sys.argv[2]
    if kind == "sqlite":
        from sqlalchemy import text
        from layso.server.storage.database import Database
        db = Database(url)
        def slow():
            with db.read() as s:
                s.execute(text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
                               "SELECT count(*) FROM c")).scalar_one()
        run(slow, "sqlite")
    elif kind == "postgresql":
        from sqlalchemy import text
        from layso.server.storage.database import Database
        db = Database(url)
        def slow():
            with db.read() as s:
                s.execute(text("SELECT pg_sleep(0.5)"))
        run(slow, "postgresql")
    elif kind == "scrypt":
        from layso.server.domain.accounts import check_secret, hash_secret
        from layso.server.turns import off_the_loop
        stored = hash_secret("mật khẩu dài", method="scrypt:65536:8:1")
        def slow():
            for _ in range(3):
                assert off_the_loop(check_secret, stored, "mật khẩu dài")
        run(slow, "scrypt")
    else:
        import redis
        r = redis.Redis.from_url(url)
        run(lambda: r.blpop("layso-test-nothing-" + str(time.time()), timeout=1), "redis")
''')


def probe(kind: str, url: str) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", PROBE, kind, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    _label, took, ticks = done.stdout.split()
    return float(took), int(ticks)


def test_a_slow_sqlite_read_lets_other_greenlets_run(tmp_path):
    took, ticks = probe("sqlite", f"sqlite:///{tmp_path / 'g.db'}")
    assert took > 0.1, "the probe query is too quick to show anything"
    assert ticks >= took / 0.01 * 0.3, f"other greenlets were held up: {ticks} ticks in {took} s"


def test_checking_a_password_lets_other_greenlets_run():
    """scrypt (~0.1 s a sign-in) runs in the thread pool: the process's other connections go on."""
    took, ticks = probe("scrypt", "-")
    assert took > 0.1, "the probe's hashes are too quick to show anything"
    assert ticks >= took / 0.01 * 0.3, f"other greenlets were held up: {ticks} ticks in {took} s"


@pytest.mark.postgres
def test_a_slow_postgresql_query_lets_other_greenlets_run(pg_url):
    took, ticks = probe("postgresql", pg_url)
    assert took >= 0.5
    assert ticks >= took / 0.01 * 0.3, f"other greenlets were held up: {ticks} ticks in {took} s"


@pytest.mark.redis
def test_a_blocking_redis_call_lets_other_greenlets_run(redis_url):
    took, ticks = probe("redis", redis_url)
    assert took >= 0.9
    assert ticks >= took / 0.01 * 0.3, f"other greenlets were held up: {ticks} ticks in {took} s"


LEAN = textwrap.dedent('''
    import sys
    from layso.server.serving import patch
    patch()
    from layso.cli import build_parser
    build_parser()  # every subcommand's arguments, as `layso serve` builds them
    from layso.server.app import create_app  # noqa: F401 - what `layso serve` imports
    import socketio.redis_manager as rm
    loaded = [m for m in ("requests", "websocket", "redis", "urllib3", "sqlalchemy.dialects.postgresql")
              if m in sys.modules]
    import requests  # the notifier's first message imports it normally
    print(",".join(loaded) or "-", rm.redis is not None, requests.__name__)
''')


@pytest.mark.parametrize("queue, expected", [(None, "- False requests"),
                                             ("redis://127.0.0.1:6379/0", "redis True requests")])
def test_a_serving_process_does_not_load_socketio_client_libraries(queue, expected):
    """python-socketio imports its HTTP client, websocket-client and redis for clients and queues;
    a server process gets them only when it uses them (10 MiB of each process); the PostgreSQL
    dialect only when its database is PostgreSQL (2.4 MiB)."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "LAYSO_MESSAGE_QUEUE"}
    if queue:
        env["LAYSO_MESSAGE_QUEUE"] = queue  # not connected to: only whether redis is importable
    out = subprocess.run([sys.executable, "-c", LEAN], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_the_postgresql_pool_is_fixed_per_process(monkeypatch):
    """N processes × LAYSO_DB_POOL connections, no overflow beyond it: PostgreSQL's max_connections
    (100 by default) is not exceeded by a busy moment."""
    from layso.server.storage.database import Database, pg_pool_size
    monkeypatch.setenv("LAYSO_DB_POOL", "7")
    assert pg_pool_size() == 7
    db = Database("postgresql://nobody@127.0.0.1:1/none")  # nothing is connected until used
    try:
        assert db.write_engine.pool.size() == 7 and db.write_engine.pool._max_overflow == 0
    finally:
        db.dispose()
    monkeypatch.setenv("LAYSO_DB_POOL", "many")
    with pytest.raises(RuntimeError, match="LAYSO_DB_POOL"):
        pg_pool_size()


STUCK = textwrap.dedent('''
    from layso.server.serving import exit_after, patch
    patch()
    import gevent.event
    exit_after(0.3)
    gevent.event.Event().wait()  # the main greenlet never comes back, the event loop idle
''')


def test_a_stopping_server_that_hangs_exits_by_its_deadline():
    """However its shutdown hangs (a greenlet that does not die, the interpreter waiting on one), a
    server told to stop is gone by `STOP_DEADLINE_S`: here 0.3 s, the main greenlet blocked for ever."""
    done = subprocess.run([sys.executable, "-c", STUCK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]


POINT = textwrap.dedent('''
    import sys
    from layso.server.serving import patch
    patch()
    import gevent
    import gevent.threadpool
    from sqlalchemy import text
    from layso.server.storage.database import Database
    db = Database("sqlite:///" + sys.argv[1])
    with db.write() as s:
        s.execute(text("CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT)"))
        s.execute(text("INSERT INTO k VALUES (1, 'one')"))
    hops = []
    class Counting(gevent.threadpool.ThreadPool):
        def apply(self, func, args=None, kwds=None):
            hops.append(func)
            return super().apply(func, args, kwds)
    gevent.get_hub().threadpool = Counting(4)
    value = db.point_read(lambda s: s.execute(text("SELECT v FROM k WHERE id = 1")).scalar_one())
    print(value, len(hops), flush=True)
    with db.read() as s:
        s.execute(text("SELECT v FROM k WHERE id = 1")).scalar_one()
    print(len(hops), flush=True)
''')


def test_a_point_read_stays_on_the_event_loop(tmp_path):
    """The device or account behind a request is read on the event loop: through `read` that was three
    hops to the thread pool (BEGIN, the statement, COMMIT), a third of a busy counter command's time."""
    done = subprocess.run([sys.executable, "-c", POINT, str(tmp_path / "p.db")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    point, read = done.stdout.splitlines()
    assert point == "one 0"
    assert int(read) >= 3, "the probe's ordinary read did not go through the thread pool"


def test_a_point_read_that_sqlite_makes_wait_goes_through_the_ordinary_read(tmp_path):
    """When another process holds the database (its exclusive lock), the point read's busy timeout of 0
    gives up at once and the read waits where waiting is allowed (under gevent: the thread pool)."""
    import sqlite3
    import threading
    import time
    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker
    from layso.server.storage.database import Database, point_engine
    path = tmp_path / "x.db"
    db = Database(f"sqlite:///{path}")
    with db.write() as s:
        s.execute(text("CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT)"))
        s.execute(text("INSERT INTO k VALUES (1, 'one')"))
    db.dispose()
    # as `Database` builds it under gevent (this test process is not patched)
    db.point_engine = point_engine(db.url)
    db._point = sessionmaker(db.point_engine)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE k SET v = 'uno' WHERE id = 1")
    holder.execute("COMMIT")  # in exclusive locking mode the lock stays until the connection closes
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite3.connect(path, timeout=0).execute("SELECT v FROM k").fetchall()
    threading.Timer(0.5, holder.close).start()
    started = time.monotonic()
    try:
        value = db.point_read(lambda s: s.execute(text("SELECT v FROM k WHERE id = 1")).scalar_one())
    finally:
        db.dispose()
    assert value == "uno"
    assert time.monotonic() - started >= 0.4, "the read did not wait for the lock"



BEGIN = textwrap.dedent('''
    import sqlite3, sys, time
    from layso.server.serving import patch
    patch()
    import gevent
    import gevent.threadpool
    from sqlalchemy import text
    from layso.server.storage.database import Database
    hops = []
    class Counting(gevent.threadpool.ThreadPool):
        def apply(self, func, args=None, kwds=None):
            hops.append(getattr(func, "__name__", str(func)))
            return super().apply(func, args, kwds)
    gevent.threadpool.ThreadPool = Counting  # the write engine's own pool, made at its first commit
    path = sys.argv[1]
    db = Database("sqlite:///" + path)
    with db.write() as s:
        s.execute(text("CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT)"))
    hops.clear()
    def insert(v):
        with db.write() as s:
            s.execute(text("INSERT INTO k (v) VALUES (:v)"), {"v": v})
    insert("free")
    print("free", ",".join(hops), flush=True)
    hops.clear()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock for 0.5 s
    gevent.spawn_later(0.5, other.execute, "COMMIT")
    ticks = []
    def ticker():
        while True:
            ticks.append(1)
            gevent.sleep(0.01)
    t = gevent.spawn(ticker)
    started = time.monotonic()
    insert("waited")
    took = time.monotonic() - started
    t.kill()
    waited = ",".join(hops)
    with db.read() as s:
        rows = s.execute(text("SELECT v FROM k ORDER BY id")).scalars().all()
    print("locked", waited, round(took, 2), len(ticks), "/".join(rows), flush=True)
''')


def test_a_write_begins_on_the_event_loop_and_waits_for_another_process_in_the_thread_pool(tmp_path):
    """BEGIN IMMEDIATE runs on the event loop (a thread-pool hop saved per command) while the database
    is free; when another process holds the write lock it waits for it in the thread pool, the other
    greenlets going on meanwhile, and the write then goes through."""
    done = subprocess.run([sys.executable, "-c", BEGIN, str(tmp_path / "b.db")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    free, locked = done.stdout.splitlines()
    assert free == "free commit", free  # only the commit (fsync) left the loop: no BEGIN, no idle ROLLBACK
    label, hops, took, ticks, rows = locked.split()
    assert hops == "begin_waiting,commit", hops
    assert float(took) >= 0.4, "the write did not wait for the other writer"
    assert int(ticks) >= float(took) / 0.01 * 0.3, f"other greenlets were held up: {ticks} ticks in {took} s"
    assert rows == "free/waited"


GROUP = textwrap.dedent('''
    import json, sys
    from layso.server.serving import patch
    patch()
    import gevent
    from sqlalchemy import event, text
    from layso.server.storage.database import Database
    db = Database("sqlite:///" + sys.argv[1])
    with db.write() as s:
        s.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        s.execute(text("CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT, "
                       "p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"))
    commits, savepoints = [], []
    event.listen(db.write_engine, "commit", lambda conn: commits.append(1))
    event.listen(db.write_engine, "before_cursor_execute",
                 lambda conn, cur, sql, *a: savepoints.append(sql) if "SAVEPOINT" in sql else None)

    def piece(v, fail=None):
        def work(s):
            if v == "first":
                gevent.sleep(0.3)  # the others queue meanwhile
            s.execute(text("INSERT INTO k (v, p) VALUES (:v, :p)"), {"v": v, "p": 99 if fail == "commit" else None})
            if fail == "raise":
                raise ValueError(v)
            return v.upper()
        return work

    def run(pieces):
        commits.clear()
        out = {}
        def one(v, fail):
            try:
                out[v] = db.write_grouped(piece(v, fail))
            except Exception as err:
                out[v] = type(err).__name__
        gs = [gevent.spawn(one, v, fail) for v, fail in pieces]
        gevent.joinall(gs)
        n = len(commits)
        with db.read() as s:
            rows = s.execute(text("SELECT v FROM k ORDER BY id")).scalars().all()
        with db.write() as s:
            s.execute(text("DELETE FROM k"))
        return {"out": out, "rows": rows, "commits": n}

    print(json.dumps(run([("first", None), ("a", None), ("b", "raise"), ("c", None)])))
    print(json.dumps(run([("first", None), ("a", None), ("b", "commit"), ("c", None)])))
    print(json.dumps(savepoints))
''')


def test_writes_of_one_moment_commit_together_and_fail_alone(tmp_path):
    """Group commit (`Database.write_grouped`): what queues while a transaction runs is done in the next
    one, a piece each in its savepoint: one that raises is rolled back and fails alone, in its own
    greenlet, the others commit; a commit that fails fails every piece of it, and none is kept."""
    done = subprocess.run([sys.executable, "-c", GROUP, str(tmp_path / "g.db")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    raised, failed_commit, savepoints = (json.loads(line) for line in done.stdout.splitlines())
    assert raised == {"out": {"first": "FIRST", "a": "A", "b": "ValueError", "c": "C"},
                      "rows": ["first", "a", "c"], "commits": 2}
    assert failed_commit == {"out": {"first": "FIRST", "a": "IntegrityError", "b": "IntegrityError",
                                     "c": "IntegrityError"},
                             "rows": ["first"], "commits": 2}  # the second one tried, and failed
    assert savepoints == []  # SAVEPOINT, RELEASE and ROLLBACK TO went straight to the driver


READ_POOL = textwrap.dedent('''
    import json, sys
    from layso.server.serving import patch
    patch()
    import gevent, gevent.pool
    from sqlalchemy import text
    from layso.server.storage.database import Database
    db = Database("sqlite:///" + sys.argv[1])
    def slow_read(_):
        with db.read() as s:
            return s.execute(text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) "
                                  "SELECT count(*) FROM c")).scalar_one()
    values = gevent.pool.Pool(200).map(slow_read, range(200))
    pool = db.read_engine.pool
    print(json.dumps({"size": pool.size(), "overflow": pool._max_overflow, "kept": pool.checkedin(),
                      "threads": gevent.get_hub().threadpool.maxsize, "values": sorted(set(values))}))
''')


def test_the_read_pool_opens_no_more_connections_than_the_thread_pool_has_threads_and_keeps_a_few(tmp_path):
    """Under gevent the read engine's statements run in the hub's thread pool: the pool opens at most
    as many connections as it has threads, keeps READ_CONNECTIONS_KEPT open after a burst (each kept
    costs ~0.7 MiB of a serving process), and 200 reads at once all get theirs."""
    import json
    done = subprocess.run([sys.executable, "-c", READ_POOL, str(tmp_path / "r.db")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["size"] == READ_CONNECTIONS_KEPT < out["threads"] == 10
    assert out["size"] + out["overflow"] == out["threads"]
    assert out["values"] == [20000] and out["kept"] == READ_CONNECTIONS_KEPT


@pytest.mark.postgres
def test_postgresql_pings_a_pooled_connection_only_after_it_was_idle(pg_url, monkeypatch):
    """A command is a dozen round trips: a connection given back a moment ago is used without the
    pool's `SELECT 1`; one idle for PING_AFTER_IDLE_S is checked first, as before."""
    from sqlalchemy import create_engine, text
    from layso.server.storage import database
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.3)
    engine = create_engine(database.normalise_url(pg_url), pool_size=1, max_overflow=0, pool_pre_ping=True)
    pings = []
    real = engine.dialect.do_ping
    engine.dialect.do_ping = lambda conn: pings.append(1) or real(conn)
    database._ping_when_idle(engine)
    try:
        for _ in range(3):  # back to back: no ping
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
        import time
        time.sleep(0.4)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert pings == [1]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_postgresql_point_read_is_one_statement_without_a_transaction(pg_url):
    """The device or account behind a request: on PostgreSQL the SELECT alone (autocommit), not
    BEGIN, SELECT, COMMIT; commands and other reads keep their transactions."""
    from layso.server.storage.database import Database
    db = Database(pg_url)
    try:
        assert db.point_read(lambda s: s.connection().connection.dbapi_connection.autocommit) is True
        with db.write() as s:
            assert s.connection().connection.dbapi_connection.autocommit is False
        with db.read() as s:
            assert s.connection().connection.dbapi_connection.autocommit is False
    finally:
        db.dispose()
