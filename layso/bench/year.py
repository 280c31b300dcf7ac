"""Generate a year of a busy provincial centre: about 250,000 tickets with their events and ratings.

    python bench/generate_year.py --db sqlite:///year.db            # province preset, 2026
    python bench/generate_year.py --db postgresql://postgres@127.0.0.1:5432/layso_year --tickets 250000

A discrete-event simulation, one local day at a time: arrivals peak before opening and in the first
hours of each session (Mondays and the weeks after Tết busier, the lunch break closed), each
counter's officer serves its fields with the centre's priority rule (one priority ticket per N
normal ones, or strict), citizens are sometimes absent when called (skip, requeue, no-show), come
back on a recall, are transferred to another field, cancel through their link, or are still
waiting at closing (cancelled, `day_closed`); about 45 % of those served rate the service, on the
counter panel or later through the ticket's link. The queue's rules are the server's own
(`layso.server.domain`: call order and priority, skip, rating window, reasons and hash chain).
Everything is written with bulk inserts (executemany on SQLite, COPY on PostgreSQL),
in commit order: the append-only tables are written once, right.

`generate()` is also used by the tests on a few days of a small centre (`layso.bench.year`).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import json
import math
import random
import sys
import time as _time
from bisect import bisect_right
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate

from layso.server.domain import figures, rating
from layso.server.domain.accounts import hash_secret
from layso.server.domain.queue import SINCE_START, serves, skip_outcome
from layso.server.domain.statuses import CancelReason, RatingSource, TicketStatus
from layso.server.engine import Settings, seed_centre
from layso.server.storage.database import Database
from layso.server.storage.migrate import upgrade
from layso.server.storage.models import (
    Centre,
    Counter,
    CounterField,
    Device,
    Field,
    Rating,
    Ticket,
    TicketEvent,
    User,
)
from sqlalchemy import func, select

from layso.config import load_config, load_preset

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Share of the day's citizens and median service minutes by field code (others: 1.6 and 8).
FIELD_WEIGHT = {"dat-dai": 13, "bhxh": 10, "giay-phep-lai-xe": 9, "tra-ket-qua": 8, "ho-tich": 6,
                "xay-dung": 5, "nha-o": 2, "thue": 6, "dang-ky-doanh-nghiep": 5, "huong-dan": 6,
                "cong-chung": 4, "ly-lich-tu-phap": 4, "thu-phi": 4, "lao-dong": 3, "tu-phap-ho-tich": 8}
SERVICE_MIN = {"dat-dai": 10, "xay-dung": 11, "bhxh": 7, "ho-tich": 7, "giay-phep-lai-xe": 6, "thue": 7,
               "dang-ky-doanh-nghiep": 9, "huong-dan": 4, "tra-ket-qua": 3, "thu-phi": 2.5, "cong-chung": 6}
WEEKDAY_LOAD = (1.25, 1.1, 1.0, 1.0, 0.95, 0.55, 0.45)
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
            "Ngô", "Dương", "Lý")
MIDDLE = ("Thị", "Văn", "Minh", "Thu", "Hữu", "Ngọc", "Đức", "Thanh", "Quốc", "Hoài")
GIVEN = ("Lan", "Minh", "Hùng", "Hương", "Tuấn", "Mai", "Dũng", "Hà", "Phúc", "Trang", "Sơn", "Yến", "Khánh",
         "Thảo", "Nam", "Hạnh", "Quân", "Linh", "Bình", "Ánh")

P_ABSENT_FIRST = 0.04      # not there when first called
P_ABSENT_AGAIN = 0.5       # after a skip, not there again
P_RECALL = 0.08            # called twice before coming
P_TRANSFER = 0.02          # sent to another field after a first look (huong-dan: 0.15)
P_CANCEL = 0.012           # cancels through the link while waiting
P_PRIORITY = 0.07
P_RATED = 0.45
P_RATED_ON_PANEL = 0.75
P_DOSSIER = 0.8


def _ts(us: int) -> str:
    """Integer microseconds since the epoch → the database's text form (naive UTC)."""
    return (EPOCH + timedelta(microseconds=us)).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _aware(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _us(dt: datetime) -> int:
    return figures.micros(dt - EPOCH)


# ---- bulk writing ---------------------------------------------------------------------------------
class BulkWriter:
    """executemany on SQLite, COPY on PostgreSQL; one transaction per `flush`."""

    def __init__(self, db: Database):
        self.db = db
        self.raw = db.write_engine.raw_connection()
        self.sqlite = db.sqlite
        self.pending: list[tuple[str, tuple[str, ...], list[tuple]]] = []

    def add(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if rows:
            self.pending.append((table, columns, rows))

    def flush(self) -> None:
        if not self.pending:
            return
        cur = self.raw.cursor()
        if self.sqlite:
            cur.execute("BEGIN")
            for table, columns, rows in self.pending:
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            cur.execute("COMMIT")
        else:
            pg = self.raw.driver_connection
            with pg.cursor() as pcur:
                for table, columns, rows in self.pending:
                    with pcur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            pg.commit()
        cur.close()
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        self.raw.close()


TICKET_COLUMNS = ("id", "centre_id", "field_id", "issue_field_id", "day", "seq_in_day", "number", "priority",
                  "priority_reason", "channel", "request_id", "request_hash", "status", "issued_at",
                  "first_called_at", "called_at", "completed_at", "ended_at", "queue_pos", "counter_id",
                  "officer_id", "transfer_counter_id", "transferred", "skips", "calls", "dossier_code",
                  "cancel_reason", "track_token", "device_id")
EVENT_COLUMNS = ("id", "centre_id", "ticket_id", "seq", "type", "at", "counter_id", "officer_id", "device_id", "data")
RATING_COLUMNS = ("id", "centre_id", "ticket_id", "score", "reasons", "comment", "officer_id", "counter_id",
                  "field_id", "dossier_code", "source", "at", "prev_hash", "hash")


# ---- the simulated centre ---------------------------------------------------------------------------
@dataclass
class FieldInfo:
    id: int
    code: str
    weight: float
    service_s: float
    cutoff_min: int | None  # local minutes after midnight
    fmt: callable


@dataclass
class CounterInfo:
    id: int
    number: int
    fields: list[int]
    priority_only: bool
    officer: int | None = None
    speed: float = 1.0
    normals: int = SINCE_START
    idle: bool = False


@dataclass
class SimTicket:
    idx: int
    field: int
    issue_field: int
    issued: int  # µs
    seq_in_day: int
    number: str
    priority: str | None
    channel: str
    device: int | None
    status: str = TicketStatus.WAITING
    first_called: int | None = None
    called: int | None = None
    completed: int | None = None
    ended: int | None = None
    counter: int | None = None
    officer: int | None = None
    transferred: bool = False
    skips: int = 0
    calls: int = 0
    dossier: str | None = None
    cancel_reason: str | None = None
    pos: float = 0.0
    events: list = dc_field(default_factory=list)


@dataclass
class Summary:
    days: int = 0
    open_days: int = 0
    tickets: int = 0
    events: int = 0
    ratings: int = 0
    seconds: float = 0.0


class Generator:
    def __init__(self, db: Database, centre_id: int, seed: int = 1):
        self.db = db
        self.centre_id = centre_id
        self.rng = random.Random(seed)
        with db.read() as s:
            centre = s.get(Centre, centre_id)
            self.tz_name = centre.timezone
            cfg = Settings.of(centre)
            self.hours = cfg.hours
            self.rule = cfg.rule
            self.categories = list(cfg.categories)
            self.queue = cfg.queue
            self.rating = cfg.rating
            self.levels = sorted(lv.score for lv in cfg.rating.levels)
            self.reasons = cfg.rating.reasons or ["Khác"]
            self.link_window_us = int(rating.window(RatingSource.LINK, cfg.rating).total_seconds()) * 1_000_000
            self.panel_window_us = int(rating.window(RatingSource.PANEL, cfg.rating).total_seconds()) * 1_000_000
            self.early_min = self.hours.cfg.early_issue_minutes
            fields = s.execute(select(Field).where(Field.centre_id == centre_id, Field.active.is_(True))
                               .order_by(Field.position)).scalars().all()
            self.fields = {f.id: FieldInfo(f.id, f.code, FIELD_WEIGHT.get(f.code, 1.6),
                                           SERVICE_MIN.get(f.code, 8) * 60, _minutes(f.cutoff), f.format_number)
                           for f in fields}
            links = s.execute(select(CounterField.counter_id, CounterField.field_id)).all()
            counters = s.execute(select(Counter).where(Counter.centre_id == centre_id, Counter.active.is_(True))
                                 .order_by(Counter.number)).scalars().all()
            self.counters = [CounterInfo(c.id, c.number, [f for cid, f in links if cid == c.id and f in self.fields],
                                         c.priority_only) for c in counters]
            self.next_ticket = (s.execute(select(func.max(Ticket.id))).scalar() or 0) + 1
            self.next_event = (s.execute(select(func.max(TicketEvent.id))).scalar() or 0) + 1
            self.next_rating = (s.execute(select(func.max(Rating.id))).scalar() or 0) + 1
            self.seq = centre.seq
            self.prev_hash = s.execute(select(Rating.hash).where(Rating.centre_id == centre_id)
                                       .order_by(Rating.id.desc()).limit(1)).scalar() or rating.GENESIS
        self.served_by = {fid: [c for c in self.counters if fid in c.fields and serves(c.priority_only, False)]
                          for fid in self.fields}
        self.request_hashes: dict[tuple, str] = {}
        self.carry: list[tuple] = []  # events after the flushed day (ratings through the link)
        self.order = 0

    # ---- people and devices -------------------------------------------------------------------
    def staff(self) -> None:
        """An officer per counter plus a few stand-ins, three kiosks; inserted through the ORM."""
        rng = self.rng
        password = hash_secret("bench-password-1", method="pbkdf2:sha256:1000")
        now = datetime.now(UTC)
        with self.db.write() as s:
            users = []
            for i in range(len(self.counters) + max(2, len(self.counters) // 5)):
                name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
                u = User(centre_id=self.centre_id, username=f"cb{self.centre_id}-{i + 1:03d}", full_name=name,
                         password_hash=password, role="staff", active=True, created_at=now)
                s.add(u)
                users.append(u)
            kiosks = [Device(centre_id=self.centre_id, role="kiosk", name=f"Kiosk {i + 1}",
                             token_hash=hashlib.sha256(rng.randbytes(24)).hexdigest(), created_at=now)
                      for i in range(3)]
            s.add_all(kiosks)
            s.flush()
            self.officers = [u.id for u in users[:len(self.counters)]]
            self.standins = [u.id for u in users[len(self.counters):]]
            self.kiosks = [d.id for d in kiosks]
        self.speed = {uid: math.exp(rng.gauss(0, 0.12)) for uid in self.officers + self.standins}

    # ---- the calendar ---------------------------------------------------------------------------
    def day_weights(self, start: date, days: int) -> dict[date, float]:
        rng = self.rng
        open_days = [start + timedelta(days=i) for i in range(days)
                     if self.hours.intervals_on(start + timedelta(days=i))]
        holidays = set(self.hours.cfg.holidays)
        weights = {}
        for d in open_days:
            w = WEEKDAY_LOAD[d.weekday()]
            # the weeks after a long holiday (Tết) are the busiest of the year
            long_break = sum(1 for k in range(1, 22) if d - timedelta(days=k) in holidays)
            if long_break >= 4:
                w *= 1.2
            if d.month in (11, 12):  # year-end land registration and insurance
                w *= 1.1
            weights[d] = w * math.exp(rng.gauss(0, 0.1))
        return weights

    # ---- one day --------------------------------------------------------------------------------
    def simulate_day(self, d: date, n: int) -> list[SimTicket]:
        rng = self.rng
        intervals = [(_us(s), _us(e)) for s, e in self.hours.intervals_on(d)]
        day_start = _us(datetime.combine(d, datetime.min.time(), self.hours.tz))
        # arrival density by minute over the issuing windows
        bins, weights = [], []
        for i, (s, e) in enumerate(intervals):
            peak = 1.8 if i == 0 else 1.0
            early = max(day_start, s - self.early_min * 60_000_000)
            for m in range((early - day_start) // 60_000_000, (e - day_start) // 60_000_000):
                t = day_start + m * 60_000_000
                if t < s:
                    w = 2.2 if i == 0 else 1.2
                else:
                    w = 0.5 + peak * math.exp(-(t - s) / (100 * 60_000_000))
                    if e - t < 30 * 60_000_000:
                        w *= 0.5
                bins.append(m)
                weights.append(w)
        cum = list(accumulate(weights))
        arrivals = sorted(day_start + m * 60_000_000 + rng.randrange(60_000_000)
                          for m in rng.choices(bins, cum_weights=cum, k=n))
        choices: dict[int, tuple[list[int], list[float]]] = {}  # by local minute: fields still issuing
        seq_in_day: dict[int, int] = {}
        tickets: list[SimTicket] = []
        for at in arrivals:
            minute = (at - day_start) // 60_000_000
            hit = choices.get(minute)
            if hit is None:
                fids = [f for f, info in self.fields.items() if info.cutoff_min is None or minute < info.cutoff_min]
                hit = choices[minute] = (fids, list(accumulate(self.fields[f].weight for f in fids)))
            if not hit[0]:
                continue
            fid = rng.choices(hit[0], cum_weights=hit[1])[0]
            k = seq_in_day[fid] = seq_in_day.get(fid, 0) + 1
            prio = rng.choice(self.categories) if self.categories and rng.random() < P_PRIORITY else None
            channel = "kiosk" if rng.random() < 0.96 else "staff"
            t = SimTicket(len(tickets), fid, fid, at, k, self.fields[fid].fmt(k), prio, channel,
                          rng.choice(self.kiosks) if channel == "kiosk" else None, pos=float(at))
            tickets.append(t)
        self._run_queue(d, tickets, intervals)
        self.seq_in_day = seq_in_day
        return tickets

    def _run_queue(self, d: date, tickets: list[SimTicket], intervals: list[tuple[int, int]]) -> None:
        rng = self.rng
        # officers at their counters today
        for i, c in enumerate(self.counters):
            c.normals = SINCE_START
            c.idle = False
            main = self.officers[i]
            c.officer = main if rng.random() < 0.93 else (rng.choice(self.standins) if self.standins else None)
            c.speed = self.speed.get(c.officer, 1.0)
        staffed = [c for c in self.counters if c.officer is not None]
        queues = {f: {"x": [], "p": [], "n": []} for f in self.fields}
        events: list[tuple] = []  # (time, order, kind, payload)

        def push(at, kind, payload):
            self.order += 1
            heapq.heappush(events, (at, self.order, kind, payload))

        def log(t: SimTicket, at: int, type_: str, counter=None, officer=None, device=None, data=None):
            self.order += 1
            t.events.append((at, self.order, type_, counter, officer, device, data or {}))

        def enqueue(t: SimTicket, kind: str):
            heapq.heappush(queues[t.field][kind], (t.pos, t.idx))

        def working(at: int) -> tuple[int, int] | None:
            for s, e in intervals:
                if s <= at < e:
                    return s, e
            return None

        def next_start(at: int) -> int | None:
            for s, _e in intervals:
                if s > at:
                    return s
            return None

        def peek(c: CounterInfo, kind: str):
            best = None
            for f in c.fields:
                q = queues[f][kind]
                while q and tickets[q[0][1]].status != TicketStatus.WAITING:
                    heapq.heappop(q)
                if q and (best is None or q[0] < best[0]):
                    best = (q[0], f)
            return best

        def pick(c: CounterInfo) -> SimTicket | None:
            hit = peek(c, "x")
            if hit is None:
                prio = peek(c, "p")
                normal = None if c.priority_only else peek(c, "n")
                first = self.rule.priority_next(c.normals, prio is not None, normal is not None, c.priority_only)
                hit = prio if first else normal
                if hit is not None and not c.priority_only:
                    c.normals = self.rule.after_call(c.normals, first)
            if hit is None:
                return None
            (_pos, idx), f = hit
            kind = "x" if tickets[idx].transferred else ("p" if tickets[idx].priority else "n")
            heapq.heappop(queues[f][kind])
            return tickets[idx]

        for t in tickets:
            log(t, t.issued, "ticket.issued", device=t.device,
                data={"channel": t.channel, "priority": t.priority, "number": t.number})
            push(t.issued, "arrive", t.idx)
            if rng.random() < P_CANCEL:
                push(t.issued + rng.randrange(5, 60) * 60_000_000, "cancel", t.idx)
        for c in staffed:
            c.idle = True
        for s, _e in intervals:
            push(s, "open", None)

        def wake(f: int, at: int):
            cands = [c for c in staffed if c.idle and (f in c.fields) and working(at)]
            if cands:
                c = rng.choice(cands)
                c.idle = False
                push(at + rng.randrange(3_000_000, 25_000_000), "free", c)

        while events:
            at, _o, kind, payload = heapq.heappop(events)
            if kind == "arrive":
                t = tickets[payload]
                if t.status == TicketStatus.WAITING:
                    enqueue(t, "x" if t.transferred else ("p" if t.priority else "n"))
                    wake(t.field, at)
                    if t.priority:  # the priority counter, too
                        for c in staffed:
                            if c.priority_only and c.idle and t.field in c.fields and working(at):
                                c.idle = False
                                push(at + rng.randrange(3_000_000, 25_000_000), "free", c)
            elif kind == "open":  # officers take their seats
                for c in staffed:
                    if c.idle:
                        c.idle = False
                        push(at + rng.randrange(0, 6 * 60_000_000), "free", c)
            elif kind == "cancel":
                t = tickets[payload]
                if t.status == TicketStatus.WAITING:
                    t.status, t.cancel_reason, t.ended = TicketStatus.CANCELLED, CancelReason.CITIZEN, at
                    log(t, at, "ticket.cancelled", data={"reason": CancelReason.CITIZEN})
            else:  # a counter is free
                c = payload
                if working(at) is None:
                    s = next_start(at)
                    if s is not None:
                        push(s + rng.randrange(0, 8 * 60_000_000), "free", c)
                    continue
                t = pick(c)
                if t is None:
                    c.idle = True
                    continue
                push(self._serve(c, t, at, log, push), "free", c)

        closing = intervals[-1][1]
        for t in tickets:
            if t.status == TicketStatus.WAITING:
                at = max(closing, t.events[-1][0]) + rng.randrange(1_000_000, 15_000_000)
                t.status, t.cancel_reason, t.ended = TicketStatus.CANCELLED, CancelReason.DAY_CLOSED, at
                log(t, at, "ticket.cancelled", data={"reason": CancelReason.DAY_CLOSED})

    def _serve(self, c: CounterInfo, t: SimTicket, at: int, log, push) -> int:
        """Call `t` at counter `c` at `at`; play out what follows; return when the counter is free again."""
        rng = self.rng
        first = t.first_called is None
        t.status, t.called, t.counter, t.officer = TicketStatus.CALLED, at, c.id, c.officer
        if first:
            t.first_called = at
        t.calls += 1
        t.transferred = False
        log(t, at, "ticket.called", counter=c.id, officer=c.officer, data={"how": "next"})
        absent = rng.random() < (P_ABSENT_AGAIN if t.skips else P_ABSENT_FIRST)
        if rng.random() < P_RECALL or absent:
            at += rng.randrange(30, 75) * 1_000_000
            t.called = at
            t.calls += 1
            log(t, at, "ticket.recalled", counter=c.id, officer=c.officer)
        if absent:
            at += rng.randrange(45, 120) * 1_000_000
            t.skips += 1
            t.status = skip_outcome(self.queue.skip_action, t.skips, self.queue.max_skips)
            if t.status == TicketStatus.NO_SHOW:
                t.ended = at
            else:
                t.pos = self._requeue_pos(t)
                push(at, "arrive", t.idx)
            log(t, at, "ticket.skipped", counter=c.id, officer=c.officer,
                data={"skips": t.skips, "outcome": t.status})
            return at + rng.randrange(3, 15) * 1_000_000
        f = self.fields[t.field]
        service = f.service_s * c.speed * math.exp(rng.gauss(0, 0.45))
        p_transfer = 0.15 if f.code == "huong-dan" else P_TRANSFER
        if len(self.fields) > 1 and rng.random() < p_transfer:
            at += int(min(service, 240) * 1_000_000 * rng.uniform(0.3, 1.0))
            target = rng.choice([x for x in self.fields if x != t.field and self.served_by[x]])
            t.field, t.transferred, t.status, t.pos = target, True, TicketStatus.WAITING, float(at)
            log(t, at, "ticket.transferred", counter=c.id, officer=c.officer,
                data={"from_counter": c.number, "to_field": self.fields[target].code})
            push(at, "arrive", t.idx)
            return at + rng.randrange(5, 20) * 1_000_000
        at += max(30_000_000, int(service * 1_000_000))
        t.status, t.completed, t.ended = TicketStatus.DONE, at, at
        if rng.random() < P_DOSSIER:
            local = _aware(at).astimezone(self.hours.tz)
            t.dossier = f"H{rng.randrange(10, 99)}.{rng.randrange(10, 99)}-{local:%y%m%d}-{rng.randrange(1, 9999):04d}"
        log(t, at, "ticket.completed", counter=c.id, officer=c.officer,
            data={"dossier_code": t.dossier} if t.dossier else {})
        if rng.random() < P_RATED:
            wait_min = (t.first_called - t.issued) / 60_000_000
            panel = rng.random() < P_RATED_ON_PANEL
            when = at + (rng.randrange(3_000_000, self.panel_window_us - 1_000_000) if panel
                         else rng.randrange(120_000_000, min(self.link_window_us, 48 * 3600 * 1_000_000)))
            score = self._score(wait_min)
            reasons, comment = [], None
            if rating.needs_reason(score, self.rating.reason_max, reasons, comment):
                reasons = [rng.choice(self.reasons)]
                if rng.random() < 0.3:
                    comment = "Phải chờ quá lâu, đề nghị bố trí thêm quầy." if wait_min > 40 else "Cần hướng dẫn rõ hơn."
            self.order += 1
            t.events.append((when, self.order, "ticket.rated", c.id, c.officer, None,
                             {"score": score, "source": RatingSource.PANEL if panel else RatingSource.LINK},
                             (score, reasons, comment)))
        return at + rng.randrange(10, 60) * 1_000_000

    def _requeue_pos(self, t: SimTicket) -> float:
        # behind `requeue_behind` others, approximately: a little after the present time
        return float(t.called or t.issued) + self.queue.requeue_behind * 60_000_000

    def _score(self, wait_min: float) -> int:
        """Mostly satisfied; less so after a long wait. Mapped onto the centre's scale."""
        good = self.rng.random()
        good -= 0.15 if wait_min > 45 else (0.06 if wait_min > 15 else 0.0)
        n = len(self.levels)
        cuts = {3: (0.08, 0.30), 4: (0.04, 0.12, 0.42), 5: (0.03, 0.08, 0.20, 0.50)}[n]
        return self.levels[bisect_right(cuts, good)]

    # ---- rows ---------------------------------------------------------------------------------
    def day_rows(self, d: date, tickets: list[SimTicket], writer: BulkWriter, until_us: int, summary: Summary):
        ids = {t.idx: self.next_ticket + t.idx for t in tickets}
        self.next_ticket += len(tickets)
        pending = self.carry
        for t in tickets:
            tid = ids[t.idx]
            for ev in t.events:
                pending.append((ev[0], ev[1], tid, t, *ev[2:]))
        pending.sort(key=lambda e: (e[0], e[1]))
        cut = bisect_right([e[0] for e in pending], until_us - 1)
        now_rows, self.carry = pending[:cut], pending[cut:]
        issue_seq: dict[int, int] = {}
        events, ratings = [], []
        for ev in now_rows:
            at, _o, tid, t, type_, counter, officer, device, data = ev[:9]
            self.seq += 1
            if type_ == "ticket.issued":
                issue_seq[tid] = self.seq
            events.append((self.next_event, self.centre_id, tid, self.seq, type_, _ts(at), counter, officer, device,
                           json.dumps(data, ensure_ascii=False)))
            self.next_event += 1
            if type_ == "ticket.rated":
                score, reasons, comment = ev[9]
                source = data["source"]
                digest = rating.chain_hash(self.prev_hash, rating.body(tid, score, reasons, comment, t.officer, t.counter,
                                                                       t.field, t.dossier, source, _aware(at)))
                ratings.append((self.next_rating, self.centre_id, tid, score, json.dumps(reasons, ensure_ascii=False),
                                comment, t.officer, t.counter, t.field, t.dossier, source, _ts(at),
                                self.prev_hash, digest))
                self.prev_hash = digest
                self.next_rating += 1
        rows = []
        for t in tickets:
            tid = ids[t.idx]
            key = (self.fields[t.issue_field].code, t.priority, t.channel)
            rh = self.request_hashes.get(key)
            if rh is None:
                rh = self.request_hashes[key] = hashlib.sha256(json.dumps(list(key), default=str).encode()).hexdigest()
            rows.append((tid, self.centre_id, t.field, t.issue_field, d.isoformat(), t.seq_in_day, t.number,
                         t.priority, None, t.channel, None, rh, t.status, _ts(t.issued),
                         _opt(t.first_called), _opt(t.called), _opt(t.completed), _opt(t.ended),
                         float(issue_seq.get(tid, self.seq)), t.counter, t.officer, None, t.transferred, t.skips,
                         t.calls, t.dossier, t.cancel_reason,
                         base64.urlsafe_b64encode(self.rng.randbytes(18)).decode(), t.device))
        writer.add("tickets", TICKET_COLUMNS, rows)
        writer.add("day_sequences", ("field_id", "day", "last"),
                   [(f, d.isoformat(), n) for f, n in sorted(self.seq_in_day.items())] if tickets else [])
        writer.add("ticket_events", EVENT_COLUMNS, events)
        writer.add("ratings", RATING_COLUMNS, ratings)
        summary.tickets += len(tickets)
        summary.events += len(events)
        summary.ratings += len(ratings)

    def flush_carry(self, writer: BulkWriter, summary: Summary) -> None:
        self.day_rows(date.min, [], writer, 2**62, summary)


def _opt(us: int | None) -> str | None:
    return _ts(us) if us is not None else None


def _minutes(hhmm: str | None) -> int | None:
    if not hhmm:
        return None
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def generate(db: Database, centre_id: int, start: date, days: int = 365, tickets: int = 250_000, seed: int = 1,
             progress=None, analyze: bool = True) -> Summary:
    """Add `days` local days from `start` of simulated traffic (about `tickets` in all) to a centre;
    `analyze=False` leaves the database's statistics (ANALYZE) to the caller, e.g. after many centres."""
    t0 = _time.perf_counter()
    gen = Generator(db, centre_id, seed)
    gen.staff()
    weights = gen.day_weights(start, days)
    scale = tickets / sum(weights.values()) if weights else 0
    writer = BulkWriter(db)
    summary = Summary()
    last = start + timedelta(days=days - 1)
    try:
        for i in range(days):
            d = start + timedelta(days=i)
            day_tickets = []
            if d in weights:
                day_tickets = gen.simulate_day(d, max(1, round(weights[d] * scale)))
                summary.open_days += 1
            next_midnight = _us(datetime.combine(d + timedelta(days=1), datetime.min.time(), gen.hours.tz))
            gen.day_rows(d, day_tickets, writer, next_midnight, summary)
            summary.days += 1
            if i % 10 == 9 or i == days - 1:
                writer.flush()
                if progress:
                    progress(f"{d.isoformat()}: {summary.tickets} tickets, {summary.events} events, "
                             f"{summary.ratings} ratings")
        gen.flush_carry(writer, summary)
        writer.flush()
    finally:
        writer.close()
    with db.write() as s:
        centre = s.get(Centre, centre_id)
        centre.seq = gen.seq
        centre.closed_through = max(centre.closed_through or last, last)
    if analyze:
        _analyze(db)
    summary.seconds = _time.perf_counter() - t0
    return summary


def _analyze(db: Database) -> None:
    raw = db.write_engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("ANALYZE")
        cur.close()
        if not db.sqlite:
            raw.driver_connection.commit()
        if not db.sqlite:
            with raw.driver_connection.cursor() as c:
                for table in ("tickets", "ticket_events", "ratings", "users", "devices"):
                    c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
            raw.driver_connection.commit()
    finally:
        raw.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="database URL (sqlite:///PATH or postgresql://…)")
    p.add_argument("--config", help="a layso TOML config (default: the province preset, real hours)")
    p.add_argument("--start", default="2026-01-01", help="first local day (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--tickets", type=int, default=250_000, help="about this many tickets in all")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--centres", type=int, default=1,
                   help="a whole province: this many centres (the provincial one, and communes with --commune-tickets)")
    p.add_argument("--commune-tickets", type=int, default=25_000, help="with --centres: about this many a commune")
    args = p.parse_args(argv)
    if args.centres > 1:
        return _main_province(args)
    config = load_config(args.config) if args.config else load_preset("province")
    db = Database(args.db)
    upgrade(db)
    centre_id = seed_centre(db, config)
    with db.read() as s:
        if s.execute(select(func.count(Ticket.id)).where(Ticket.centre_id == centre_id)).scalar():
            print("generate_year: the centre has tickets already; use an empty database", file=sys.stderr)
            return 2
    summary = generate(db, centre_id, date.fromisoformat(args.start), args.days, args.tickets, args.seed,
                       progress=lambda m: print(m, flush=True))
    print(f"generated {summary.tickets} tickets, {summary.events} events, {summary.ratings} ratings over "
          f"{summary.open_days} open days of {summary.days} in {summary.seconds:.1f} s")
    db.dispose()
    return 0


def _main_province(args) -> int:
    from layso.bench.province_year import generate_province
    db = Database(args.db)
    upgrade(db)
    with db.read() as s:
        if s.execute(select(func.count(Ticket.id))).scalar():
            print("generate_year: the database has tickets already; use an empty database", file=sys.stderr)
            return 2
    summary, ids = generate_province(db, args.centres, date.fromisoformat(args.start), args.days,
                                     args.commune_tickets, args.tickets, args.seed,
                                     progress=lambda m: print(m, flush=True))
    print(f"generated {len(ids)} centres: {summary.tickets} tickets, {summary.events} events, {summary.ratings} "
          f"ratings in {summary.seconds:.1f} s")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
