"""The client side of `layso bench`: processes that play kiosks, lobby displays and counter panels.

Each role runs in its own process (started by `layso.bench.run` with the spawn method, so it
inherits no database connection; it needs only the bench's client modules and the standard library) and
talks to its parent through a pipe:

    child → {"ready": connected, "failed": n}      once its connections are up
    parent → {"go": start_at, "stop": stop_at}      epoch seconds of the load window
    (displays only) parent → {"final_seq": s}       the centre's last event seq after the load
    child → {...results..., "cpu_s": ..., "window_s": ...}

Kiosks use keep-alive HTTP (http.client in threads); displays and counters share one asyncio loop
per process over raw WebSockets (`bench_sio.SioClient`). Times that cross processes are
`time.time()` (one machine, one clock).
"""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import re
import threading
import time
import uuid
from multiprocessing.connection import Connection

from layso.bench.sio import SioClient, SocketIOError

CONNECT_CONCURRENCY = 8  # connections opened at once per process (each costs the server a `state`)
EVENT_HEAD = re.compile(r'\["([a-z.]+)",\{"seq":(\d+)')


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


class FieldPlan:
    """Which field (and priority) the next ticket is for: a fixed list, or endlessly at random."""

    def __init__(self, fields: list[str], priority_share: float, fixed: list[str] | None = None,
                 seed: int = 0):
        self.fields = fields
        self.priority_share = priority_share
        self._fixed = list(fixed) if fixed is not None else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def next(self) -> tuple[str, str | None] | None:
        with self._lock:
            if self._fixed is not None:
                if not self._fixed:
                    return None
                code = self._fixed.pop()
            else:
                code = self._rng.choice(self.fields)
            priority = "elderly" if self._rng.random() < self.priority_share else None
        return code, priority


# ---- kiosks: keep-alive HTTP ---------------------------------------------------------------------
class Kiosk:
    """One kiosk issuing tickets over one keep-alive HTTP connection, recording what it got."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "Accept-Language": "vi", "Connection": "keep-alive"}
        self.conn: http.client.HTTPConnection | None = None
        self.latencies: list[float] = []  # seconds, successful issues only
        self.tickets: list[tuple[int, str, str, str]] = []  # (id, field, day, number)
        self.errors: dict[str, int] = {}

    def issue(self, field: str, priority: str | None, scheduled_at: float | None = None) -> None:
        """One ticket; its latency runs from `scheduled_at` (epoch s, open loop: time spent waiting for
        this kiosk's previous answer counts) or else from sending."""
        body = {"field": field, "request_id": uuid.uuid4().hex}
        if priority:
            body["priority"] = priority
        data = json.dumps(body).encode()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            t0 = time.perf_counter()
            self.conn.request("POST", "/api/v1/tickets", data, self.headers)
            resp = self.conn.getresponse()
            payload = resp.read()
            elapsed = time.perf_counter() - t0 if scheduled_at is None else time.time() - scheduled_at
        except (OSError, http.client.HTTPException) as err:
            self._error(type(err).__name__)
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return
        if resp.status in (200, 201):
            t = json.loads(payload)
            self.latencies.append(elapsed)
            self.tickets.append((t["id"], t["field"], t["day"], t["number"]))
        else:
            self._error(str(resp.status))

    def _error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1

    def run(self, plan: FieldPlan, stop_at: float, interval: float | None, start_at: float,
            open_loop: bool = False) -> None:
        """Issue until `stop_at` (or the plan runs out): flat out, or one ticket every `interval` s
        (open loop: on a fixed schedule, each latency counted from its scheduled moment)."""
        next_at = start_at + (random.uniform(0, interval) if interval else 0.0)
        while True:
            scheduled = None
            if interval:
                sleep_until(next_at)
                scheduled = next_at if open_loop else None
                next_at += interval if open_loop else interval * random.uniform(0.8, 1.2)
            if time.time() >= stop_at:
                break
            choice = plan.next()
            if choice is None:
                break
            self.issue(*choice, scheduled_at=scheduled)
        if self.conn is not None:
            self.conn.close()


def kiosk_role(spec: dict, pipe: Connection) -> None:
    """spec: host, port, tokens, fields, priority_share, rate (tickets/s for all, None = flat out),
    open_loop (rate on a fixed schedule, latency from the schedule), fixed (field codes to issue once, or None)."""
    kiosks = [Kiosk(spec["host"], spec["port"], token) for token in spec["tokens"]]
    plan = FieldPlan(spec["fields"], spec["priority_share"], spec.get("fixed"), seed=spec.get("seed", 0))
    interval = len(kiosks) / spec["rate"] if spec.get("rate") else None
    pipe.send({"ready": len(kiosks), "failed": 0})
    go = pipe.recv()
    start_at, stop_at = go["go"], go["stop"]
    threads = [threading.Thread(target=k.run, args=(plan, stop_at, interval, start_at, bool(spec.get("open_loop"))),
                                daemon=True)
               for k in kiosks]
    sleep_until(start_at)
    cpu0, t0 = cpu_seconds(), time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu1, t1 = cpu_seconds(), time.time()
    errors: dict[str, int] = {}
    for k in kiosks:
        for key, n in k.errors.items():
            errors[key] = errors.get(key, 0) + n
    pipe.send({"latencies": [x for k in kiosks for x in k.latencies],
               "tickets": [t for k in kiosks for t in k.tickets], "errors": errors,
               "cpu_s": cpu1 - cpu0, "window_s": t1 - t0, "started": t0, "ended": t1})


# ---- displays: every event, timestamped ----------------------------------------------------------
class Display:
    """A lobby display: tracks the `seq` of every event and timestamps each `ticket.called`."""

    def __init__(self):
        self.state_seq: int | None = None
        self.resynced_upto = 0
        self.seqs: list[int] = []
        self.recording = False
        self.calls: list[tuple[int, float, float, float | None]] = []  # (ticket id, arrived, read, committed_at)
        self.called_seq: dict[int, int] = {}
        self.called_twice = 0

    def on_event(self, text: str, arrived: float, read: float) -> None:
        """One Socket.IO event (`text` after the packet type) that reached the screen's socket at
        `arrived` and was read by the bench's client at `read`."""
        m = EVENT_HEAD.match(text)
        if m is None:
            return
        name, seq = m.group(1), int(m.group(2))
        if name == "state":
            if self.state_seq is None:
                self.state_seq = seq
            else:  # a second snapshot (an event fell between the first one and the room join) covers
                self.resynced_upto = max(self.resynced_upto, seq)  # every event up to its seq
            return
        self.seqs.append(seq)
        if name == "ticket.called":
            payload = json.loads(text)[1]
            ticket_id = payload["ticket"]["id"]
            first = self.called_seq.setdefault(ticket_id, seq)
            if first != seq:
                self.called_twice += 1
            if self.recording:
                self.calls.append((ticket_id, arrived, read, payload.get("committed_at")))

    def coverage(self, final_seq: int) -> tuple[int, int]:
        """(events missing, events received twice) between the `state` snapshot and `final_seq`."""
        base = self.state_seq or 0
        seen = [s for s in self.seqs if base < s <= final_seq]
        unique = set(seen)
        covered = unique | set(range(base + 1, min(self.resynced_upto, final_seq) + 1))
        return (final_seq - base) - len(covered), len(seen) - len(unique)


async def _connect_all(host: str, port: int, tokens: list[str],
                       handlers: list | None = None) -> tuple[dict[int, SioClient], int]:
    """Connect one client per token, a few at a time; returns {index: client} and how many failed."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: dict[int, SioClient] = {}
    failed = 0

    async def one(i: int, token: str) -> None:
        nonlocal failed
        client = SioClient(host, port, {"token": token}, handlers[i] if handlers else None)
        async with gate:
            try:
                await client.connect(timeout=120)
                clients[i] = client
            except (OSError, asyncio.TimeoutError, SocketIOError):
                failed += 1

    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    return clients, failed


async def _recv(pipe: Connection):
    return await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


async def _displays(spec: dict, pipe: Connection) -> None:
    everyone = [Display() for _ in spec["tokens"]]
    clients, failed = await _connect_all(spec["host"], spec["port"], spec["tokens"], [d.on_event for d in everyone])
    displays = [everyone[i] for i in clients]
    pipe.send({"ready": len(clients), "failed": failed})
    go = await _recv(pipe)
    start_at, stop_at = go["go"], go["stop"]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    for d in displays:
        d.recording = True
    cpu0, t0 = cpu_seconds(), time.time()
    await asyncio.sleep(max(0.0, stop_at - time.time()))
    cpu1, t1 = cpu_seconds(), time.time()
    final_seq = (await _recv(pipe))["final_seq"]
    deadline = time.time() + spec.get("grace_s", 5.0)
    while time.time() < deadline and any(max(d.seqs, default=d.state_seq or 0) < final_seq for d in displays):
        await asyncio.sleep(0.1)
    missing = duplicated = 0
    for d in displays:
        d.recording = False
        m, dup = d.coverage(final_seq)
        missing += m
        duplicated += dup
    lost = sum(1 for c in clients.values() if c.lost)
    pipe.send({"calls": [c for d in displays for c in d.calls],
               "missing": missing, "duplicated": duplicated, "disconnected": lost,
               "called_twice": sum(d.called_twice for d in displays),
               "cpu_s": cpu1 - cpu0, "window_s": t1 - t0})
    for c in clients.values():
        c.close()


def display_role(spec: dict, pipe: Connection) -> None:
    """spec: host, port, tokens, grace_s."""
    asyncio.run(_displays(spec, pipe))


# ---- counters: next, then complete, about every period ------------------------------------------
def _count(out: dict, key: str) -> None:
    out["errors"][key] = out["errors"].get(key, 0) + 1


def first_call_delay(rng: random.Random, period: float, window: float, spread: float | None = None) -> float:
    """Seconds after the start of the load before a counter's first call: uniform within `spread`,
    by default within the period but also within the first half of a short window."""
    return rng.uniform(0, min(period, window / 2) if spread is None else spread)


async def _counter_loop(client: SioClient, start_at: float, stop_at: float, period: float, out: dict,
                        spread: float | None = None) -> None:
    """Call next, complete about half a period later, and so on every period until `stop_at`. Each
    counter's first call comes at a random moment within `spread` seconds of the start: by default
    within the first half of a short run too (so that each counter calls in a smoke run); the
    province scenario spreads them over the whole call period, so the calls come at a steady rate
    (counters ÷ period) from the first second instead of in a burst."""
    rng = random.Random()
    await asyncio.sleep(max(0.0, start_at - time.time()) + first_call_delay(rng, period, stop_at - start_at, spread))
    while time.time() < stop_at:
        cycle = time.time()
        try:
            sent = time.time()
            ack = await client.call("counter.next", {}, timeout=60)
            acked = time.time()
            if isinstance(ack, dict) and "error" in ack:
                _count(out, ack["error"].get("code", "error"))
            elif isinstance(ack, dict) and ack.get("ticket"):  # answered: at the panel's socket, read by us
                out["calls"].append((ack["ticket"]["id"], sent, client.ack_arrived, acked))
                await asyncio.sleep(min(period * rng.uniform(0.4, 0.6), max(0.0, stop_at - time.time())))
                done = await client.call("counter.complete", {}, timeout=60)
                if isinstance(done, dict) and "error" in done:
                    _count(out, done["error"].get("code", "error"))
                else:
                    out["completed"] += 1
            else:
                out["empty"] += 1
        except (SocketIOError, asyncio.TimeoutError) as err:
            _count(out, type(err).__name__)
            return
        wake = min(cycle + period * rng.uniform(0.9, 1.1), stop_at)
        await asyncio.sleep(max(0.0, wake - time.time()))


async def _counters(spec: dict, pipe: Connection) -> None:
    clients, failed = await _connect_all(spec["host"], spec["port"], spec["tokens"])
    pipe.send({"ready": len(clients), "failed": failed})
    go = await _recv(pipe)
    start_at, stop_at = go["go"], go["stop"]
    out = {"calls": [], "errors": {}, "completed": 0, "empty": 0}
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0, t0 = cpu_seconds(), time.time()
    await asyncio.gather(*(_counter_loop(c, start_at, stop_at, spec["period_s"], out, spec.get("spread_s"))
                           for c in clients.values()))
    cpu1, t1 = cpu_seconds(), time.time()
    pipe.send({**out, "cpu_s": cpu1 - cpu0, "window_s": t1 - t0})
    for c in clients.values():
        c.close()


def counter_role(spec: dict, pipe: Connection) -> None:
    """spec: host, port, tokens (one counter device per token), period_s, spread_s (optional: the first
    calls' spread, see `_counter_loop`)."""
    asyncio.run(_counters(spec, pipe))


ROLES = {"kiosk": kiosk_role, "display": display_role, "counter": counter_role}


def run_role(role: str, spec: dict, pipe: Connection) -> None:
    """The target of every client process."""
    try:
        ROLES[role](spec, pipe)
    except Exception as err:  # report instead of leaving the parent waiting on a silent pipe
        pipe.send({"crashed": f"{role}: {type(err).__name__}: {err}"})
        raise
    finally:
        pipe.close()
