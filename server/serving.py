"""The production server behind `layso serve`: gevent's WSGI server, one or several processes.

One process (`--workers 1`, the default) is a gevent server: every HTTP request and every Socket.IO
connection is a greenlet, the standard library is monkey-patched before the application is imported
(`patch()`, called by the CLI first thing, also keeps python-socketio's client libraries out of the
process), Flask-SocketIO runs in `async_mode="gevent"` with the WebSocket of `realtime/green.py`
(one greenlet a connection), accepted sockets get TCP_NODELAY (a call's second small frame must
not wait for the first one's ACK), SQLite runs in gevent's thread pool (see `storage.database`),
and what the process made while starting is frozen out of the garbage collector's walks.
Chosen by measurement over werkzeug's threaded loop and gunicorn's gevent worker:
docs/PERFORMANCE.md.

Several processes (`--workers N`) need PostgreSQL and `LAYSO_MESSAGE_QUEUE` (events go through
Redis to every process's clients). The parent binds the port once, starts N worker processes that
share the listening socket (the kernel spreads connections among them), restarts a worker that
exits or stops sending heartbeats, and is the one that talks to systemd. Devices and web pages use
the WebSocket transport only, so a connection lives in one process from start to end and no sticky
routing is needed on one host.

systemd: READY=1 once connections are accepted, then WATCHDOG=1 while the server is healthy (its
event loop turns and the database answers), see `layso.systemd`.
"""
from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import time

log = logging.getLogger("layso.serving")

HEARTBEAT_S = 2.0  # a worker tells its parent it is healthy this often
TRIM_EVERY = 5  # heartbeats between two `release_free_memory` (10 s; ~1 ms each)
STALE_AFTER_S = 30.0  # a worker silent for this long is killed and started again
LISTEN_BACKLOG = 1024


def patch() -> None:
    """Monkey-patch the standard library for gevent; must run before Flask, SQLAlchemy, socketio."""
    import gevent
    from gevent import monkey
    # no spawning tree on every greenlet (a chain of frames each; nothing here reads it)
    gevent.config.track_greenlet_tree = False
    monkey.patch_all()
    import_socketio_lean(bool(os.environ.get("LAYSO_MESSAGE_QUEUE")))


# What python-socketio's package imports for its clients and message queues, which a server process
# never uses: the HTTP client `requests` (with urllib3, idna, charset-normalizer), websocket-client, and
# redis unless events go through Redis: 10.6 MiB of a serving process (docs/PERFORMANCE.md).
CLIENT_ONLY_MODULES = ("requests", "websocket")
QUEUE_ONLY_MODULES = ("redis", "valkey")


def import_socketio_lean(message_queue: bool) -> None:
    """Import python-socketio and python-engineio with their client-only dependencies hidden, so their
    modules record them as absent (the server never calls them); afterwards the names import normally
    again (the notifier imports `requests` on its first message)."""
    hidden = [name for name in CLIENT_ONLY_MODULES + (() if message_queue else QUEUE_ONLY_MODULES)
              if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # `import name` raises ImportError, which these packages expect
    try:
        import engineio  # noqa: F401
        import socketio  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; RuntimeError with a readable reason when the address cannot be had (the
    port is taken, or below 1024 without the right)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as err:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


def check_health(db) -> bool:
    """The server is healthy when its database answers a read."""
    from sqlalchemy import text
    try:
        with db.read() as s:
            s.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure is "not healthy"
        log.warning("health check: the database does not answer", exc_info=True)
        return False


# objects allocated (less those freed) between two collections of the youngest generation; Python's
# default is 700. A command or a request lives across several waits of the event loop while other
# greenlets allocate, and at 700 what lived a tenth of a second was pushed through both young
# generations into the oldest, whose growth then set off a full collection (70–125 ms with the loop
# stopped) about three times a minute in each process of the province bench; at 3,000 there were
# 0–1 a minute, at 20,000 none. The lobby's memory grows with it (+1 MiB at 3,000, +3–5 at
# 5,000–20,000). End to end, the host's own variation hid the effect (docs/PERFORMANCE.md)
YOUNG_OBJECTS = 3_000


def freeze_startup_objects() -> None:
    """Move everything made while starting (modules, the app, SQLAlchemy's mappers and statements:
    ~120,000 objects that live as long as the process) out of the garbage collector's sight. Left in,
    each full collection walked them all — 70–170 ms during which no connection is served (measured
    under the issue bench: docs/PERFORMANCE.md); frozen, a full collection walks only what the
    requests made since. Then the youngest generation is made larger (YOUNG_OBJECTS)."""
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, 10, 10)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; ~1 ms). After a burst
    (a connection storm, a busy minute) the heap keeps its high-water mark otherwise: 4–6 MiB of a
    lobby's 120 (docs/PERFORMANCE.md)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc():
    """glibc, loaded once; None where there is none (musl, another system): nothing is trimmed."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


REQUEST_BUFFER = 2048  # bytes a connection's request reader holds (the default 8 KiB stays with every open
# WebSocket; a device's or a browser's request head fits in 2 KiB, a larger body is read in more steps)


def make_server(app, listener: socket.socket):
    """gevent's WSGI server on `listener`, TCP_NODELAY on every accepted connection, no access log."""
    from gevent import pywsgi

    from layso.server.request_head import HeaderLines

    class Handler(pywsgi.WSGIHandler):
        MessageClass = staticmethod(HeaderLines)  # the head's headers without the email parser

        def __init__(self, sock, address, server, rfile=None):
            if rfile is None:
                rfile = sock.makefile("rb", REQUEST_BUFFER)
            super().__init__(sock, address, server, rfile)

        def log_request(self):  # one line per request would drown journald; errors still log
            pass

    class Server(pywsgi.WSGIServer):
        def handle(self, sock, address):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            super().handle(sock, address)

    return Server(listener, app, handler_class=Handler, log=None,
                  error_log=logging.getLogger("layso.serving.http"))


def serve_gevent(app, listener: socket.socket, announce: str | None, heartbeat=None) -> None:
    """Serve on `listener` until SIGTERM/SIGINT; print `announce` once connections are accepted;
    `heartbeat()` is called every HEARTBEAT_S seconds while the server is healthy."""
    import gevent
    import gevent.event

    from layso import systemd
    freeze_startup_objects()
    server = make_server(app, listener)
    server.start()
    if announce:
        print(announce, flush=True)
    systemd.notify("READY=1")
    db = app.extensions["layso"].db
    watchdog = systemd.Watchdog()

    def health_loop():
        beats = 0
        while True:
            beats += 1
            if beats % TRIM_EVERY == 0:
                release_free_memory()
            if check_health(db):
                watchdog.tick()
                if heartbeat is not None:
                    heartbeat()
            gevent.sleep(HEARTBEAT_S)

    loop = gevent.spawn(health_loop)
    stopping = gevent.event.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stopping.set)
    try:
        stopping.wait()
    finally:
        systemd.notify("STOPPING=1")
        exit_after(STOP_DEADLINE_S)
        loop.kill(timeout=2)
        server.stop(timeout=5)


STOP_DEADLINE_S = 15.0  # from SIGTERM to gone, whatever a greenlet or the interpreter's shutdown waits for


def exit_after(seconds: float) -> None:
    """A native thread ends the process `seconds` from now if it has not ended by itself: a stopping
    server never stays (seen: a worker orphaned by its parent, SIGTERMed, still listening minutes later,
    its event loop idle, the main greenlet never back from its shutdown)."""
    from gevent import monkey

    native_sleep = monkey.get_original("time", "sleep")

    def deadline():
        native_sleep(seconds)
        log.error("still stopping %.0f s after the signal: exiting now", seconds)
        os._exit(1)

    # the bare _thread call: threading's Thread would wait for its start on a (patched) gevent Event
    monkey.get_original("_thread", "start_new_thread")(deadline, ())


# ---- several processes --------------------------------------------------------------------------
class Workers:
    """N `layso serve` worker processes on one listening socket, restarted when they die or hang."""

    def __init__(self, n: int, listener: socket.socket, argv: list[str], env: dict | None = None):
        self.n = n
        self.listener = listener
        self.argv = argv
        self.env = {**(env or os.environ)}
        self.env.pop("NOTIFY_SOCKET", None)  # only the parent talks to systemd
        self.env.pop("WATCHDOG_USEC", None)
        self.procs: list[subprocess.Popen | None] = [None] * n
        self.seen: list[float] = [0.0] * n
        self.starts: list[float] = [0.0] * n

    def _start(self, i: int) -> None:
        fd = self.listener.fileno()
        cmd = [*self.argv, "--worker-fd", str(fd)]
        self.procs[i] = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=self.env, pass_fds=(fd,))
        os.set_blocking(self.procs[i].stdout.fileno(), False)
        self.seen[i] = self.starts[i] = time.monotonic()

    def start(self, timeout: float = 120.0) -> None:
        """Start every worker and wait until each one accepts connections."""
        for i in range(self.n):
            self._start(i)
        ready = [False] * self.n
        deadline = time.monotonic() + timeout
        while not all(ready):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start in time")
            for i, p in enumerate(self.procs):
                if p.poll() is not None:
                    raise RuntimeError(f"worker {i + 1} exited with status {p.returncode} while starting")
                if b"ready" in self._read(i):
                    ready[i] = True
            time.sleep(0.05)

    def _read(self, i: int) -> bytes:
        try:
            data = self.procs[i].stdout.read() or b""
        except (BlockingIOError, ValueError):
            return b""
        if data:
            self.seen[i] = time.monotonic()
        return data

    def supervise_once(self) -> bool:
        """Restart dead or silent workers; True when every worker has been heard from recently."""
        healthy = True
        now = time.monotonic()
        for i, p in enumerate(self.procs):
            self._read(i)
            if p.poll() is not None:
                log.warning("worker %d (pid %d) exited with status %s: starting it again", i + 1, p.pid,
                            p.returncode)
                time.sleep(min(5.0, max(0.0, 1.0 - (now - self.starts[i]))))  # no tight restart loop
                self._start(i)
                healthy = False
            elif now - self.seen[i] > STALE_AFTER_S:
                log.warning("worker %d (pid %d) silent for %.0f s: killing it", i + 1, p.pid, now - self.seen[i])
                p.kill()
                healthy = False
            elif now - self.seen[i] > 3 * HEARTBEAT_S:
                healthy = False
        return healthy

    def stop(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def run_workers(n: int, host: str, port: int, worker_argv: list[str]) -> None:
    """The parent of N workers: bind, start them, announce, supervise until SIGTERM/SIGINT."""
    from layso import systemd
    listener = bind(host, port)
    workers = Workers(n, listener, worker_argv)
    stop = {"now": False}

    def on_signal(_sig, _frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        workers.start()
        print(f"layso: serving on http://{host}:{listener.getsockname()[1]}", flush=True)  # the contract's line, exactly
        systemd.notify("READY=1")
        watchdog = systemd.Watchdog()
        while not stop["now"]:
            if workers.supervise_once():
                watchdog.tick()
            time.sleep(0.5)
    finally:
        systemd.notify("STOPPING=1")
        workers.stop()
        listener.close()


def die_with_parent() -> None:
    """A worker asks Linux for SIGTERM when its parent dies (killed, crashed): no worker is left
    serving, unsupervised, with its database connections (seen after a parent was SIGKILLed)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux; and a parent gone before this call: the heartbeat's broken pipe stops the worker


def worker_heartbeat() -> None:
    """A worker's line to its parent: I am alive and healthy."""
    try:
        os.write(sys.stdout.fileno(), b".")
    except OSError:  # the parent is gone: stop serving
        os.kill(os.getpid(), signal.SIGTERM)
