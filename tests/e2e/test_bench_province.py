"""`layso bench --scenario province`: a short run with a few centres against a real server — every
connection up, events only to their own centre, nothing missed, duplicated or lost, the overview
polled and the costs reported."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layso.bench.province import commune_devices


def verdict(r: dict, proc) -> tuple:
    """What made a run incorrect (not the whole report, which pytest would cut short), and the log."""
    return ({k: r.get(k) for k in ("events_missed", "missed_examples", "events_received_twice", "foreign_events",
                                   "lost", "duplicate_numbers", "called_twice", "errors", "displays_disconnected")},
            proc.stderr[-2000:])


def test_first_calls_spread_over_the_whole_period_for_a_steady_load():
    import random

    from layso.bench.clients import first_call_delay
    from layso.bench.province import calls_by_tenth
    rng = random.Random(3)
    steady = [first_call_delay(rng, 300, 60, spread=300) for _ in range(2000)]
    assert max(steady) > 290 and sum(1 for d in steady if d < 60) / len(steady) < 0.25  # ≈ 1 in 5 in a minute
    burst = [first_call_delay(rng, 300, 60) for _ in range(2000)]  # the default: within half a short run
    assert max(burst) <= 30
    made = [{"calls": [(1, 100.0 + i * 0.5, 0.0, 0.0) for i in range(40)]}]  # two calls a second for 20 s
    assert calls_by_tenth(made, 100.0, 20.0) == [2.0] * 10


def test_commune_devices_split():
    assert commune_devices(8) == {"kiosk": 1, "display": 2, "counter": 5}
    assert commune_devices(1) == {"kiosk": 1, "display": 0, "counter": 0}
    assert sum(commune_devices(12).values()) == 12


@pytest.mark.slow
def test_a_short_province_run_is_correct_and_reports_its_costs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "layso.cli", "bench", "--scenario", "province", "--centres", "3",
                           "--devices-per-centre", "5", "--seconds", "6", "--call-period", "12", "--json"],
                          capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["centres"] == 4 and r["connected"] == {"displays": 3 + 16, "counters": 2 * 3 + 80, "failed": 0}  # the probe centre calls nobody
    assert r["correct"] is True and r["errors"] == {}, verdict(r, proc)
    assert r["events_missed"] == 0 and r["foreign_events"] == 0 and r["lost"] == 0
    assert r["duplicate_numbers"]["database"] == 0 and not any(r["called_twice"].values())
    assert r["calls"] > 0 and r["call_to_display_ms"]["n"] > 0 and r["call_to_display_ms"]["from"] == "commit"
    assert r["overview_query_ms"]["n"] > 0 and r["overview_visible_ms"]["n"] > 0 and r["overview_poll_s"] == 1.5
    assert len(r["calls_per_s_by_tenth"]) == 10 and r["calls_offered_per_s"] == round((2 * 3 + 80) / 12, 2)
    assert r["costs"]["server_cpu_ms_per_event"] > 0 and r["costs"]["server_memory_mb"] > 0
    assert set(r["targets_met"]) == {"call_to_display_p99", "issue_p99", "overview_update"}


def test_workers_above_one_need_postgresql(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "layso.cli", "bench", "--scenario", "province", "--centres", "1",
                           "--workers", "2"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "postgresql" in proc.stderr


@pytest.mark.slow
def test_a_province_on_the_production_deployment(tmp_path, pg_url, redis_url):
    """PostgreSQL, Redis, two server processes behind the shipped nginx site: the province scenario's
    checks hold there too (events only to their own centre, none missed, none lost)."""
    from layso.bench.proxy import nginx_binary

    from tests.conftest import require_services
    if nginx_binary() is None:
        if require_services():
            pytest.fail("nginx is required here (LAYSO_REQUIRE_SERVICES=1): ./dev test installs Debian's nginx")
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; ./dev test installs it)")
    proc = subprocess.run([sys.executable, "-m", "layso.cli", "bench", "--scenario", "province", "--centres", "3",
                           "--devices-per-centre", "5", "--seconds", "6", "--call-period", "12", "--json",
                           "--db", pg_url, "--workers", "2", "--message-queue", redis_url, "--via-nginx"],
                          capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["workers"] == 2 and r["via_nginx"] is True
    assert r["connected"] == {"displays": 3 + 16, "counters": 2 * 3 + 80, "failed": 0}
    assert r["correct"] is True and r["errors"] == {}, verdict(r, proc)
    assert r["events_missed"] == 0 and r["foreign_events"] == 0 and r["lost"] == 0
    assert r["calls"] > 0 and r["call_to_display_ms"]["n"] > 0 and r["overview_visible_ms"]["n"] > 0
