"""A year of a whole province: N centres (one provincial centre and N − 1 commune centres), each with
its year simulated by `layso.bench.year` — for timing the province's statistics and month report.

    python bench/generate_year.py --db sqlite:///province.db --centres 100
    python bench/generate_year.py --db postgresql://postgres@127.0.0.1:5432/layso_province --centres 100

The communes use the commune preset with its real hours (closed on Sundays and holidays, Saturday
mornings only), spread over ten areas, each with about `commune_tickets` a year (±40 %, so the
centres differ); the provincial centre the province preset with `province_tickets`. Rows are written
with the generator's bulk inserts (executemany on SQLite, COPY on PostgreSQL), and the database
analysed once at the end.
"""
from __future__ import annotations

import random
import time as _time
from datetime import date

from layso.bench.year import Summary, _analyze, generate
from layso.config import load_preset, parse_config, preset_data
from layso.server.engine import seed_centre
from layso.server.engine.centres import create_from_config
from layso.server.storage.database import Database

PLACES = ("An Bình", "Bình Minh", "Đông Hòa", "Tân Lập", "Phú Mỹ", "Long Sơn", "Hòa Hiệp", "Thạnh Phú", "Mỹ Lộc",
          "Quảng Điền")


def commune_data(i: int) -> dict:
    data = preset_data("commune")  # real hours
    data["centre"].update(code=f"xa-{i:03d}", name=f"Trung tâm xã {PLACES[i % 10]} {i // 10 + 1}",
                          area=f"Khu vực {i % 10 + 1}")
    return data


def generate_province(db: Database, centres: int, start: date, days: int = 365, commune_tickets: int = 25_000,
                      province_tickets: int = 250_000, seed: int = 1, progress=None) -> tuple[Summary, list[int]]:
    """Create the province's centres in an empty database and simulate their year; → (the totals, the
    centres' ids, the provincial centre first)."""
    t0 = _time.perf_counter()
    rng = random.Random(seed)
    ids = [seed_centre(db, load_preset("province"))]
    for i in range(1, centres):
        ids.append(create_from_config(db, parse_config(commune_data(i)), kind="commune"))
    total = Summary()
    for n, cid in enumerate(ids):
        tickets = province_tickets if n == 0 else round(commune_tickets * rng.uniform(0.6, 1.4))
        s = generate(db, cid, start, days, tickets, seed=seed + n, analyze=False)
        total.days, total.open_days = s.days, max(total.open_days, s.open_days)
        total.tickets, total.events, total.ratings = total.tickets + s.tickets, total.events + s.events, \
            total.ratings + s.ratings
        if progress and (n % 10 == 9 or n == len(ids) - 1):
            progress(f"{n + 1} of {len(ids)} centres: {total.tickets} tickets, {total.events} events, "
                     f"{total.ratings} ratings in {_time.perf_counter() - t0:.0f} s")
    _analyze(db)
    total.seconds = _time.perf_counter() - t0
    return total, ids
