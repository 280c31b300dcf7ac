"""Where a command's time goes under `layso serve`: the SQLite writer lock's wait and hold, the commit,
the counter command's duration, and (per write) the writing greenlet's own CPU against all the CPU
the process spent while the lock was held. Not part of layso: a `sitecustomize` for a bench's server.

    PYTHONPATH=$PWD/bench/writer_diag LAYSO_DIAG=1 layso bench --scenario lobby --seconds 20 --json > b.json
    python bench/writer_diag/report.py /tmp/layso-diag-<server pid>.jsonl

Every 5 s the server appends its new records to /tmp/layso-diag-<pid>.jsonl (used in docs/PERFORMANCE.md,
"The SQLite writer under the lobby"). The path must be absolute: the bench starts its server elsewhere."""
import importlib.abc
import importlib.util
import json
import os
import sys
import time

ACTIVE = os.environ.get("LAYSO_DIAG") == "1" and "serve" in sys.argv
REC = {"commit": [], "cmd": [], "writes": [], "phases": []}  # writes: (time, wait, hold, callers, own CPU, process CPU)
# phases: a counter command's (before the writer, wait, hold, after the write) in seconds
_CMD = {}  # greenlet -> [start, wait, hold, end of the write]


def _dump():
    """Every 5 s, append what is new as JSON lines (a whole dump kept the loop 27 ms by the end)."""
    import gevent
    done = {}
    while True:
        gevent.sleep(5)
        with open(f"/tmp/layso-diag-{os.getpid()}.jsonl", "a") as f:
            for key, items in list(REC.items()):
                new = items[done.get(key, 0):]
                done[key] = done.get(key, 0) + len(new)
                if new:
                    f.write(json.dumps({key: new}) + "\n")


_started = []


_OWN = {}  # greenlet -> CPU seconds it has run (switch accounting)
_LAST = [None, 0.0]


def _where(g) -> str:
    f, names = getattr(g, "gr_frame", None), []
    while f is not None and len(names) < 6:
        names.append(f"{f.f_code.co_name}:{f.f_lineno}")
        f = f.f_back
    return "/".join(names)


def _trace(event, args):
    if event in ("switch", "throw"):
        origin, target = args
        now = time.thread_time()
        if _LAST[0] is not None:
            ran = now - _LAST[1]
            _OWN[origin] = _OWN.get(origin, 0.0) + ran
            if ran > 0.01:  # a greenlet that kept the loop 10 ms or more without a switch: where it stopped
                REC.setdefault("long_runs", []).append((time.time(), ran, _where(origin)))
        _LAST[0], _LAST[1] = target, now


def _own_cpu():
    import greenlet
    g = greenlet.getcurrent()
    return _OWN.get(g, 0.0) + (time.thread_time() - _LAST[1] if _LAST[0] is g or _LAST[0] is None else 0.0)


def _start():
    if not _started:
        _started.append(1)
        import gevent
        import greenlet
        _LAST[0], _LAST[1] = greenlet.getcurrent(), time.thread_time()
        greenlet.settrace(_trace)
        gevent.spawn(_dump)


def _patch_database(mod):
    from contextlib import contextmanager
    Database = mod.Database

    @contextmanager
    def write(self):
        _start()
        label = _label()
        t0 = time.perf_counter()
        with self._writer:
            t1 = time.perf_counter()
            own0, thr0 = _own_cpu(), time.thread_time()
            try:
                with self._write() as session:
                    with session.begin():
                        yield session
            finally:
                t2 = time.perf_counter()
                own, thr = _own_cpu() - own0, time.thread_time() - thr0
                REC["writes"].append((time.time(), t1 - t0, t2 - t1, label, own, thr))
                import greenlet
                phase = _CMD.get(greenlet.getcurrent())
                if phase is not None and len(phase) == 1:
                    phase += [t0 - phase[0], t1 - t0, t2 - t1, t2]
    Database.write = write

    # the engine's commands go through `write_grouped` (group commit on SQLite under gevent): the
    # wait is until this greenlet holds the writer (its work may have been done meanwhile, in the
    # batch of the greenlet ahead), the hold from then until it returns (its batch, and the commit)
    init, grouped = Database.__init__, Database.write_grouped

    def __init__(self, *a, **k):
        init(self, *a, **k)
        self._writer = _TimedLock(self._writer)

    def write_grouped(self, work):
        _start()
        import greenlet
        g = greenlet.getcurrent()
        _ACQUIRED.pop(g, None)
        t0 = time.perf_counter()
        own0, thr0 = _own_cpu(), time.thread_time()
        try:
            return grouped(self, work)
        finally:
            t2 = time.perf_counter()
            t1 = _ACQUIRED.pop(g, t2)
            own, thr = _own_cpu() - own0, time.thread_time() - thr0
            REC["writes"].append((time.time(), t1 - t0, t2 - t1, _label(), own, thr))
            phase = _CMD.get(g)
            if phase is not None and len(phase) == 1:
                phase += [t0 - phase[0], t1 - t0, t2 - t1, t2]
    Database.__init__, Database.write_grouped = __init__, write_grouped

    orig = mod._offload_to_threads

    def offload(engine, statements, **kw):
        orig(engine, statements, **kw)
        if statements:
            return
        d = engine.dialect
        inner = d.do_commit

        def do_commit(c):
            t = time.perf_counter()
            try:
                return inner(c)
            finally:
                REC["commit"].append(time.perf_counter() - t)
        d.do_commit = do_commit
    mod._offload_to_threads = offload


_ACQUIRED = {}  # greenlet -> when it got the writer lock (write_grouped)


class _TimedLock:
    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        import greenlet
        self._lock.__enter__()
        _ACQUIRED[greenlet.getcurrent()] = time.perf_counter()
        return self

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)


def _label() -> str:
    """The four functions that called the write (`_label` ← the patched write ← its caller's frames)."""
    f = sys._getframe(3)
    names = []
    while f is not None and len(names) < 4:
        names.append(f.f_code.co_name)
        f = f.f_back
    return "/".join(names)


def _patch_namespace(mod):
    cls = mod.RealtimeNamespace
    orig = cls._command

    def _command(action, data):  # a counter command from a panel (Socket.IO)
        import greenlet
        g = greenlet.getcurrent()
        t = time.perf_counter()
        _CMD[g] = [t]
        try:
            return orig(action, data)
        finally:
            end = time.perf_counter()
            REC["cmd"].append(end - t)
            phase = _CMD.pop(g, None)
            if phase is not None and len(phase) == 5:
                REC["phases"].append((phase[1], phase[2], phase[3], end - phase[4]))
    cls._command = staticmethod(_command)


PATCHES = {"layso.server.storage.database": _patch_database, "layso.server.realtime.namespace": _patch_namespace}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        loader = spec.loader
        orig_exec = loader.exec_module

        def exec_module(module):
            orig_exec(module)
            PATCHES[name](module)
        loader.exec_module = exec_module
        return spec


if ACTIVE:
    sys.meta_path.insert(0, _Finder())
