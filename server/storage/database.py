"""Database engines and sessions.

SQLite (embedded default): WAL, foreign keys on, synchronous=FULL so a printed ticket survives a
power cut, and every write transaction starts with BEGIN IMMEDIATE so numbering and call-next are
serialised. PostgreSQL: every command locks its centre row (see engine), which also makes `seq`
follow commit order; reads of snapshots run at REPEATABLE READ.

Under the production server (gevent, monkey-patched by `layso serve`) a waiting SQLite call would hold
the whole process: commits (fsync), BEGIN (another process's lock) and every read-engine statement
run in gevent's thread pool instead, so other connections go on being served. A read of a row or two
by key (`Database.point_read`: the device or account behind a request) stays on the event loop: it
never waits in WAL mode, and three hops to the thread pool cost more than it does. psycopg 3 (≥ 3.1.14)
and redis-py wait on gevent by themselves once the standard library is patched. The engine's
commands go through `Database.write_grouped`: on SQLite under gevent, those that queue while one
commits share the next transaction (group commit).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


def default_database_url() -> str:
    url = os.environ.get("LAYSO_DATABASE_URL")
    if url:
        return url
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "layso"
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'layso.db'}"


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def pg_pool_size() -> int:
    """PostgreSQL connections one server process may hold: LAYSO_DB_POOL, default 20."""
    try:
        return max(2, int(os.environ.get("LAYSO_DB_POOL", "20")))
    except ValueError:
        raise RuntimeError("LAYSO_DB_POOL must be a whole number of connections") from None


def insert_of(dialect_name: str):
    """The `insert` construct with ON CONFLICT of a dialect, imported when first asked for: a SQLite
    server never loads the PostgreSQL dialect (~2.4 MiB of resident memory)."""
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def gevent_patched() -> bool:
    """True in a process `layso serve` monkey-patched for gevent (never in tests' in-process apps)."""
    if "gevent.monkey" not in sys.modules:
        return False
    from gevent import monkey
    return monkey.is_module_patched("socket")


def _offload_to_threads(engine: Engine, statements: bool, wait_ms: int) -> None:
    """Run the SQLite driver's waits in gevent's thread pool (native threads), so that they block only
    the greenlet that asked: COMMIT (it waits for fsync) and ROLLBACK always; every statement too when
    `statements` (the read engine: statistics and exports may take a second). The write path's own
    statements stay on the event loop: they are short, hold the GIL anyway, and a thread hand-off per
    statement costs more than it saves (measured: docs/PERFORMANCE.md); its BEGIN too, unless it must
    wait (`_begin_on_the_loop`)."""
    import gevent
    import gevent.threadpool

    own: list = []  # the write engine: one thread of its own (writes are serialised anyway), so a
    # commit never queues behind statistics queries in the shared pool

    def run(fn, *args):
        if statements:
            return gevent.get_hub().threadpool.apply(fn, args)
        if not own:
            own.append(gevent.threadpool.ThreadPool(1))
        return own[0].apply(fn, args)

    dialect = engine.dialect
    if not statements:
        _savepoints_on_the_driver(dialect)
    dialect.do_commit = lambda dbapi_conn: run(dbapi_conn.commit)
    # the pool also rolls back every connection it is given back, committed or not: with no
    # transaction open that is nothing to do, and no reason for a hop
    dialect.do_rollback = lambda dbapi_conn: run(dbapi_conn.rollback) if dbapi_conn.in_transaction else None
    if not statements:
        _begin_on_the_loop(engine, run, wait_ms)
        return

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context):
        run(cursor.execute, statement, parameters)
        return True

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor, statement, context):
        run(cursor.execute, statement)
        return True

    @event.listens_for(engine, "do_executemany")
    def _executemany(cursor, statement, parameters, context):
        run(cursor.executemany, statement, parameters)
        return True


def _savepoints_on_the_driver(dialect) -> None:
    """The write engine's SAVEPOINT, RELEASE and ROLLBACK TO (a command of a group commit,
    `Database.write_grouped`) straight on the driver's connection: through `Connection.execute` each
    was a clause compiled, a cache key and an execution context, a tenth of an issue's CPU under load
    (docs/PERFORMANCE.md). None of them waits in WAL mode once BEGIN IMMEDIATE holds the write lock.
    The savepoint's name is SQLAlchemy's own (`sa_savepoint_N`), quoted as it would quote it."""
    fmt = dialect.identifier_preparer.format_savepoint

    def run(sql: str, connection, name: str) -> None:
        dbapi_conn = connection.connection.dbapi_connection
        try:
            dbapi_conn.execute(f"{sql} {fmt(None, name)}")
        except dialect.loaded_dbapi.Error as err:
            raise DBAPIError.instance(sql, None, err, dialect.loaded_dbapi.Error, dialect=dialect) from err

    dialect.do_savepoint = lambda connection, name: run("SAVEPOINT", connection, name)
    dialect.do_release_savepoint = lambda connection, name: run("RELEASE SAVEPOINT", connection, name)
    dialect.do_rollback_to_savepoint = lambda connection, name: run("ROLLBACK TO SAVEPOINT", connection, name)


def _begin_on_the_loop(engine: Engine, run, wait_ms: int) -> None:
    """The write engine's BEGIN IMMEDIATE, which waits only when another process holds the write lock
    (this process's writers queue on `Database._writer` first), runs on the event loop with a busy
    timeout of 0; only when SQLite answers "locked" does it wait (up to `wait_ms`) through `run`, in
    the thread pool: a hop saved on every command. Nothing else in a write transaction waits in WAL
    mode once BEGIN IMMEDIATE holds the write lock."""
    import sqlite3

    def begin_waiting(cursor, statement):
        cursor.execute(f"PRAGMA busy_timeout={wait_ms}")
        try:
            cursor.execute(statement)
        finally:
            cursor.execute("PRAGMA busy_timeout=0")

    @event.listens_for(engine, "connect")
    def _no_waiting_on_the_loop(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=0")  # after _sqlite_engine's own settings

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context):
        if not statement.startswith("BEGIN"):
            return None  # the driver runs it here
        try:
            cursor.execute(statement, parameters)  # at once, or "database is locked" at once
        except sqlite3.OperationalError as err:
            if not _busy(err):
                raise
            run(begin_waiting, cursor, statement)
        return True


READ_CONNECTIONS_KEPT = 3  # SQLite read connections a serving process keeps open between bursts (1 measured
# slower issuing: the notifier's and the health check's reads then open connections)
SQLITE_CACHE_KIB = 1024  # each connection's page cache (SQLite's default: 2 MiB); the OS caches the file


def _sqlite_engine(url: str, immediate: bool, offload: bool = True, busy_timeout_ms: int = 30000,
                   pool_size: int = 20) -> Engine:
    max_overflow = 40
    if offload and not immediate and gevent_patched():
        # the read engine's statements run in the hub's thread pool, so no more of them run at once
        # than it has threads: no more connections than that either, and only READ_CONNECTIONS_KEPT
        # of them stay open between bursts. Each one kept costs ~0.7 MiB of a serving process (20 of
        # them: 7 MiB of the lobby's 117); the rest open for a burst (260 screens connecting at once)
        # and close after it (docs/PERFORMANCE.md). A read beyond the threads waits for a connection
        # as it would wait for a thread
        import gevent
        threads = gevent.get_hub().threadpool.maxsize
        pool_size, max_overflow = READ_CONNECTIONS_KEPT, max(0, threads - READ_CONNECTIONS_KEPT)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
                           pool_size=pool_size, max_overflow=max_overflow)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    if offload and gevent_patched():
        _offload_to_threads(engine, statements=not immediate, wait_ms=busy_timeout_ms)
    return engine


def point_engine(url: str) -> Engine:
    """The engine of `Database.point_read` on SQLite: on the event loop, busy timeout 0."""
    return _sqlite_engine(url, immediate=False, offload=False, busy_timeout_ms=0, pool_size=2)


PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """PostgreSQL: check a pooled connection before use (a round trip, `SELECT 1`) only when it has
    been idle in the pool for PING_AFTER_IDLE_S or longer. A command is a dozen round trips, each of
    which waits for the event loop to come round; a connection given back a moment ago answered
    then. If the server restarted within that moment, the one request fails (503, and the pool
    drops every connection of the old server), as any request would that met the restart."""
    import weakref

    given_back: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
    ping = engine.dialect.do_ping

    def do_ping(dbapi_conn) -> bool:
        at = given_back.get(dbapi_conn)
        if at is not None and time.monotonic() - at < PING_AFTER_IDLE_S:
            return True
        return ping(dbapi_conn)

    engine.dialect.do_ping = do_ping

    @event.listens_for(engine, "checkin")
    def _given_back(dbapi_conn, _record):
        if dbapi_conn is not None:
            given_back[dbapi_conn] = time.monotonic()


def _busy(err: Exception) -> bool:
    """True when SQLite refused for a lock another connection holds (SQLAlchemy's error or the driver's)."""
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).lower()
    return "locked" in text or "busy" in text


class _Work:
    """A piece of `Database.write_grouped`: the work, and once `done`, its value or its error."""

    __slots__ = ("work", "value", "error", "done")

    def __init__(self, work):
        self.work = work
        self.value = None
        self.error: BaseException | None = None
        self.done = False


class Database:
    """A pair of engines over one database: writes (serialised) and reads (snapshots)."""

    def __init__(self, url: str):
        self.url = normalise_url(url)
        if is_sqlite(self.url):
            self.write_engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            # a fixed pool a process (greenlets wait for a free connection): N processes × LAYSO_DB_POOL must
            # stay under PostgreSQL's max_connections (100 by default), or a busy moment fails with
            # "too many clients" — measured with 2 processes of 20 + 40 (docs/PERFORMANCE.md)
            self.write_engine = create_engine(self.url, pool_size=pg_pool_size(), max_overflow=0, pool_timeout=30,
                                              pool_pre_ping=True)
            _ping_when_idle(self.write_engine)
            self.read_engine = self.write_engine.execution_options(isolation_level="REPEATABLE READ")
        # SQLite: writers of this process queue on a lock (fair, no busy-handler sleeps while the
        # database is free); other processes still meet the busy timeout.
        self._writer = threading.Lock() if self.sqlite else nullcontext()
        self._grouping = self.sqlite and gevent_patched()  # see write_grouped
        self._queued: list[_Work] = []
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        # point reads on the event loop (SQLite under gevent only: elsewhere `read` already is that);
        # busy timeout 0, so that the rare read SQLite makes wait (recovering a crashed process's
        # WAL index, another process's exclusive lock) goes to the thread pool instead of holding the loop
        self.point_engine = point_engine(self.url) if self.sqlite and gevent_patched() else None
        self._point = sessionmaker(self.point_engine, expire_on_commit=False) if self.point_engine is not None else None
        if not self.sqlite:  # PostgreSQL: the statement alone, no BEGIN and COMMIT around it (two round trips)
            self._point = sessionmaker(self.write_engine.execution_options(isolation_level="AUTOCOMMIT"),
                                       expire_on_commit=False)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One short write transaction: commit on success, roll back on any error."""
        with self._writer, self._write() as session:
            with session.begin():
                yield session

    def write_grouped(self, work):
        """`work(session)` in a write transaction, maybe together with other greenlets' work: group commit.

        On SQLite under gevent every writer of the process queues on one lock, and a transaction costs
        about as much CPU again as a small command: BEGIN, the session, and the commit's write and fsync
        (~0.3 ms of kernel time). So whoever gets the lock runs every piece of work that queued while
        the previous transaction committed, each in a SAVEPOINT of its own, and commits them at once;
        the others find their work done (its value, or its error, raised in their greenlet) when the
        lock comes to them. Each piece starts with nothing in the session's memory. A piece that fails is rolled back to its savepoint and fails alone; a
        commit that fails fails every piece of it; a greenlet killed while running others' work
        leaves them undone, and each then runs its own. Work alone in its transaction has no
        savepoint. Elsewhere (PostgreSQL, which commits concurrently; threads) this is `write`."""
        if not (self.sqlite and self._grouping):
            with self.write() as session:
                return work(session)
        mine = _Work(work)
        self._queued.append(mine)
        with self._writer:
            if not mine.done:
                batch = [mine] + [w for w in self._queued if w is not mine and not w.done]
                self._queued.clear()
                self._run_batch(batch)
        if mine.error is not None:
            raise mine.error
        return mine.value

    def _run_batch(self, batch: list["_Work"]) -> None:
        """Run `batch` in one transaction (the writer lock is held) and mark each piece done."""
        try:
            with self._write() as session:
                with session.begin():
                    if len(batch) == 1:
                        batch[0].value = batch[0].work(session)
                    else:
                        for w in batch:
                            try:
                                with session.begin_nested():  # flushed when it ends
                                    w.value = w.work(session)
                            except Exception as err:  # noqa: BLE001 - it fails alone, in its own greenlet
                                w.error = err
                            # the next piece starts from nothing in memory, as in a session of its own:
                            # no object another piece loaded, changed by a statement, or rolled back
                            session.expunge_all()
        except Exception as err:  # noqa: BLE001 - nothing of the batch committed
            for w in batch:
                w.error, w.value = err, None
        for w in batch:
            w.done = True

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            with session.begin():
                yield session

    def point_read(self, fn):
        """`fn(session)` for a read of a few rows by key (the device or account behind a request).
        Under gevent on SQLite it runs on the event loop: the lobby's counter commands each re-check
        their device, and through `read` that was three thread-pool hops (BEGIN, the statement, COMMIT),
        a third of a busy command's time (docs/PERFORMANCE.md). When SQLite would make it wait, it runs
        through `read` instead; `fn` may then run twice, so it must only read."""
        if self._point is not None:
            try:
                with self._point() as session:
                    with session.begin():
                        return fn(session)
            except OperationalError as err:
                if not _busy(err):
                    raise
        with self.read() as session:
            return fn(session)

    def dispose(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()
        if self.point_engine is not None:
            self.point_engine.dispose()
