"""The command line, configuration validation and storage settings."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
import requests
from conftest import free_port, small_config_data, start_server
from sqlalchemy import text

from layso.config import (
    ConfigError,
    load_config,
    load_preset,
    parse_config,
    write_config,
)

LAYSO = [sys.executable, "-m", "layso.cli"]


def run(*args, input=None, env=None, cwd=None, timeout=60):
    return subprocess.run([*LAYSO, *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.mark.parametrize("preset", ["province", "commune"])
def test_init_writes_a_valid_config_from_each_preset(tmp_path, preset):
    path = tmp_path / "layso.toml"
    r = run("init", "--config", str(path), "--preset", preset)
    assert r.returncode == 0, r.stderr
    cfg = load_config(path)
    assert cfg.centre.timezone == "Asia/Ho_Chi_Minh"
    assert cfg.hours.mon == (["07:00-11:30", "13:00-17:00"] if preset == "province" else ["07:30-11:30", "13:30-17:00"])
    assert cfg.hours.holidays, "the preset lists public holidays"
    assert {c.code for c in cfg.priority.categories} >= {"elderly", "pregnant", "disabled", "merit"}
    assert [lv.label for lv in cfg.rating.levels][0] == "Rất hài lòng"
    # every field is served by a counter; the busy fields by two or more that share them
    serving = {f.code: [c.number for c in cfg.counters if f.code in c.fields and not c.priority_only]
               for f in cfg.fields}
    assert all(serving.values())
    for busy in ("dat-dai", "xay-dung", "bhxh"):
        assert len(serving[busy]) >= 2, busy
    again = run("init", "--config", str(path), "--preset", preset)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_init_open_all_hours(tmp_path):
    path = tmp_path / "c.toml"
    assert run("init", "--config", str(path), "--open-all-hours").returncode == 0
    data = tomllib.loads(path.read_text("utf-8"))
    assert all(data["hours"][d] == ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    assert data["hours"]["holidays"] == []


def test_presets_number_fields_without_overlap():
    for preset in ("province", "commune"):
        cfg = load_preset(preset)
        assert len({f.prefix or f.range_start for f in cfg.fields}) == len(cfg.fields)
    commune = load_preset("commune")
    assert commune.fields[0].range_start == 1001


@pytest.mark.parametrize("change, key", [
    (lambda d: d["fields"][0].update(daily_cap=5000), "fields.0"),
    (lambda d: d["fields"][1].update(range_start=1005, range_end=1100), "fields"),
    (lambda d: d["counters"][0].update(fields=["khong-co"]), "serves unknown fields"),
    (lambda d: d["hours"].update(mon=["17:00-07:00"]), "hours.mon"),
    (lambda d: d["centre"].update(timezone="Mars/Olympus"), "centre.timezone"),
    (lambda d: d["rating"].update(satisfied_min=9), "rating"),
    (lambda d: d["voice"].update(template="Mời số {number}"), "voice.template"),
    (lambda d: d["fields"][0].update(prefix="A"), "fields.0"),
    (lambda d: d["fields"][0].update(cutoff="25:00"), "fields.0.cutoff"),
])
def test_invalid_config_names_the_key(change, key):
    data = small_config_data()
    change(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data, "layso.toml")
    assert key in str(err.value)


def test_invalid_config_stops_the_server_with_a_clear_message(tmp_path):
    path = tmp_path / "bad.toml"
    write_config(small_config_data(), path)
    path.write_text(path.read_text("utf-8").replace('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Nowhere/City"'))
    r = run("serve", "--config", str(path), "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(free_port()))
    assert r.returncode == 2
    assert "centre.timezone" in r.stderr and "unknown time zone" in r.stderr
    path.write_text("this is = not [toml")
    r = run("serve", "--config", str(path), "--port", str(free_port()))
    assert r.returncode == 2 and "not valid TOML" in r.stderr


def test_device_add_token_works_at_once_without_restart(tmp_path):
    sp = start_server(tmp_path)
    try:
        r = run("device", "add", "--role", "kiosk", "--name", "Kiosk tầng 1", "--config", str(sp.config_path),
                "--db", sp.db_url)
        assert r.returncode == 0, r.stderr
        token = r.stdout.strip().splitlines()[-1]
        assert token.startswith("ls_") and " " not in token
        assert sp.post("/api/v1/tickets", token, {"field": "bhxh"}).status_code == 201
        r = run("device", "add", "--role", "display", "--name", "TV khu A", "--fields", "dat-dai,bhxh",
                "--counters", "1,2", "--db", sp.db_url)
        assert r.returncode == 0 and sp.get("/api/v1/state", r.stdout.strip().splitlines()[-1]).status_code == 200
        bad = run("device", "add", "--role", "counter", "--name", "x", "--counter", "99", "--db", sp.db_url)
        assert bad.returncode == 2 and "unknown counter 99" in bad.stderr
        bad = run("device", "add", "--role", "display", "--name", "x", "--fields", "khong-co", "--db", sp.db_url)
        assert bad.returncode == 2 and "unknown fields" in bad.stderr
    finally:
        sp.stop()


def test_user_add_with_password_stdin_signs_in_at_once(tmp_path):
    sp = start_server(tmp_path)
    try:
        r = run("user", "add", "lan", "--role", "staff", "--password-stdin", "--full-name", "Nguyễn Thị Lan",
                "--db", sp.db_url, input="mat-khau-123\n")
        assert r.returncode == 0, r.stderr
        s = requests.Session()
        login = s.post(f"{sp.url}/api/v1/session", json={"username": "lan", "password": "mat-khau-123", "counter": 2})
        assert login.status_code == 200, login.text
        assert login.json()["counter"]["officer"] == "Nguyễn Thị Lan"
        short = run("user", "add", "minh", "--role", "staff", "--password-stdin", "--db", sp.db_url, input="123\n")
        assert short.returncode == 2 and "at least 8" in short.stderr
        dup = run("user", "add", "lan", "--role", "staff", "--password-stdin", "--db", sp.db_url, input="x" * 10)
        assert dup.returncode == 2 and "exists already" in dup.stderr
    finally:
        sp.stop()


def _run_demo(tmp_path, *extra: str) -> tuple[subprocess.Popen, list[str], int]:
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("LAYSO_SECRET_KEY", None)
    proc = subprocess.Popen([*LAYSO, "demo", "--port", str(port), "--data", str(tmp_path / "demo"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if "serving on" in line:
            break
    assert lines and lines[-1] == f"layso: serving on http://127.0.0.1:{port}", lines
    return proc, lines, port


def _token(lines: list[str], role: str) -> str:
    return next(l for l in lines if l.strip().startswith(role)).split()[-1]


def test_demo_prints_pages_accounts_and_tokens_then_serves_and_keeps_them(tmp_path):
    proc, lines, port = _run_demo(tmp_path)
    try:
        out = "\n".join(lines)
        assert f"http://127.0.0.1:{port}/login" in out and "admin-demo" in out and "--fresh" in out
        token, display = _token(lines, "kiosk"), _token(lines, "display")
        r = requests.post(f"http://127.0.0.1:{port}/api/v1/tickets", json={"field": "dat-dai"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 201 and r.json()["number"] == "2001"
        web = requests.Session()  # the web display, opened once with its token, remembered by its cookie
        assert web.get(f"http://127.0.0.1:{port}/display?token={display}", timeout=10).status_code == 200
        # the printed "Province overview" opens for a printed account
        assert "tinh-demo" in out
        tinh = requests.Session()
        assert tinh.post(f"http://127.0.0.1:{port}/api/v1/session", json={"username": "tinh", "password": "tinh-demo"},
                         timeout=10).status_code == 200
        assert tinh.get(f"http://127.0.0.1:{port}/province", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    # a restart keeps the centre, its tickets, the tokens and the session secret
    proc, lines, port = _run_demo(tmp_path)
    try:
        assert "kept from the last start" in "\n".join(lines)
        assert _token(lines, "kiosk") == token and _token(lines, "display") == display
        r = requests.post(f"http://127.0.0.1:{port}/api/v1/tickets", json={"field": "dat-dai"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 201 and r.json()["number"] == "2002"
        again = web.get(f"http://127.0.0.1:{port}/display", timeout=10, allow_redirects=False)
        assert again.status_code == 200, "the web display's session survives the restart"
    finally:
        proc.terminate()
        proc.wait(10)
    # --fresh forgets it all
    proc, lines, port = _run_demo(tmp_path, "--fresh")
    try:
        assert _token(lines, "kiosk") != token and "(new; kept across restarts)" in "\n".join(lines)
        r = requests.post(f"http://127.0.0.1:{port}/api/v1/tickets", json={"field": "dat-dai"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_sqlite_is_durable_wal_with_foreign_keys(app):
    db = app.extensions["layso"].db
    with db.read() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_match_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade
    from layso.server.storage.models import Base
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    with db.write_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_openapi_document_lists_the_contract_paths(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ("/fields", "/tickets", "/tickets/{id}/reprint", "/track/{track_token}", "/track/{track_token}/cancel",
                 "/track/{track_token}/rating", "/counters/{n}/next", "/counters/{n}/transfer", "/tickets/{id}/rating",
                 "/devices/me/status", "/state", "/stats", "/openapi.json"):
        assert path in doc["paths"], path
    assert doc["components"]["schemas"]["IssueBody"]["properties"]["field"]["type"] == "string"


def test_healthz_and_metrics(app):
    c = app.test_client()
    assert c.get("/healthz").json == {"status": "ok"}
    metrics = c.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert metrics.status_code == 200 and 'layso_event_seq{centre="xa"}' in metrics.get_data(as_text=True)
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    # a reverse proxy on this machine relaying a visitor is not "loopback"
    relayed = c.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403


def test_behind_a_trusted_proxy_the_client_address_counts(tmp_path, monkeypatch, frozen_clock):
    from layso.server.app import create_app
    monkeypatch.setenv("LAYSO_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("LAYSO_SECRET_KEY", "x")
    app = create_app(parse_config(small_config_data()), db_url=f"sqlite:///{tmp_path / 'p.db'}", testing=True)
    c = app.test_client()
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                 headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    # rate limits are per citizen, not one bucket for everyone behind the proxy (and each guess here is
    # for another account: an account has a limit of its own, whatever the address)
    for i in range(25):
        r = c.post("/api/v1/session", json={"username": f"x{i}", "password": "y"},
                   headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert r.status_code == 401
    app.extensions["layso"].db.dispose()
