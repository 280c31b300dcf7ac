"""`layso bench --scenario province`: one installation serving a whole province.

N commune centres with M devices each (1 kiosk, about a quarter lobby displays, the rest counter
panels) and one provincial centre with 100 devices (4 kiosks, 16 displays, 80 counter panels), all
connected to one real server process (or W processes: `--workers W`, which needs PostgreSQL and
LAYSO_MESSAGE_QUEUE). Counters call next and complete every `call_period_s` (a busy hour: the
average commune counter serves one citizen every 5–15 minutes), each starting at a random moment
of its first period, so the calls come at a steady rate (counters ÷ period) for the whole run;
each centre's kiosks issue as many tickets as its counters call; and a province administrator's
session reads the overview as the /province page does (a request every `POLL_S`, start to start).

Measured: call→display latency (from the commit), issue latency, the overview's answer time and how
long a new ticket takes to show on the overview page (from the probe kiosk's request to the first
answer of the page's polling that shows it), the server's CPU per event and per delivered message,
its memory and idle CPU per connection. Checked: no number issued twice, no ticket called twice or lost,
no event missed, and no event reaching another centre's device (`foreign_events`).

It reuses the harness of `layso.bench.run` (server process, client processes, CPU windows, the
audit of duplicates and losses) and the client roles of `layso.bench.clients`; only the display
role differs (each display checks its own centre's event numbers and reports what it saw).
"""
from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select

from layso.bench.clients import Display, _connect_all, _recv, cpu_seconds, sleep_until
from layso.bench.stalls import LATE_MS
from layso.bench.run import (
    SETUP_TIMEOUT_S,
    BenchError,
    BenchServer,
    Clients,
    CpuWindow,
    Progress,
    audit,
    bench_config,
    percentiles,
    split,
)
from layso.config import parse_config, preset_data
from layso.bench.officers import seat_officers
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.engine import QueueEngine
from layso.server.engine.centres import create_from_config
from layso.server.queries.province import POLL_S
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade
from layso.server.storage.models import Centre, Ticket

TARGETS = {"call_to_display_p99_ms": 50.0, "issue_p99_ms": 50.0, "overview_update_s": 2.0}
PROVINCE_DEVICES = {"kiosk": 4, "display": 16, "counter": 80}
DISPLAYS_PER_PROCESS = 300
COUNTERS_PER_PROCESS = 400
OVERVIEW_POLL_S = POLL_S  # what the /province page does (start to start)
PROBE_EVERY_S = 3.0
ADMIN_PASSWORD = "bench-" + "province"


# ---- the province -----------------------------------------------------------------------------
def commune_devices(m: int) -> dict[str, int]:
    displays = max(1, m // 4) if m >= 3 else 0
    return {"kiosk": 1, "display": displays, "counter": max(0, m - 1 - displays)}


def commune_config(code: str, name: str, area: str) -> dict:
    data = preset_data("commune", open_all_hours=True)
    data["centre"].update(code=code, name=name, area=area)
    for f in data["fields"]:
        f.pop("cutoff", None)
        f.pop("daily_cap", None)
    return data


def build_province(db: Database, centres: int, per_centre: int, tag: str, progress: Progress) -> dict:
    """Create the centres and their devices; → {code: {id, kind, fields, counters: {n: token}, tokens}}."""
    out = {}
    devices = commune_devices(per_centre)
    for i in range(centres):
        code = f"bench-{tag}-xa{i:03d}"
        cid = create_from_config(db, parse_config(commune_config(code, f"Xã {i:03d} (đo hiệu năng)",
                                                                 f"Khu vực {i % 10 + 1}")), kind="commune")
        out[code] = _devices(db, code, cid, "commune", devices)
        if (i + 1) % 25 == 0:
            progress(f"province: {i + 1} of {centres} commune centres created")
    code = f"bench-{tag}-tinh"
    data = bench_config(code, PROVINCE_DEVICES["counter"])
    data["centre"]["area"] = "Tỉnh"
    cid = create_from_config(db, parse_config(data), kind="province")
    out[code] = _devices(db, code, cid, "province", PROVINCE_DEVICES)
    return out


def sign_in_officers(db: Database, province: dict) -> None:
    """An officer signed in at every counter that has a panel (a counter calls only with an officer).
    Accounts are written directly with a cheap hash: nobody signs in with them by password."""
    from datetime import datetime, timezone

    from layso.server.storage.models import User
    from layso.server.domain.accounts import hash_secret
    password = hash_secret(secrets.token_hex(8), method="pbkdf2:sha256:1000")
    engine = QueueEngine(db)
    for code, c in province.items():
        with db.write() as s:
            users = [User(centre_id=c["id"], username=f"{code}-cb{n}", full_name=f"Cán bộ quầy {n}",
                          password_hash=password, role="staff", active=True, created_at=datetime.now(timezone.utc))
                     for n in c["counters"]]
            s.add_all(users)
            s.flush()
            ids = [u.id for u in users]
        for n, uid in zip(c["counters"], ids):
            engine.sign_in(c["id"], n, uid)


def _devices(db: Database, code: str, cid: int, kind: str, devices: dict[str, int]) -> dict:
    with db.read() as s:
        centre = s.get(Centre, cid)
        fields = [f["code"] for f in _fields(centre)]
    counters = _counter_numbers(db, cid)[:devices["counter"]]
    seat_officers(db, cid)  # a counter with nobody signed in cannot call
    tokens = {"kiosk": [add_device(db, "kiosk", f"Kiosk {i + 1}", code) for i in range(devices["kiosk"])],
              "display": [add_device(db, "display", f"Màn hình {i + 1}", code) for i in range(devices["display"])],
              "counter": [add_device(db, "counter", f"Bảng quầy {n}", code, counter=n) for n in counters]}
    return {"id": cid, "kind": kind, "fields": fields, "counters": counters, "tokens": tokens}


def _fields(centre: Centre) -> list[dict]:
    from layso.server.storage.models import Field
    from sqlalchemy.orm import object_session
    return [{"code": f.code} for f in object_session(centre).execute(
        select(Field).where(Field.centre_id == centre.id, Field.active.is_(True))).scalars()]


def _counter_numbers(db: Database, cid: int) -> list[int]:
    from layso.server.storage.models import Counter
    with db.read() as s:
        return list(s.execute(select(Counter.number).where(Counter.centre_id == cid).order_by(Counter.number))
                    .scalars())


def prefill(db: Database, province: dict, per_counter: int) -> int:
    """Waiting tickets so that no counter runs dry (issued through the engine before the server starts)."""
    engine = QueueEngine(db)
    n = 0
    for c in province.values():
        with db.read() as s:
            from layso.server.storage.models import Counter, CounterField, Field
            served = list(s.execute(select(Field.code).join(CounterField, CounterField.field_id == Field.id)
                                    .join(Counter, Counter.id == CounterField.counter_id)
                                    .where(Counter.centre_id == c["id"], Counter.number.in_(c["counters"]))
                                    .distinct()).scalars())
        for i in range(per_counter * len(c["counters"])):
            engine.issue(c["id"], served[i % len(served)], channel="staff")
            n += 1
    return n


# ---- client processes ---------------------------------------------------------------------------
class ProvinceClients(Clients):
    """Clients whose processes may run a role of this module (the display role below)."""

    def start_fn(self, target, spec: dict):
        parent, child = self._ctx.Pipe()
        p = self._ctx.Process(target=target, args=(spec, child), daemon=True, name="bench-province-display")
        p.start()
        child.close()
        self.procs.append(("province-display", p, parent))
        return parent


async def _displays(spec: dict, pipe) -> None:
    everyone = [Display() for _ in spec["tokens"]]
    clients, failed = await _connect_all(spec["host"], spec["port"], spec["tokens"], [d.on_event for d in everyone])
    pipe.send({"ready": len(clients), "failed": failed})
    go = await _recv(pipe)
    await asyncio.sleep(max(0.0, go["go"] - time.time()))
    for i in clients:
        everyone[i].recording = True
    cpu0, t0 = cpu_seconds(), time.time()
    await asyncio.sleep(max(0.0, go["stop"] - time.time()))
    cpu1, t1 = cpu_seconds(), time.time()
    final = (await _recv(pipe))["final_seq"]  # {centre id: seq}
    goal = {i: final[str(spec["centres"][i])] for i in clients}
    # counted from the start of the load: events of the connect storm that fell between a display's
    # `state` and its joining the rooms never reach it (a real device resyncs after a second's gap)
    since = go.get("from_seq", {})
    for i in clients:
        d = everyone[i]
        d.state_seq = max(d.state_seq or 0, since.get(str(spec["centres"][i]), 0))
    deadline = time.time() + spec.get("grace_s", 10.0)
    while time.time() < deadline and any(max(everyone[i].seqs, default=everyone[i].state_seq or 0) < goal[i]
                                         for i in clients):
        await asyncio.sleep(0.1)
    missing = duplicated = 0
    seen, gaps = [], []
    for i in clients:
        d = everyone[i]
        d.recording = False
        m, dup = d.coverage(goal[i])
        if m and len(gaps) < 20:  # which numbers never came (to tell a late fan-out from a lost event)
            have = set(d.seqs)
            gaps.append((spec["centres"][i], d.state_seq, [s for s in range((d.state_seq or 0) + 1, goal[i] + 1)
                                                            if s not in have][:10]))
        missing, duplicated = missing + m, duplicated + dup
        seen.append((spec["centres"][i], sorted(d.called_seq)))
    pipe.send({"calls": [c for i in clients for c in everyone[i].calls], "missing": missing, "duplicated": duplicated,
               "disconnected": sum(1 for c in clients.values() if c.lost),
               "called_twice": sum(everyone[i].called_twice for i in clients), "seen": seen, "gaps": gaps,
               "cpu_s": cpu1 - cpu0, "window_s": t1 - t0})
    for c in clients.values():
        c.close()


def display_role(spec: dict, pipe) -> None:
    """spec: host, port, tokens, centres (the centre id of each token), grace_s."""
    try:
        asyncio.run(_displays(spec, pipe))
    except Exception as err:
        pipe.send({"crashed": f"province-display: {type(err).__name__}: {err}"})
        raise
    finally:
        pipe.close()


# ---- the province administrator's overview -------------------------------------------------------
class OverviewWatcher(threading.Thread):
    """Signs in as a province administrator and reads GET /api/v1/province/overview as the /province
    page does: a request every `every_s` seconds, start to start. A probe kiosk issues a ticket every
    few seconds in a centre nobody calls in, and the watcher notes how long after the probe's request
    was sent an answer first showed it: what a person watching the page waits for a change."""

    def __init__(self, host: str, port: int, username: str, probe_code: str, probe_token: str, probe_field: str,
                 every_s: float = OVERVIEW_POLL_S):
        super().__init__(daemon=True, name="bench-overview")
        self.host, self.port, self.every_s = host, port, every_s
        self.username, self.probe_code, self.probe_token, self.probe_field = username, probe_code, probe_token, \
            probe_field
        self.stop_at = 0.0
        self.query_s: list[float] = []
        self.visible_s: list[float] = []
        self.errors = 0
        self._issued: list[dict] = []  # probe tickets not yet seen: {sent, n (waiting once in), answered, seen}
        self._lock = threading.Lock()

    def _cookie(self) -> str:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        conn.request("POST", "/api/v1/session", json.dumps({"username": self.username, "password": ADMIN_PASSWORD}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise BenchError(f"the province administrator could not sign in ({resp.status})")
        cookie = resp.getheader("Set-Cookie", "").split(";", 1)[0]
        conn.close()
        return cookie

    def run(self) -> None:
        cookie = self._cookie()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while time.time() < self.stop_at:
            started = time.time()
            try:
                conn.request("GET", "/api/v1/province/overview", headers={"Cookie": cookie})
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                continue
            now = time.time()
            self.query_s.append(now - started)
            if resp.status != 200:
                self.errors += 1
            else:
                waiting = next(c["waiting"] for c in json.loads(body)["centres"] if c["code"] == self.probe_code)
                self._seen(waiting, now)
            time.sleep(max(0.0, started + self.every_s - time.time()))
        conn.close()

    def _seen(self, waiting: int, now: float) -> None:
        with self._lock:
            while self._issued and waiting >= self._issued[0]["n"]:
                e = self._issued.pop(0)
                e["seen"] = now
                if e["answered"]:  # else counted when its answer comes (an overview may show it first)
                    self.visible_s.append(now - e["sent"])

    def probe(self, stop_at: float, start_waiting: int) -> None:
        """Issue a ticket in the probe centre every PROBE_EVERY_S seconds (run in its own thread). Each
        is registered before its request goes out, so an answer of the overview that comes first
        still counts it."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        expected = start_waiting
        headers = {"Authorization": f"Bearer {self.probe_token}", "Content-Type": "application/json"}
        while time.time() < stop_at - 1.0:
            entry = {"sent": time.time(), "n": expected + 1, "answered": False, "seen": None}
            with self._lock:
                self._issued.append(entry)
            try:
                conn.request("POST", "/api/v1/tickets", json.dumps({"field": self.probe_field}), headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 201
            except (OSError, http.client.HTTPException):  # a timeout counts as an error, the probe goes on
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                ok = False
            with self._lock:
                if ok:
                    entry["answered"] = True
                    expected += 1
                    if entry["seen"] is not None:
                        self.visible_s.append(entry["seen"] - entry["sent"])
                elif entry in self._issued:  # not issued (as far as the probe knows): nothing to wait for
                    self._issued.remove(entry)
            if not ok:
                self.errors += 1
                continue
            time.sleep(PROBE_EVERY_S)
        conn.close()


# ---- the scenario ---------------------------------------------------------------------------------
class ProvinceServer(BenchServer):
    """`layso serve`, with `--workers W` and the message queue when asked."""

    def __init__(self, workdir: Path, db_url: str, config_path: Path, workers: int = 1,
                 message_queue: str | None = None, via_nginx: bool = False):
        super().__init__(workdir, db_url, config_path, workers=workers,
                         message_queue=message_queue if workers > 1 else None, via_nginx=via_nginx)

    def rss_bytes(self) -> int | None:
        """Resident memory of the server and its children (Linux /proc)."""
        total = 0
        pids = [self.proc.pid] + _children(self.proc.pid)
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
        return total or None


def _children(pid: int) -> list[int]:
    try:
        kids = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def run_province(db_url: str | None = None, centres: int = 150, devices_per_centre: int = 8, workers: int = 1,
                 seconds: float = 30.0, call_period_s: float = 60.0, progress: Progress = lambda _m: None,
                 message_queue: str | None = None, via_nginx: bool = False) -> dict:
    message_queue = message_queue or os.environ.get("LAYSO_MESSAGE_QUEUE")
    if workers > 1 and (not db_url or not db_url.startswith("postgresql") or not message_queue):
        raise BenchError("--workers above 1 needs --db postgresql://… and --message-queue (or LAYSO_MESSAGE_QUEUE)")
    workdir = Path(tempfile.mkdtemp(prefix="layso-bench-province-"))
    url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    tag = secrets.token_hex(2)
    try:
        upgrade(db)
        load_before = [round(x, 2) for x in os.getloadavg()]
        t_setup = time.time()
        province = build_province(db, centres, devices_per_centre, tag, progress)
        codes = list(province)
        probe_code = codes[0]  # the first commune: its kiosk is the probe, nobody calls there
        probe = province[probe_code]
        probe["counters_active"] = []
        admin = f"bench-{tag}-tinh-admin"
        add_user(db, admin, "province_admin", ADMIN_PASSWORD, codes[-1])
        per_counter = math.ceil(seconds / call_period_s) + 2
        active = {k: c for k, c in province.items() if k != probe_code}
        prefilled = prefill(db, active, per_counter)
        sign_in_officers(db, active)
        config = workdir / "serve.toml"
        from layso.config import write_config
        write_config(commune_config(f"bench-{tag}-seed", "Trung tâm khởi động", ""), config)
        progress(f"province: {len(province)} centres, {sum(len(t) for c in province.values() for t in c['tokens'].values())}"
                 f" devices, {prefilled} waiting tickets ready in {time.time() - t_setup:.0f} s")
        server = ProvinceServer(workdir, db.url, config, workers, message_queue, via_nginx).start()
        clients = ProvinceClients()
        where = {"host": server.host, "port": server.client_port}  # nginx's port when it is in front
        try:
            report = _drive(db, server, clients, where, province, probe_code, admin, seconds, call_period_s,
                            prefilled, centres, devices_per_centre, workers, load_before, progress)
            return {**report, "via_nginx": via_nginx}
        finally:
            server.stop()
            clients.stop()
    finally:
        db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def _drive(db, server, clients, where, province, probe_code, admin, seconds, call_period_s, prefilled, centres,
           devices_per_centre, workers, load_before, progress) -> dict:
    display_tokens = [(t, c["id"]) for c in province.values() for t in c["tokens"]["display"]]
    counter_tokens = [t for k, c in province.items() if k != probe_code for t in c["tokens"]["counter"]]
    commune_kiosks = [t for k, c in province.items() if c["kind"] == "commune" and k != probe_code
                      for t in c["tokens"]["kiosk"]]
    province_code = next(k for k, c in province.items() if c["kind"] == "province")
    rss0 = server.rss_bytes()
    progress(f"province: connecting {len(display_tokens)} displays and {len(counter_tokens)} counter panels")
    display_pipes = [clients.start_fn(display_role, {**where, "tokens": [t for t, _c in part],
                                                     "centres": [c for _t, c in part], "grace_s": 30.0})
                     for part in split(display_tokens, max(1, math.ceil(len(display_tokens) / DISPLAYS_PER_PROCESS)))]
    # the first calls spread over the whole period: a steady counters ÷ period calls a second
    counter_pipes = [clients.start("counter", {**where, "tokens": part, "period_s": call_period_s,
                                               "spread_s": call_period_s})
                     for part in split(counter_tokens, max(1, math.ceil(len(counter_tokens) / COUNTERS_PER_PROCESS)))]
    # each centre's kiosks issue as many tickets as its counters call (the waiting lines stay as long)
    commune_calls = sum(len(c["tokens"]["counter"]) for k, c in province.items()
                        if c["kind"] == "commune" and k != probe_code)
    kiosk_pipes = [clients.start("kiosk", {**where, "tokens": commune_kiosks, "fields": province[probe_code]["fields"],
                                           "priority_share": 0.1, "rate": max(0.05, commune_calls / call_period_s),
                                           "seed": 11}),
                   clients.start("kiosk", {**where, "tokens": province[province_code]["tokens"]["kiosk"],
                                           "fields": province[province_code]["fields"], "priority_share": 0.1,
                                           "rate": max(0.05, len(province[province_code]["tokens"]["counter"])
                                                       / call_period_s), "seed": 12})]
    t0 = time.time()
    ready = clients.receive(display_pipes + counter_pipes + kiosk_pipes, SETUP_TIMEOUT_S * 2)
    connect_s = time.time() - t0
    connected = {"displays": sum(r["ready"] for r in ready[:len(display_pipes)]),
                 "counters": sum(r["ready"] for r in ready[len(display_pipes):len(display_pipes) + len(counter_pipes)]),
                 "failed": sum(r["failed"] for r in ready)}
    progress(f"province: {connected['displays']} displays and {connected['counters']} counter panels connected in "
             f"{connect_s:.0f} s ({connected['failed']} failed); idle 5 s, then load for {seconds:g} s")
    time.sleep(3.0)
    rss1 = server.rss_bytes()
    idle = CpuWindow(server)
    idle.begin()
    time.sleep(5.0)
    idle.end()
    probe = province[probe_code]
    watcher = OverviewWatcher(server.host, server.client_port, admin, probe_code, probe["tokens"]["kiosk"][0],
                              probe["fields"][0])
    cpu = CpuWindow(server)
    start_at = time.time() + 0.5
    stop_at = start_at + seconds
    watcher.stop_at = stop_at
    seq_start = _seqs(db, province)
    for p in display_pipes + counter_pipes + kiosk_pipes:
        p.send({"go": start_at, "stop": stop_at, "from_seq": {str(k): v for k, v in seq_start.items()}})
    sleep_until(start_at)
    cpu.begin()
    watcher.start()
    prober = threading.Thread(target=watcher.probe, args=(stop_at, 0), daemon=True)
    prober.start()
    sleep_until(stop_at)
    cpu.end()
    load_pipes = counter_pipes + kiosk_pipes
    load = clients.receive(load_pipes, call_period_s * 2 + 180)
    watcher.join(30)
    prober.join(30)
    time.sleep(1.0)
    final = _seqs(db, province)
    for p in display_pipes:
        p.send({"final_seq": {str(k): v for k, v in final.items()}})
    shown = clients.receive(display_pipes, 180)
    report = _report(db, province, probe_code, seconds, call_period_s, centres, devices_per_centre, workers,
                     connected, connect_s, prefilled, load[:len(counter_pipes)], load[len(counter_pipes):], shown, cpu,
                     idle, watcher, seq_start, final, rss0, rss1, load_before)
    report["calls_offered_per_s"] = round(len(counter_tokens) / call_period_s, 2)
    report["calls_per_s_by_tenth"] = calls_by_tenth(load[:len(counter_pipes)], start_at, seconds)
    return report


def calls_by_tenth(counter_res: list[dict], start_at: float, seconds: float) -> list[float]:
    """Calls a second in each tenth of the load window (a steady load has ten similar numbers)."""
    counts = [0] * 10
    for r in counter_res:
        for _tid, sent, _acked, _read in r["calls"]:
            i = int(10 * (sent - start_at) / seconds)
            counts[min(9, max(0, i))] += 1
    return [round(n / (seconds / 10), 2) for n in counts]


def _seqs(db: Database, province: dict) -> dict[int, int]:
    ids = [c["id"] for c in province.values()]
    with db.read() as s:
        return dict(s.execute(select(Centre.id, Centre.seq).where(Centre.id.in_(ids))).all())


def _report(db, province, probe_code, seconds, call_period_s, centres, devices_per_centre, workers, connected,
            connect_s, prefilled, counter_res, kiosk_res, shown, cpu, idle, watcher, seq_start, final, rss0, rss1,
            load_before) -> dict:
    sent = {tid: (s, a) for r in counter_res for tid, s, a, _read in r["calls"]}
    exact, upper, read = [], [], []
    for r in shown:
        for tid, arrived, read_at, committed_at in r["calls"]:
            if tid in sent:
                upper.append(arrived - sent[tid][0])
                if committed_at is not None:
                    exact.append(arrived - committed_at)
                    read.append(read_at - committed_at)
    samples = exact if exact and len(exact) == len(upper) else upper
    # isolation: every ticket a display saw called belongs to its own centre
    seen = [(cid, tid) for r in shown for cid, tids in r["seen"] for tid in tids]
    with db.read() as s:
        owner = dict(s.execute(select(Ticket.id, Ticket.centre_id)
                               .where(Ticket.id.in_({tid for _c, tid in seen} or {-1}))).all())
    foreign = sum(1 for cid, tid in seen if owner.get(tid) != cid)
    tickets = [t for r in kiosk_res for t in r["tickets"]]
    checks = {"duplicate_numbers": {"clients": 0, "database": 0}, "called_twice_database": 0, "lost": 0,
              "tickets_in_database": 0}
    for c in province.values():
        part = audit(db, c["id"], [t for t in tickets if t[1] in c["fields"]] if c["kind"] == "province" else [])
        checks["duplicate_numbers"]["database"] += part["duplicate_numbers"]["database"]
        checks["called_twice_database"] += part["called_twice_database"]
        checks["tickets_in_database"] += part["tickets_in_database"]
    ids = {t[0] for t in tickets}
    with db.read() as s:
        found = set(s.execute(select(Ticket.id).where(Ticket.id.in_(ids or {-1}))).scalars())
    checks["lost"] = len(ids - found)
    # numbers repeat across centres by design: duplicates are counted per centre in the database
    called_ids = [tid for r in counter_res for tid, _s, _a, _r in r["calls"]]
    events = sum(final[c["id"]] - seq_start[c["id"]] for c in province.values())
    receivers_by_centre = {c["id"]: len(c["tokens"]["display"]) + len(c["tokens"]["counter"]) for c in province.values()}
    messages = sum((final[cid] - seq_start[cid]) * n for cid, n in receivers_by_centre.items())
    report_cpu = cpu.report([*counter_res, *kiosk_res, *shown])
    idle_cpu = idle.report([])
    connections = connected["displays"] + connected["counters"]
    server_cpu_s = (report_cpu["server_cores"] or 0) * report_cpu["window_s"]
    lat = percentiles(samples)
    issue = percentiles([x for r in kiosk_res for x in r["latencies"]])
    overview_q = percentiles(watcher.query_s)
    visible = percentiles(watcher.visible_s)
    errors: dict[str, int] = {}
    for r in [*counter_res, *kiosk_res]:
        for k, n in r["errors"].items():
            errors[k] = errors.get(k, 0) + n
    if watcher.errors:
        errors["overview"] = watcher.errors
    result = {
        "centres": centres + 1, "commune_centres": centres, "devices_per_centre": devices_per_centre,
        "province_centre_devices": sum(PROVINCE_DEVICES.values()), "workers": workers, "seconds": seconds,
        "call_period_s": call_period_s, "connected": connected, "connect_s": round(connect_s, 1),
        "prefilled": prefilled, "calls": len(called_ids), "calls_per_s": round(len(called_ids) / seconds, 2),
        "issued": len(tickets), "issued_per_s": round(len(tickets) / seconds, 2),
        "events": events, "events_per_s": round(events / seconds, 1), "messages_out": messages,
        "messages_per_s": round(messages / seconds, 1),
        "call_to_display_ms": {"from": "commit" if samples is exact else "send (upper bound)", **lat},
        "call_to_display_read_ms": percentiles(read),
        "call_ack_ms": percentiles([a - s for s, a in sent.values()]),
        "issue_latency_ms": issue, "overview_query_ms": overview_q, "overview_visible_ms": visible,
        "overview_poll_s": OVERVIEW_POLL_S,
        "events_missed": sum(r["missing"] for r in shown), "events_received_twice": sum(r["duplicated"] for r in shown),
        "foreign_events": foreign, "missed_examples": [g for r in shown for g in r["gaps"]][:10],
        "displays_disconnected": sum(r["disconnected"] for r in shown),
        "errors": errors, "lost": checks["lost"], "tickets_in_database": checks["tickets_in_database"],
        "duplicate_numbers": checks["duplicate_numbers"],
        "called_twice": {"clients": len(called_ids) - len(set(called_ids)),
                         "displays": sum(r["called_twice"] for r in shown), "database": checks["called_twice_database"]},
        "cpu": report_cpu,
        "costs": {
            "server_cpu_ms_per_event": round(1000 * server_cpu_s / events, 3) if events else None,
            "server_cpu_ms_per_message": round(1000 * server_cpu_s / messages, 4) if messages else None,
            "idle_server_cpu_ms_per_connection_s": round(1000 * (idle_cpu["server_cores"] or 0) / connections, 4)
            if connections else None,
            "server_memory_kb_per_connection": round((rss1 - rss0) / 1024 / connections, 1)
            if rss0 and rss1 and connections else None,
            "server_memory_mb": round(rss1 / 2**20, 1) if rss1 else None,
        },
        "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "targets": TARGETS,
        "targets_met": {"call_to_display_p99": None if lat["p99"] is None else lat["p99"] <= TARGETS["call_to_display_p99_ms"],
                        "issue_p99": None if issue["p99"] is None else issue["p99"] <= TARGETS["issue_p99_ms"],
                        "overview_update": None if visible["p99"] is None
                        else visible["p99"] <= 1000 * TARGETS["overview_update_s"]},
    }
    result["correct"] = (result["events_missed"] == 0 and result["foreign_events"] == 0 and result["lost"] == 0
                         and not result["duplicate_numbers"]["database"] and not any(result["called_twice"].values()))
    return result


def format_province(r: dict) -> str:
    def ms(p, keys=("p50", "p90", "p99", "max")):
        return " / ".join("–" if p[k] is None else f"{p[k]:.1f}" for k in keys)
    c, late = r["costs"], r["cpu"]["wake_late_ms"]
    lines = [
        f"layso bench — province: {r['commune_centres']} commune centres × {r['devices_per_centre']} devices + "
        f"a provincial centre with {r['province_centre_devices']}; {r['workers']} server process(es)"
        f"{' behind nginx' if r.get('via_nginx') else ''}; "
        f"load average before {' '.join(map(str, r['load_average_before']))}, after "
        f"{' '.join(map(str, r['load_average_after']))}",
        "",
        f"connected displays / counter panels   {r['connected']['displays']} / {r['connected']['counters']} "
        f"({r['connected']['failed']} failed) in {r['connect_s']} s",
        f"calls/s offered (counters ÷ period)   {r.get('calls_offered_per_s')}; made, by tenth of the run: "
        f"{' '.join(map(str, r.get('calls_per_s_by_tenth', [])))}",
        f"calls/s, issued/s, events/s, msgs/s    {r['calls_per_s']}, {r['issued_per_s']}, {r['events_per_s']}, "
        f"{r['messages_per_s']}",
        f"call→display ms p50/p90/p99/max       {ms(r['call_to_display_ms'])} (from {r['call_to_display_ms']['from']} to the "
        f"display's socket; p99 ≤ {TARGETS['call_to_display_p99_ms']:g}: {r['targets_met']['call_to_display_p99']})",
        f"  … to the bench's read               {ms(r['call_to_display_read_ms'])} (300 screens a client process)",
        f"counter.next round trip ms            {ms(r['call_ack_ms'])} (the answer at the panel's socket)",
        f"issue ms p50/p90/p99/max              {ms(r['issue_latency_ms'])} (p99 ≤ {TARGETS['issue_p99_ms']:g}: "
        f"{r['targets_met']['issue_p99']})",
        f"overview answer ms p50/p90/p99/max    {ms(r['overview_query_ms'])}",
        f"new ticket → overview page ms         {ms(r['overview_visible_ms'])} (polled as the page does, every "
        f"{r['overview_poll_s']:g} s; p99 ≤ {1000 * TARGETS['overview_update_s']:g}: {r['targets_met']['overview_update']})",
        f"events missed / twice / other centre  {r['events_missed']} / {r['events_received_twice']} / {r['foreign_events']}",
        f"numbers twice / called twice / lost    {r['duplicate_numbers']['database']} / "
        f"{sum(r['called_twice'].values())} / {r['lost']}",
        f"errors                                 {', '.join(f'{k}: {n}' for k, n in r['errors'].items()) or '0'}",
        f"server CPU cores / clients / rest      {r['cpu']['server_cores']} / {r['cpu']['clients_cores']} / "
        f"{r['cpu']['rest_of_machine_cores']} of {r['cpu']['cores']}",
        f"a sleeping thread's wake-up late ms   {ms(late, ('p50', 'p99', 'max'))} (p50 / p99 / max; {late['late']} "
        f"late by ≥ {LATE_MS:g} ms: the machine's stalls)",
        f"cost: CPU ms per event / per message   {c['server_cpu_ms_per_event']} / {c['server_cpu_ms_per_message']}",
        f"cost: idle CPU ms/s and KB per conn.   {c['idle_server_cpu_ms_per_connection_s']} / "
        f"{c['server_memory_kb_per_connection']} (server {c['server_memory_mb']} MB)",
        "",
        "correct: yes" if r["correct"] else "correct: NO",
    ]
    return "\n".join(lines)
