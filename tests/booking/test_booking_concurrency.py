"""Caps and limits under concurrent booking: 8 phones and 8 kiosks at once against a real server
process on 127.0.0.1, on SQLite and on PostgreSQL. Every number is given once, walk-ins and online
numbers never collide, no citizen passes the daily limit and the online share is never exceeded."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
from conftest import small_config_data, start_server

PHONES = 8
KIOSKS = 8
TRIES_PER_PHONE = 6  # more than the limit: the extra ones must be refused
TICKETS_PER_KIOSK = 6
ONLINE_CAP = 5  # online numbers of bhxh: fewer than the 8 phones want


def run_crowd(sp) -> dict:
    kiosk_tokens = [sp.add_device("kiosk", f"Kiosk {i}") for i in range(KIOSKS)]
    start = threading.Barrier(PHONES + KIOSKS)
    out = {"online": [], "walk_in": [], "refused": Counter(), "errors": []}
    lock = threading.Lock()

    def phone(i: int):
        s = requests.Session()  # one browser: its cookie makes it one citizen
        start.wait()
        for k in range(TRIES_PER_PHONE):
            field = "bhxh" if k % 2 == 0 else "dat-dai"
            try:
                r = s.post(sp.url + "/api/v1/bookings", json={"field": field}, timeout=30)
            except requests.RequestException as err:
                with lock:
                    out["errors"].append(repr(err))
                continue
            with lock:
                if r.status_code == 201:
                    out["online"].append((i, field, r.json()["number"], r.json()["code"]))
                elif r.status_code == 409:
                    out["refused"][r.json()["error"]["code"]] += 1
                else:
                    out["errors"].append((r.status_code, r.text[:200]))

    def kiosk(i: int):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {kiosk_tokens[i]}"
        start.wait()
        for k in range(TICKETS_PER_KIOSK):
            field = "bhxh" if (i + k) % 2 == 0 else "dat-dai"
            r = s.post(sp.url + "/api/v1/tickets", json={"field": field}, timeout=30)
            with lock:
                if r.status_code == 201:
                    out["walk_in"].append((field, r.json()["number"]))
                else:
                    out["errors"].append((r.status_code, r.text[:200]))

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(PHONES)]
    threads += [threading.Thread(target=kiosk, args=(i,)) for i in range(KIOSKS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def check(out: dict) -> None:
    assert out["errors"] == []
    per_phone = Counter(p for p, *_ in out["online"])
    # each phone reaches its limit of 2 (dat-dai is not capped), never more
    assert sorted(per_phone.values()) == [2] * PHONES
    online_bhxh = [o for o in out["online"] if o[1] == "bhxh"]
    assert len(online_bhxh) == ONLINE_CAP  # wanted by all 8 phones: exactly the cap is given
    given = [(f, n) for _p, f, n, _c in out["online"]] + out["walk_in"]
    assert len(given) == len(set(given)), "a number was given twice"
    assert len(out["walk_in"]) == KIOSKS * TICKETS_PER_KIOSK
    for field in ("bhxh", "dat-dai"):
        nums = sorted(int(n) for f, n in given if f == field)
        assert nums == list(range(nums[0], nums[0] + len(nums)))  # one sequence, no gaps
    codes = [c for *_x, c in out["online"]]
    assert len(codes) == len(set(codes))
    # everything else was refused for the limit or the cap, nothing for another reason
    assert sum(out["refused"].values()) == PHONES * TRIES_PER_PHONE - PHONES * 2
    assert set(out["refused"]) == {"booking_limit", "daily_cap_reached"}


def crowd_config() -> dict:
    data = small_config_data()
    data["booking"]["field_caps"] = {"bhxh": ONLINE_CAP}
    data["booking"]["per_citizen_daily"] = 2
    return data


@pytest.mark.timeout(300)
def test_concurrent_booking_on_sqlite(tmp_path):
    sp = start_server(tmp_path, config=crowd_config())
    try:
        out = run_crowd(sp)
    finally:
        sp.stop()
    check(out)


@pytest.mark.timeout(300)
def test_concurrent_booking_on_postgresql(tmp_path, pg_url):
    sp = start_server(tmp_path, db_url=pg_url, config=crowd_config())
    try:
        out = run_crowd(sp)
    finally:
        sp.stop()
    check(out)
