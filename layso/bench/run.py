"""`layso bench`: a real server process on 127.0.0.1, driven over the network by client processes.

Two scenarios, each on a fresh centre of its own (by default in a new SQLite file in a temporary
folder, with the production durability settings: WAL, synchronous=FULL):

- issue: kiosks issue tickets as fast as they can over keep-alive HTTP, no display connected;
  latency percentiles and tickets per second.
- lobby: a provincial centre with many counters: lobby displays and counter panels on Socket.IO,
  each counter calls next and completes about every 5 s while kiosks issue about 5 tickets/s; the
  delay from a call to the moment every display holds its `ticket.called` event.

Both check what the clients saw and what the database holds afterwards: numbers issued twice
(same field, day and number), tickets called twice, tickets lost, events a display missed.
The measuring side's CPU use is reported next to the server's, so a reader can tell which side
was the bottleneck.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field as dc_field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from layso.bench.clients import run_role, sleep_until
from layso.bench.stalls import LATE_MS, WakeProbe
from layso.config import load_config, preset_data, write_config
from layso.install import SERVER_ENVIRONMENT
from layso.bench.officers import seat_officers
from layso.server.engine.devices import add_device
from layso.server.engine import seed_centre
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade
from layso.server.storage.models import Centre, Ticket, TicketEvent

ISSUE_KIOSKS = 8
ISSUE_COUNTERS = 30  # the province preset's counters: nobody calls in the issue scenario
KIOSKS_PER_PROCESS = 4
DISPLAYS_PER_PROCESS = 100
MAX_DISPLAY_PROCESSES = 4
LOBBY_KIOSKS = 8
LOBBY_ISSUE_RATE = 5.0  # tickets per second, all lobby kiosks together
CALL_PERIOD_S = 5.0
PRIORITY_SHARE = 0.1
SETUP_TIMEOUT_S = 600.0
TARGETS = {"issue_p99_ms": 20.0, "issue_tickets_per_s": 500.0, "lobby_p99_ms": 20.0, "next_p99_ms": 50.0}  # issue #10's


class BenchError(RuntimeError):
    """The bench could not run (server did not start, a client process crashed…)."""


# ---- the centre under test ---------------------------------------------------------------------
def bench_config(code: str, counters: int) -> dict:
    """The province preset open all hours, grown (or cut) to `counters` counters, with numbers to spare.

    Cut-off times go (the bench may run late in the day) and numbers get four digits, so a long
    flat-out run never meets a daily cap.
    """
    data = preset_data("province", open_all_hours=True)
    data["centre"]["code"] = code
    data["centre"]["name"] = "Trung tâm Phục vụ hành chính công tỉnh (đo hiệu năng)"
    data["centre"].pop("public_url", None)
    for f in data["fields"]:
        f.pop("cutoff", None)
        f.pop("daily_cap", None)
        if f.get("prefix"):
            f["width"] = 4
    preset_counters = data["counters"]
    data["counters"] = []
    for i in range(counters):
        base = preset_counters[i % len(preset_counters)]
        data["counters"].append({"number": i + 1, "name": f"Quầy {i + 1}", "fields": list(base["fields"]),
                                 "priority_only": bool(base.get("priority_only", False))})
    served = {code for c in data["counters"] for code in c["fields"]}
    data["fields"] = [f for f in data["fields"] if f["code"] in served]  # a small bench has fewer counters
    return data


@dataclass
class BenchCentre:
    """A prepared centre: its config file, database id and device tokens by role."""

    code: str
    config_path: Path
    centre_id: int
    fields: list[str]
    counter_fields: dict[int, tuple[list[str], bool]]
    tokens: dict[str, list[str]] = dc_field(default_factory=dict)


def prepare_centre(db: Database, workdir: Path, name: str, counters: int, devices: dict[str, int]) -> BenchCentre:
    code = f"bench-{name}-{secrets.token_hex(3)}"
    data = bench_config(code, counters)
    path = workdir / f"{code}.toml"
    write_config(data, path)
    centre_id = seed_centre(db, load_config(path))
    seat_officers(db, centre_id)  # a counter with nobody signed in cannot call
    centre = BenchCentre(code, path, centre_id, [f["code"] for f in data["fields"]],
                         {c["number"]: (c["fields"], c["priority_only"]) for c in data["counters"]})
    for role, n in devices.items():
        if role == "counter":
            centre.tokens[role] = [add_device(db, "counter", f"Bảng quầy {i}", code, counter=i)
                                   for i in range(1, n + 1)]
        else:
            centre.tokens[role] = [add_device(db, role, f"{role} {i}", code) for i in range(1, n + 1)]
    return centre


# ---- the server process ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchServer:
    """`layso serve` as a child process on 127.0.0.1."""

    def __init__(self, workdir: Path, db_url: str, config_path: Path, workers: int = 1,
                 message_queue: str | None = None, via_nginx: bool = False):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.via_nginx = via_nginx
        self.proxy = None  # nginx in front (plain HTTP), when asked
        self.log_path = workdir / f"server-{self.port}.log"
        self._cmd = [sys.executable, "-m", "layso.cli", "serve", "--config", str(config_path), "--db", db_url,
                     "--host", self.host, "--port", str(self.port), "--workers", str(workers)]
        # as `layso install server`'s unit runs it
        self._env = {**SERVER_ENVIRONMENT, **os.environ, "LAYSO_SECRET_KEY": secrets.token_hex(32)}
        self._env.pop("LAYSO_MESSAGE_QUEUE", None)
        if message_queue:  # a channel of its own: other installations may share the Redis server
            self._env["LAYSO_MESSAGE_QUEUE"] = message_queue
            self._env["LAYSO_MESSAGE_QUEUE_CHANNEL"] = f"layso-bench-{secrets.token_hex(4)}"
        self._workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> "BenchServer":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._cmd, stdout=subprocess.PIPE, stderr=log, env=self._env,
                                         cwd=self._workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if b"serving on" in line:
                if self.via_nginx:
                    self._start_proxy()
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise BenchError(f"the server did not start; its log ends with:\n{tail}")

    def _start_proxy(self) -> None:
        from layso.bench.proxy import NginxProxy, ProxyError
        try:
            self.proxy = NginxProxy(self._workdir / f"nginx-{self.port}", [f"{self.host}:{self.port}"], tls=False).start()
        except ProxyError as err:
            self.stop()
            raise BenchError(str(err)) from None

    @property
    def client_port(self) -> int:
        """Where clients connect: nginx's port when it stands in front, else the server's."""
        return self.proxy.port if self.proxy is not None else self.port

    def pids(self) -> list[int]:
        """The server's processes: the one process, or the parent and its workers (and nginx's)."""
        if not self.proc:
            return []
        return [self.proc.pid, *child_pids(self.proc.pid), *(self.proxy.pids() if self.proxy else [])]

    def cpu_seconds(self) -> float | None:
        values = [process_cpu_seconds(pid) for pid in self.pids()]
        return None if not values or values[0] is None else sum(v for v in values if v is not None)

    def rss_mib(self) -> list[float]:
        """Resident memory of each serving process (the workers only, when there is a parent)."""
        pids = [self.proc.pid, *child_pids(self.proc.pid)] if self.proc else []
        serving = pids[1:] or pids
        return [m for m in (process_rss_mib(pid) for pid in serving) if m is not None]

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        self.proc.stdout.close()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def process_rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc; None elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot (Linux /proc; None elsewhere)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / tick, sum(values[:8]) / tick


# ---- client processes ----------------------------------------------------------------------------
class Clients:
    """A group of client processes (spawned: they import only `bench_clients`)."""

    def __init__(self):
        self._ctx = multiprocessing.get_context("spawn")
        self.procs: list[tuple[str, multiprocessing.Process, Connection]] = []

    def start(self, role: str, spec: dict) -> Connection:
        parent, child = self._ctx.Pipe()
        p = self._ctx.Process(target=run_role, args=(role, spec, child), daemon=True, name=f"bench-{role}")
        p.start()
        child.close()
        self.procs.append((role, p, parent))
        return parent

    def receive(self, pipes: list[Connection], timeout: float) -> list[dict]:
        """One message from each pipe (in the given order); raises if a process crashed or is late."""
        got: dict[int, dict] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(pipes):
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("a client process did not answer in time")
            for conn in wait([p for p in pipes if id(p) not in got], timeout=left):
                try:
                    msg = conn.recv()
                except EOFError:
                    raise BenchError("a client process exited without reporting") from None
                if "crashed" in msg:
                    raise BenchError(f"client process crashed: {msg['crashed']}")
                got[id(conn)] = msg
        return [got[id(p)] for p in pipes]

    def stop(self) -> None:
        for _role, p, conn in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
            conn.close()
        self.procs.clear()


def split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts) if items[i::parts]]


# ---- measuring ---------------------------------------------------------------------------------
def percentiles(values_s: list[float]) -> dict:
    """p50/p90/p99/max in milliseconds by the nearest-rank method (None when there is no sample)."""
    if not values_s:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values_s)

    def rank(p: float) -> float:
        return round(ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] * 1000, 2)

    return {"n": len(ordered), "p50": rank(50), "p90": rank(90), "p99": rank(99), "max": round(ordered[-1] * 1000, 2)}


class CpuWindow:
    """CPU use of the server, of the bench's client processes and of the whole machine over a window."""

    def __init__(self, server: BenchServer):
        self.server = server
        self.start_server = self.end_server = None
        self.start_machine = self.end_machine = None
        self.started = self.ended = 0.0
        self.probe = WakeProbe()

    def begin(self) -> None:
        self.started, self.start_server, self.start_machine = time.time(), self.server.cpu_seconds(), machine_cpu()
        self.probe = WakeProbe()
        self.probe.start()

    def end(self) -> None:
        self.ended, self.end_server, self.end_machine = time.time(), self.server.cpu_seconds(), machine_cpu()
        self.probe.stop()

    def report(self, client_results: list[dict]) -> dict:
        wall = max(self.ended - self.started, 1e-9)
        clients_s = sum(r["cpu_s"] for r in client_results)
        out = {"window_s": round(wall, 2), "cores": os.cpu_count(),
               "client_processes": len(client_results),
               "clients_cores": round(clients_s / wall, 2),
               "busiest_client_process_share": round(max((r["cpu_s"] / max(r["window_s"], 1e-9)
                                                          for r in client_results), default=0.0), 2),
               "server_cores": None, "machine_busy_cores": None, "rest_of_machine_cores": None,
               # the machine's stalls (`layso.bench.stalls`)
               "wake_late_ms": {**percentiles(self.probe.late_s), "late": self.probe.late()}}
        if self.start_server is not None and self.end_server is not None:
            out["server_cores"] = round((self.end_server - self.start_server) / wall, 2)
        if self.start_machine and self.end_machine:
            busy = (self.end_machine[0] - self.start_machine[0]) / wall
            out["machine_busy_cores"] = round(busy, 2)
            if out["server_cores"] is not None:
                out["rest_of_machine_cores"] = round(max(0.0, busy - out["server_cores"] - out["clients_cores"]), 2)
        return out


def centre_seq(db: Database, centre_id: int) -> int:
    with db.read() as s:
        return s.execute(select(Centre.seq).where(Centre.id == centre_id)).scalar_one()


def audit(db: Database, centre_id: int, client_tickets: list[tuple]) -> dict:
    """What the clients saw and what the database holds: numbers issued twice, tickets called twice, lost."""
    with db.read() as s:
        dup_groups = select(Ticket.issue_field_id, Ticket.day, Ticket.number).where(Ticket.centre_id == centre_id) \
            .group_by(Ticket.issue_field_id, Ticket.day, Ticket.number).having(func.count() > 1).subquery()
        db_duplicates = s.execute(select(func.count()).select_from(dup_groups)).scalar_one()
        twice = select(TicketEvent.ticket_id).where(TicketEvent.centre_id == centre_id,
                                                    TicketEvent.type == "ticket.called") \
            .group_by(TicketEvent.ticket_id).having(func.count() > 1).subquery()
        db_called_twice = s.execute(select(func.count()).select_from(twice)).scalar_one()
        ids = set(s.execute(select(Ticket.id).where(Ticket.centre_id == centre_id)).scalars())
    numbers = [(f, d, n) for _id, f, d, n in client_tickets]
    return {"tickets_in_database": len(ids),
            "duplicate_numbers": {"clients": len(numbers) - len(set(numbers)), "database": db_duplicates},
            "called_twice_database": db_called_twice,
            "lost": len({t[0] for t in client_tickets} - ids)}


# ---- scenarios ---------------------------------------------------------------------------------
Progress = Callable[[str], None]


def run_issue(db: Database, workdir: Path, seconds: float, progress: Progress, open_loop: float | None = None,
              serving: dict | None = None) -> dict:
    centre = prepare_centre(db, workdir, "issue", ISSUE_COUNTERS, {"kiosk": ISSUE_KIOSKS})
    server = BenchServer(workdir, db.url, centre.config_path, **(serving or {})).start()
    clients = Clients()
    try:
        how = f"offering {open_loop:g} tickets/s (open loop)" if open_loop else "issuing flat out"
        progress(f"issue: server pid {server.proc.pid} on port {server.port}; "
                 f"{ISSUE_KIOSKS} kiosks {how} for {seconds:g} s")
        per_process = len(split(centre.tokens["kiosk"], ISSUE_KIOSKS // KIOSKS_PER_PROCESS))
        pipes = [clients.start("kiosk", {"host": server.host, "port": server.client_port, "tokens": tokens,
                                         "fields": centre.fields, "priority_share": PRIORITY_SHARE,
                                         "rate": open_loop / per_process if open_loop else None,
                                         "open_loop": bool(open_loop), "seed": i})
                 for i, tokens in enumerate(split(centre.tokens["kiosk"], ISSUE_KIOSKS // KIOSKS_PER_PROCESS))]
        clients.receive(pipes, SETUP_TIMEOUT_S)
        cpu = CpuWindow(server)
        start_at = time.time() + 0.5
        for p in pipes:
            p.send({"go": start_at, "stop": start_at + seconds})
        sleep_until(start_at)
        cpu.begin()
        sleep_until(start_at + seconds)
        cpu.end()
        rss = server.rss_mib()
        results = clients.receive(pipes, seconds + 120)
    finally:
        server.stop()
        clients.stop()
    latencies = [x for r in results for x in r["latencies"]]
    tickets = [t for r in results for t in r["tickets"]]
    window = max(r["ended"] for r in results) - min(r["started"] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for k, n in r["errors"].items():
            errors[k] = errors.get(k, 0) + n
    checks = audit(db, centre.centre_id, tickets)
    called_twice = {"clients": 0, "database": checks.pop("called_twice_database")}
    rate = len(tickets) / window if window > 0 else 0.0
    lat = percentiles(latencies)
    used = cpu.report(results)
    return {"kiosks": ISSUE_KIOSKS, "seconds": seconds, "tickets": len(tickets),
            "open_loop_offered_per_s": open_loop,
            "latency_from": "schedule (open loop)" if open_loop else "send",
            "tickets_per_s": round(rate, 1), "latency_ms": lat, "errors": errors,
            **checks, "called_twice": called_twice,
            "cpu": used,
            # CPU the server spent per ticket: unlike tickets/s, it hardly moves when others load the machine
            "server_cpu_ms_per_ticket": round(1000 * used["server_cores"] * used["window_s"] / len(tickets), 2)
            if tickets and used.get("server_cores") is not None else None,
            "server_rss_mib": rss,
            "targets_met": {"p99": None if lat["p99"] is None else lat["p99"] <= TARGETS["issue_p99_ms"],
                            "rate": None if open_loop else rate >= TARGETS["issue_tickets_per_s"]}}


def prefill_plan(centre: BenchCentre, seconds: float) -> list[str]:
    """Enough waiting tickets that no counter runs dry: each counter's expected calls, spread over its
    fields, twice over."""
    calls = seconds / CALL_PERIOD_S + 2
    demand: dict[str, float] = {f: 0.0 for f in centre.fields}
    for fields, priority_only in centre.counter_fields.values():
        for f in fields:
            demand[f] += calls / len(fields) * (0.3 if priority_only else 1.0)
    plan = [f for f, d in demand.items() for _ in range(max(2, math.ceil(2 * d))) if d > 0]
    rng = secrets.SystemRandom()
    rng.shuffle(plan)
    return plan


def run_lobby(db: Database, workdir: Path, seconds: float, displays: int, counters: int,
              progress: Progress, serving: dict | None = None) -> dict:
    centre = prepare_centre(db, workdir, "lobby", counters,
                            {"kiosk": ISSUE_KIOSKS, "display": displays, "counter": counters})
    server = BenchServer(workdir, db.url, centre.config_path, **(serving or {})).start()
    clients = Clients()
    where = {"host": server.host, "port": server.client_port}
    try:
        plan = prefill_plan(centre, seconds)
        progress(f"lobby: server pid {server.proc.pid} on port {server.port}; "
                 f"issuing {len(plan)} tickets to wait before the start")
        prefill = clients.start("kiosk", {**where, "tokens": centre.tokens["kiosk"], "fields": centre.fields,
                                          "priority_share": PRIORITY_SHARE, "rate": None, "fixed": plan})
        clients.receive([prefill], SETUP_TIMEOUT_S)
        prefill.send({"go": time.time(), "stop": time.time() + SETUP_TIMEOUT_S})
        prefilled = clients.receive([prefill], SETUP_TIMEOUT_S)[0]

        progress(f"lobby: connecting {displays} displays and {counters} counter panels")
        n_display_procs = min(MAX_DISPLAY_PROCESSES, max(1, math.ceil(displays / DISPLAYS_PER_PROCESS)))
        display_pipes = [clients.start("display", {**where, "tokens": tokens, "grace_s": 10.0})
                         for tokens in split(centre.tokens["display"], n_display_procs)]
        counter_pipe = clients.start("counter", {**where, "tokens": centre.tokens["counter"],
                                                 "period_s": CALL_PERIOD_S})
        kiosk_pipe = clients.start("kiosk", {**where, "tokens": centre.tokens["kiosk"][:LOBBY_KIOSKS],
                                             "fields": centre.fields, "priority_share": PRIORITY_SHARE,
                                             "rate": LOBBY_ISSUE_RATE, "seed": 7})
        load_pipes = [counter_pipe, kiosk_pipe]
        ready = clients.receive(display_pipes + load_pipes, SETUP_TIMEOUT_S)
        connected = {"displays": sum(r["ready"] for r in ready[:len(display_pipes)]),
                     "counters": ready[len(display_pipes)]["ready"],
                     "failed": sum(r["failed"] for r in ready)}
        progress(f"lobby: {connected['displays']} displays and {connected['counters']} counters connected "
                 f"({connected['failed']} failed); load for {seconds:g} s")
        time.sleep(2.0)  # let the connection storm (device.changed to everyone) drain
        cpu = CpuWindow(server)
        start_at = time.time() + 0.5
        for p in display_pipes + load_pipes:
            p.send({"go": start_at, "stop": start_at + seconds})
        sleep_until(start_at)
        cpu.begin()
        seq_start = centre_seq(db, centre.centre_id)
        sleep_until(start_at + seconds)
        cpu.end()
        rss = server.rss_mib()  # every device still connected
        counter_res, kiosk_res = clients.receive(load_pipes, CALL_PERIOD_S * 2 + 120)
        time.sleep(1.0)
        final_seq = centre_seq(db, centre.centre_id)
        for p in display_pipes:
            p.send({"final_seq": final_seq})
        display_res = clients.receive(display_pipes, 120)
    finally:
        server.stop()
        clients.stop()
    report = lobby_report(db, centre, seconds, displays, counters, connected, prefilled, counter_res, kiosk_res,
                          display_res, cpu, final_seq - seq_start)
    report["server_rss_mib"] = rss
    return report


def lobby_report(db: Database, centre: BenchCentre, seconds: float, displays: int, counters: int, connected: dict,
                 prefilled: dict, counter_res: dict, kiosk_res: dict, display_res: list[dict], cpu: CpuWindow,
                 events: int) -> dict:
    sent = {tid: (s, a) for tid, s, a, _read in counter_res["calls"]}
    upper, lower, exact, read, unmatched = [], [], [], [], 0
    for r in display_res:
        for tid, arrived, read_at, committed_at in r["calls"]:
            if tid not in sent:
                unmatched += 1
                continue
            s, a = sent[tid]
            upper.append(arrived - s)
            lower.append(arrived - a)
            if committed_at is not None:
                exact.append(arrived - committed_at)
                read.append(read_at - committed_at)
    samples = exact if exact and len(exact) == len(upper) else upper
    lat = percentiles(samples)
    acks = percentiles([a - s for s, a in sent.values()])  # counter.next: the answer at the panel's socket
    tickets = prefilled["tickets"] + kiosk_res["tickets"]
    checks = audit(db, centre.centre_id, tickets)
    called_ids = [c[0] for c in counter_res["calls"]]
    called_twice = {"clients": len(called_ids) - len(set(called_ids)),
                    "displays": sum(r["called_twice"] for r in display_res),
                    "database": checks.pop("called_twice_database")}
    window = kiosk_res["window_s"] or seconds
    receivers = connected["displays"] + connected["counters"]
    errors = dict(counter_res["errors"])
    for k, n in kiosk_res["errors"].items():
        errors[f"issue {k}"] = errors.get(f"issue {k}", 0) + n
    return {
        "displays": displays, "counters": counters, "seconds": seconds, "connected": connected,
        "prefilled": len(prefilled["tickets"]), "calls": len(called_ids), "completed": counter_res["completed"],
        "next_found_nothing": counter_res["empty"],
        "calls_per_s": round(len(called_ids) / seconds, 2),
        "calls_per_s_offered": round(connected["counters"] / CALL_PERIOD_S, 2),
        "issued": len(kiosk_res["tickets"]), "issued_per_s": round(len(kiosk_res["tickets"]) / window, 2),
        "issued_per_s_offered": LOBBY_ISSUE_RATE,
        "events": events, "events_per_s": round(events / seconds, 1),
        "messages_per_s": round(events * receivers / seconds),
        "call_to_display_ms": {"from": "commit" if samples is exact else "send (upper bound)", **lat},
        "call_to_display_read_ms": percentiles(read),
        "ack_to_display_ms": percentiles(lower),
        "call_ack_ms": acks,
        "call_ack_read_ms": percentiles([read - s for _tid, s, _a, read in counter_res["calls"]]),
        "issue_latency_ms": percentiles(kiosk_res["latencies"]),
        "display_samples_unmatched": unmatched,
        "events_missed": sum(r["missing"] for r in display_res),
        "events_received_twice": sum(r["duplicated"] for r in display_res),
        "displays_disconnected": sum(r["disconnected"] for r in display_res),
        "errors": errors,
        **checks,
        "called_twice": called_twice,
        "cpu": cpu.report([counter_res, kiosk_res, *display_res]),
        "targets_met": {"p99": None if lat["p99"] is None else lat["p99"] <= TARGETS["lobby_p99_ms"],
                        "next_p99": None if acks["p99"] is None else acks["p99"] <= TARGETS["next_p99_ms"]},
    }


# ---- the whole bench -----------------------------------------------------------------------------
def run_bench(db_url: str | None = None, displays: int = 200, counters: int = 60, seconds: float = 30.0,
              scenarios: tuple[str, ...] = ("issue", "lobby"), progress: Progress = lambda _m: None,
              open_loop: float | None = None, workers: int = 1, message_queue: str | None = None,
              via_nginx: bool = False) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="layso-bench-"))
    url = db_url or f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    try:
        upgrade(db)
        kind = "sqlite (WAL, synchronous=FULL)" if db.sqlite else db.url.split("://")[0].split("+")[0]
        report: dict = {"database": kind,
                        "cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()],
                        "targets": TARGETS, "server_processes": workers, "via_nginx": via_nginx}
        serving = {"workers": workers, "message_queue": message_queue, "via_nginx": via_nginx}
        if "issue" in scenarios:
            report["issue"] = run_issue(db, workdir, seconds, progress, open_loop, serving)
        if "lobby" in scenarios:
            report["lobby"] = run_lobby(db, workdir, seconds, displays, counters, progress, serving)
        report["correct"] = all(correct(report[s]) for s in scenarios)
        report["failed_requests"] = sum(sum(report[s]["errors"].values()) for s in scenarios)
        return report
    finally:
        db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def correct(result: dict) -> bool:
    """No number issued twice, no ticket called twice or lost, no event missed."""
    return (not any(result["duplicate_numbers"].values()) and not any(result["called_twice"].values())
            and result["lost"] == 0 and result.get("events_missed", 0) == 0)


# ---- the table -----------------------------------------------------------------------------------
def _ms(p: dict, *keys: str) -> str:
    return " / ".join("–" if p[k] is None else f"{p[k]:.1f}" for k in keys)


def _ok(flag: bool | None) -> str:
    return "no samples" if flag is None else "ok" if flag else "MISSED"


def format_table(report: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []
    if "issue" in report:
        r = report["issue"]
        offered = r.get("open_loop_offered_per_s")
        rows += [
            ("issue", f"tickets/s ({r['kiosks']} kiosks, {r['tickets']} tickets)", f"{r['tickets_per_s']:.1f}",
             f"offered {offered:g} (open loop)" if offered else
             f"≥ {TARGETS['issue_tickets_per_s']:g} {_ok(r['targets_met']['rate'])}"),
            ("issue", f"latency p50 / p90 / p99 / max ms (from {r.get('latency_from', 'send')})",
             _ms(r["latency_ms"], "p50", "p90", "p99", "max"),
             f"p99 ≤ {TARGETS['issue_p99_ms']:g} {_ok(r['targets_met']['p99'])}"),
            ("issue", "errors", ", ".join(f"{k}: {n}" for k, n in r["errors"].items()) or "0", ""),
            *_check_rows("issue", r), *_cpu_rows("issue", r["cpu"]),
            ("issue", "server CPU ms per ticket (1000 / this = tickets/s one free core could issue)",
             "–" if r.get("server_cpu_ms_per_ticket") is None else f"{r['server_cpu_ms_per_ticket']:.2f}",
             f"≤ {1000 / TARGETS['issue_tickets_per_s']:g} for {TARGETS['issue_tickets_per_s']:g}/s"),
            *_rss_rows("issue", r)]
    if "lobby" in report:
        r = report["lobby"]
        c = r["call_to_display_ms"]
        rows += [
            ("lobby", "displays / counters connected",
             f"{r['connected']['displays']} / {r['connected']['counters']}", f"{r['displays']} / {r['counters']}"),
            ("lobby", "calls / completed / next found nothing", f"{r['calls']} / {r['completed']} / "
             f"{r['next_found_nothing']}", ""),
            ("lobby", "calls/s, issued/s (each client waits for its answer)",
             f"{r['calls_per_s']:.1f}, {r['issued_per_s']:.1f}",
             f"offered {r['calls_per_s_offered']:g}, {r['issued_per_s_offered']:g}"),
            ("lobby", "events/s, messages out/s", f"{r['events_per_s']:.1f}, {r['messages_per_s']}", ""),
            ("lobby", f"call→display p50 / p90 / p99 / max ms (from {c['from']} to the display's socket)",
             _ms(c, "p50", "p90", "p99", "max"),
             f"p99 ≤ {TARGETS['lobby_p99_ms']:g} {_ok(r['targets_met']['p99'])}"),
            ("lobby", "  … to the bench's read (its processes share the cores: 100 screens each)",
             _ms(r["call_to_display_read_ms"], "p50", "p90", "p99", "max"), ""),
            ("lobby", "panel's ack→display p50 / p99 ms (lower bound; < 0: display first)",
             _ms(r["ack_to_display_ms"], "p50", "p99"), ""),
            ("lobby", "counter.next round trip p50 / p99 ms (answer at the panel's socket)",
             _ms(r["call_ack_ms"], "p50", "p99"),
             f"p99 ≤ {TARGETS['next_p99_ms']:g} {_ok(r['targets_met'].get('next_p99'))}"),
            ("lobby", "  … to the bench's read", _ms(r["call_ack_read_ms"], "p50", "p99"), ""),
            ("lobby", "kiosk issue round trip p50 / p99 ms", _ms(r["issue_latency_ms"], "p50", "p99"), ""),
            ("lobby", "events missed / received twice", f"{r['events_missed']} / {r['events_received_twice']}", "0"),
            ("lobby", "errors", ", ".join(f"{k}: {n}" for k, n in r["errors"].items()) or "0", ""),
            *_check_rows("lobby", r), *_cpu_rows("lobby", r["cpu"]), *_rss_rows("lobby", r)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)] if rows else [0] * 4
    head = (f"layso bench — {report['database']}, {report.get('server_processes', 1)} server process(es)"
            f"{' behind nginx' if report.get('via_nginx') else ''}, "
            f"{report['cores']} cores, load average before "
            f"{' '.join(str(x) for x in report['load_average_before'])}")
    lines = [head, ""] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    lines.append("correct: yes" if report["correct"] else "correct: NO (see duplicates, double calls, lost, missed)")
    lines.append(f"failed requests: {report['failed_requests']}")
    return "\n".join(lines)


def _check_rows(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    d, c = r["duplicate_numbers"], r["called_twice"]
    return [(name, "numbers issued twice (clients / database)", f"{d['clients']} / {d['database']}", "0"),
            (name, "tickets called twice (" + " / ".join(c) + ")", " / ".join(str(v) for v in c.values()), "0"),
            (name, "tickets lost (issued, not in database)", str(r["lost"]), "0")]


def _cpu_rows(name: str, cpu: dict) -> list[tuple[str, str, str, str]]:
    def f(v):
        return "–" if v is None else f"{v:.2f}"
    return [(name, f"CPU cores: server / {cpu['client_processes']} client processes / rest of machine "
                   "(database server, other users)",
             f"{f(cpu['server_cores'])} / {f(cpu['clients_cores'])} / {f(cpu['rest_of_machine_cores'])}",
             f"of {cpu['cores']}; busiest client process {cpu['busiest_client_process_share']:.0%}"),
            (name, "a sleeping thread's wake-up, late ms p50 / p99 / max (the machine's stalls)",
             _ms(cpu["wake_late_ms"], "p50", "p99", "max"), f"{cpu['wake_late_ms']['late']} late by ≥ {LATE_MS:g} ms")]


def _rss_rows(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    rss = r.get("server_rss_mib") or []
    if not rss:
        return []
    return [(name, "server resident memory MiB, per process (end of load)", " / ".join(f"{m:.0f}" for m in rss),
             "≤ 100 a process")]
