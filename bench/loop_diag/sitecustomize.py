"""Which greenlets keep a `layso serve` process's event loop, and for how long: every run of a greenlet
(from the switch to it to the switch away) of LAYSO_LOOP_DIAG_MS (default 5) or more is recorded with
its wall and CPU time and where it ran (the innermost frames of layso, Socket.IO and Engine.IO, and the
greenlet's outermost frame); so is every garbage collection of 1 ms or more, and every issue request
(`POST /api/v1/tickets`: its wall time, its own CPU, each statement's wall time, the centre it
locked). `LAYSO_LOOP_DIAG_GARBAGE=1` also writes, after 40 s, what 10 s of load left to the collector
in cycles, by type (/tmp/layso-garbage-<pid>.txt). Not part of layso: a `sitecustomize` for a
bench's server (docs/PERFORMANCE.md, "Where a slow request's time goes").

    PYTHONPATH=$PWD/bench/loop_diag LAYSO_LOOP_DIAG=1 layso bench --scenario province ...
    python bench/loop_diag/report.py /tmp/layso-loop-*.jsonl

Each serving process starts recording at its first request and appends its records every 5 s to
/tmp/layso-loop-<pid>.jsonl."""
import collections
import json
import os
import sys
import time
import weakref

ACTIVE = os.environ.get("LAYSO_LOOP_DIAG") == "1" and "serve" in sys.argv
LIMIT = float(os.environ.get("LAYSO_LOOP_DIAG_MS", "5")) / 1e3
RUNS = []  # (time, wall, cpu, where)
ISSUES = []  # an issue request: {at, wall, cpu, centre, statements: [(first words, ms, ms from start, locks)]}
_REQ = {}  # greenlet -> its issue request under way (_Request)
_LAST = [None, 0.0, 0.0]
_STARTED = set()
_OWN = weakref.WeakKeyDictionary()  # greenlet -> its CPU seconds so far
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
KEEP = ("layso", "socketio", "engineio", "sqlalchemy", "psycopg", "redis")


def _where(g) -> str:
    f = getattr(g, "gr_frame", None)
    names, ours, outer = [], [], None
    while f is not None:
        fn = f.f_code.co_filename
        here = f"{os.path.basename(fn)}:{f.f_code.co_name}:{f.f_lineno}"
        if fn.startswith(ROOT) and "site-packages" not in fn:
            if len(ours) < 4:
                ours.append(here)
        elif not names and any(k in fn for k in KEEP):
            names.append(here)
        outer = f
        f = f.f_back
    names += ours
    if outer is not None:
        names.append("<" + outer.f_code.co_name + ">")
    return " / ".join(names)


def _trace(event, args):
    if event in ("switch", "throw"):
        origin, target = args
        wall, cpu = time.perf_counter(), time.thread_time()
        if _LAST[0] is not None:
            ran = wall - _LAST[1]
            _OWN[origin] = _OWN.get(origin, 0.0) + (cpu - _LAST[2])
            if ran >= LIMIT and getattr(origin, "parent", None) is not None:  # not the hub itself
                RUNS.append((time.time(), ran, cpu - _LAST[2], _where(origin)))
            elif ran >= LIMIT:
                RUNS.append((time.time(), ran, cpu - _LAST[2], "<hub>"))
        _LAST[0], _LAST[1], _LAST[2] = target, wall, cpu


def _dump():
    import gevent
    done = [0, 0, 0]
    while True:
        gevent.sleep(5)
        new, issues, gcs = RUNS[done[0]:], ISSUES[done[1]:], GCS[done[2]:]
        done[0] += len(new)
        done[1] += len(issues)
        done[2] += len(gcs)
        if new or issues or gcs:
            with open(f"/tmp/layso-loop-{os.getpid()}.jsonl", "a") as f:
                f.write(json.dumps({"runs": new, "issues": issues, "gcs": gcs}) + "\n")


class _Request:
    """An issue request under way: when it started, its greenlet's CPU then, its statements."""

    def __init__(self, cpu0: float):
        self.start = time.perf_counter()
        self.cpu0 = cpu0
        self.statement_at = 0.0
        self.centre = None
        self.statements = []


def _timed(wsgi_app):
    import greenlet

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/api/v1/tickets":
            return wsgi_app(environ, start_response)
        g = greenlet.getcurrent()
        rec = _REQ[g] = _Request(_OWN.get(g, 0.0))
        try:
            return wsgi_app(environ, start_response)
        finally:
            _REQ.pop(g, None)
            ISSUES.append({"at": time.time(), "wall": time.perf_counter() - rec.start,
                           "cpu": _OWN.get(g, 0.0) - rec.cpu0, "centre": rec.centre, "statements": rec.statements})
    return app


def _listen_statements():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    import greenlet

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn, cursor, statement, params, context, executemany):
        rec = _REQ.get(greenlet.getcurrent())
        if rec is not None:
            rec.statement_at = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn, cursor, statement, params, context, executemany):
        rec = _REQ.get(greenlet.getcurrent())
        if rec is not None:
            locks = "FOR UPDATE" in statement
            if locks and isinstance(params, dict):
                rec.centre = params.get("cid")
            rec.statements.append((" ".join(statement.split()[:4])[:40],
                                   round((time.perf_counter() - rec.statement_at) * 1e3, 2),
                                   round((rec.statement_at - rec.start) * 1e3, 1), locks))


_TYPES_DONE = []  # the types of the oldest generation are written once
GCS = []  # (time, generation, ms) of collections of 1 ms or more
_GC = [0.0]


def _on_gc(phase, info):
    if phase == "start":
        _GC[0] = time.perf_counter()
    else:
        took = time.perf_counter() - _GC[0]
        if took >= 0.001:
            GCS.append((time.time(), info["generation"], round(took * 1e3, 2), info.get("collected")))
        if info["generation"] == 2 and not _TYPES_DONE:
            _TYPES_DONE.append(1)
            import gc
            objs = gc.get_objects(2)
            top = collections.Counter(type(o).__name__ for o in objs).most_common(25)
            del objs
            with open(f"/tmp/layso-gc-{os.getpid()}.txt", "w") as f:
                f.write(f"gen2 objects after a full collection at {time.time():.0f}, frozen {gc.get_freeze_count()}\n")
                f.write("\n".join(f"{n:8} {t}" for t, n in top))


def _start():
    if os.getpid() in _STARTED:
        return
    _STARTED.add(os.getpid())
    import gc
    gc.callbacks.append(_on_gc)
    import gevent
    import greenlet
    _LAST[0], _LAST[1], _LAST[2] = greenlet.getcurrent(), time.perf_counter(), time.thread_time()
    greenlet.settrace(_trace)
    gevent.spawn(_dump)
    if os.environ.get("LAYSO_LOOP_DIAG_GARBAGE"):
        gevent.spawn(_garbage)


def _garbage():
    """After 40 s, what 10 s of requests leave to the collector (cycles), by type."""
    import gc
    import gevent
    gevent.sleep(40)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    gevent.sleep(10)
    gc.collect()
    top = collections.Counter(type(o).__name__ for o in gc.garbage).most_common(40)
    n = len(gc.garbage)
    gc.set_debug(0)
    gc.garbage.clear()
    with open(f"/tmp/layso-garbage-{os.getpid()}.txt", "w") as f:
        f.write(f"{n} objects in cycles left by 10 s\n" + "\n".join(f"{c:8} {t}" for t, c in top))


if ACTIVE:
    import importlib.abc
    import importlib.util

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "layso.server.app":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            orig_exec = spec.loader.exec_module

            def exec_module(module):
                orig_exec(module)
                create = module.create_app

                def create_app(*a, **k):
                    app = create(*a, **k)
                    app.before_request(_start)
                    app.wsgi_app = _timed(app.wsgi_app)
                    _listen_statements()
                    return app
                module.create_app = create_app
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())
