"""Hardening at the edge (issue 11), through the Flask and Flask-SocketIO test clients: text the
database refuses, JSON nested too deep, dates at the calendar's edges, contract nits, tracking links
kept from devices, the connect checks (fail closed, origin, state first) and the rate limits."""
from __future__ import annotations

import json

import pytest
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.realtime.events import socketio

PASSWORD = "password-123"


@pytest.fixture
def world(app):
    db = app.extensions["layso"].db
    tokens = {"kiosk": add_device(db, "kiosk", "Kiosk"), "kiosk2": add_device(db, "kiosk", "Kiosk 2"),
              "display": add_device(db, "display", "TV"),
              "zone": add_device(db, "display", "Zone TV", fields=["bhxh"]),
              "counter1": add_device(db, "counter", "Panel 1", counter=1)}
    add_user(db, "manager", "manager", PASSWORD)
    add_user(db, "staff1", "staff", PASSWORD, pin="4321")
    return {"app": app, "db": db, "tokens": tokens}


def signed_in(app, username: str, **extra):
    c = app.test_client()
    r = c.post("/api/v1/session", json={"username": username, "password": PASSWORD, **extra})
    assert r.status_code == 200, r.json
    c.csrf = r.json["csrf_token"]
    return c


def bearer(token: str, scheme: str = "Bearer") -> dict:
    return {"Authorization": f"{scheme} {token}"}


# ---- 4. text the database refuses ----------------------------------------------------------------------
@pytest.mark.parametrize("text", ["a\x00b", "\ud800x", "x\udfff"])
def test_text_the_database_refuses_is_a_400_in_bodies(world, text):
    app, tokens = world["app"], world["tokens"]
    c = app.test_client()

    def post(path, body, headers=None):  # JSON text with \u escapes, as a client library sends it
        return c.post(path, data=json.dumps(body), content_type="application/json", headers=headers or {})
    for path, body, who in (("/api/v1/tickets", {"field": text}, "kiosk"),
                            ("/api/v1/tickets", {"field": "dat-dai", "request_id": text}, "kiosk"),
                            ("/api/v1/tickets", {text: "dat-dai"}, "kiosk"),
                            ("/api/v1/session", {"username": text, "password": "x" * 10}, None),
                            ("/api/v1/counters/1/pause", {"reason": text}, "counter1"),
                            ("/api/v1/counters/1/complete", {"dossier_code": text}, "counter1"),
                            ("/api/v1/devices/me/status", {"detail": text}, "kiosk")):
        r = post(path, body, bearer(tokens[who]) if who else None)
        assert r.status_code == 400 and r.json["error"]["code"] == "invalid_text", (path, r.json)
        assert r.json["error"]["message"]  # a clear text in the caller's language


def test_text_the_database_refuses_is_a_400_in_paths_queries_and_forms(world):
    c = world["app"].test_client()
    for path in ("/t/%00", "/api/v1/track/a%00b", "/api/v1/track/a%00b/cancel"):
        r = c.get(path) if "cancel" not in path else c.post(path)
        assert r.status_code == 400, path
        assert r.json["error"]["code"] == "invalid_text"
    m = signed_in(world["app"], "manager")
    r = m.get("/api/v1/stats?from=2026-11-01&to=2026-11-02&group=a%00")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_text"
    r = c.post("/login", data={"username": "a\x00", "password": "x"})
    assert r.status_code == 400


def test_socket_commands_refuse_the_same_text(world):
    panel = socketio.test_client(world["app"], auth={"token": world["tokens"]["counter1"]})
    ack = panel.emit("counter.pause", {"reason": "a\x00b"}, callback=True)
    assert ack["error"]["code"] == "invalid_text"
    assert panel.emit("counter.pause", {"reason": "ăn trưa"}, callback=True)["counter"]["status"] == "paused"


# ---- 6. deep JSON, calendar edges ---------------------------------------------------------------------------
@pytest.mark.parametrize("path, auth", [("/api/v1/session", None), ("/api/v1/tickets", "kiosk"),
                                        ("/api/v1/track/nothing/rating", None), ("/api/v1/counters/1/next", "counter1")])
def test_deeply_nested_json_is_a_400(world, path, auth):
    deep = "[" * 2000 + "]" * 2000
    headers = bearer(world["tokens"][auth]) if auth else {}
    r = world["app"].test_client().post(path, data='{"a": ' + deep + "}", content_type="application/json",
                                        headers=headers)
    assert r.status_code == 400 and r.json["error"]["code"] == "malformed_body"
    fifty = '{"a":' * 50 + "1" + "}" * 50  # parses, but nests deeper than any body of the API
    r = world["app"].test_client().post(path, data=fifty, content_type="application/json", headers=headers)
    assert r.status_code == 400


@pytest.mark.parametrize("d_from, d_to", [("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31"),
                                          ("1969-12-31", "1970-01-01"), ("3000-01-01", "3000-01-02")])
def test_stats_at_the_calendars_edges_is_a_400(world, d_from, d_to):
    m = signed_in(world["app"], "manager")
    r = m.get(f"/api/v1/stats?from={d_from}&to={d_to}&group=day")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_dates"


@pytest.mark.parametrize("query", ["from=0001-01-01&to=0001-01-02", "from=9999-12-30&to=9999-12-31&group=day"])
def test_the_statistics_page_and_its_downloads_at_the_calendars_edges(world, query):
    m = signed_in(world["app"], "manager")
    assert m.get(f"/manage/stats?{query}").status_code == 200  # the page says what is wrong
    assert m.get(f"/manage/stats/export?format=xlsx&{query}").status_code == 400
    assert m.get(f"/manage/stats/tickets?format=csv&{query}").status_code == 400


# ---- 9. contract nits -----------------------------------------------------------------------------------
def test_405_says_which_methods_are_allowed(world):
    r = world["app"].test_client().delete("/api/v1/fields", headers=bearer(world["tokens"]["kiosk"]))
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"]
    assert r.json["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_bearer_scheme_in_any_case(world, scheme):
    r = world["app"].test_client().get("/api/v1/fields", headers=bearer(world["tokens"]["kiosk"], scheme))
    assert r.status_code == 200


def test_device_status_requires_its_body(world):
    c = world["app"].test_client()
    r = c.post("/api/v1/devices/me/status", headers=bearer(world["tokens"]["kiosk"]))
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_body"
    r = c.post("/api/v1/devices/me/status", json={}, headers=bearer(world["tokens"]["kiosk"]))
    assert r.status_code == 204


def test_stats_total_matches_its_schema(world):
    from layso.server.api.openapi import document
    doc = document()
    schema = doc["paths"]["/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    total_schema = doc["components"]["schemas"][schema["properties"]["total"]["$ref"].rsplit("/", 1)[1]]
    m = signed_in(world["app"], "manager")
    total = m.get("/api/v1/stats?from=2026-11-01&to=2026-11-30&group=field").json["total"]
    for key, prop in total_schema["properties"].items():
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        value = total[key]
        ok = {"null": value is None, "string": isinstance(value, str), "integer": isinstance(value, int),
              "number": isinstance(value, (int, float)), "object": isinstance(value, dict)}
        assert any(ok[t] for t in types), (key, value, types)


# ---- 8. tracking links only to the issuing kiosk and staff ------------------------------------------------
def _all_track_urls(obj) -> list:
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k == "track_url" and v] + [u for v in obj.values() for u in _all_track_urls(v)]
    if isinstance(obj, list):
        return [u for v in obj for u in _all_track_urls(v)]
    return []


def test_tracking_links_reach_only_staff_and_the_issuing_kiosk(world):
    app, tokens = world["app"], world["tokens"]
    staff = signed_in(app, "staff1", counter=1)
    sockets = {name: socketio.test_client(app, auth={"token": tokens[name]})
               for name in ("kiosk", "kiosk2", "display", "zone", "counter1")}
    sockets["staff"] = socketio.test_client(app, flask_test_client=staff)
    for s in sockets.values():
        s.get_received()
    c = app.test_client()
    ticket = c.post("/api/v1/tickets", json={"field": "dat-dai"}, headers=bearer(tokens["kiosk"])).json
    assert ticket["track_url"]
    called = c.post("/api/v1/counters/1/next", headers=bearer(tokens["counter1"])).json
    assert called["ticket"]["number"] == ticket["number"] and called["ticket"]["track_url"] is None
    r = staff.post(f"/api/v1/tickets/{ticket['id']}/reprint", headers={"X-CSRFToken": staff.csrf})
    assert r.status_code == 202
    got = {name: s.get_received() for name, s in sockets.items()}
    for name in ("kiosk2", "display", "zone", "counter1"):
        assert [m["name"] for m in got[name]].count("ticket.called") == 1
        assert _all_track_urls(got[name]) == [], name
    assert ticket["track_url"] in _all_track_urls(got["staff"])
    reprints = [m["args"][0] for m in got["kiosk"] if m["name"] == "ticket.reprint"]
    assert reprints[0]["ticket"]["track_url"] == ticket["track_url"]  # the whole event comes first
    # a command's events go out as one batch (realtime/batch.py): each client still gets them in seq
    # order, the issuing kiosk its whole copy just before the devices' copy of the same event
    for name, received in got.items():
        seqs = [m["args"][0]["seq"] for m in received]
        assert seqs == sorted(seqs), name
        twice = 2 if name == "kiosk" else 0  # the kiosk: the issue and the reprint, whole and for devices
        assert len(set(seqs)) == len(seqs) - twice, name
    # snapshots too, by REST and by socket
    for name in ("display", "counter1"):
        state = c.get("/api/v1/state", headers=bearer(tokens[name])).json
        assert _all_track_urls(state) == []
        assert _all_track_urls(sockets[name].emit("sync", callback=True)) == []
        assert _all_track_urls(sockets[name].get_received()) == []
    assert _all_track_urls(c.get(f"/api/v1/tickets/{ticket['id']}", headers=bearer(tokens["counter1"])).json) == []
    assert _all_track_urls(staff.get("/api/v1/state").json) == [ticket["track_url"]]


# ---- 1 and 3. connect checks ------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [{"token": "\ud800" * 20}, {"token": "ls_a\x00" + "b" * 20}, {"track": "a\x00b"},
                                  {"track": "\udfff"}, {"token": 5}, {"token": ["x"]}])
def test_connect_with_text_the_database_refuses_is_refused(world, auth):
    client = socketio.test_client(world["app"], auth=auth)
    assert not client.is_connected()


def test_connect_fails_closed_when_the_database_is_unreachable(world, monkeypatch):
    from layso.server import auth as auth_module
    from sqlalchemy.exc import OperationalError

    def unreachable(*_a, **_k):
        raise OperationalError("SELECT", {}, Exception("connection refused"))
    monkeypatch.setattr(auth_module, "_load_device_principal", unreachable)
    auth_module.forget_cached_principals()
    client = socketio.test_client(world["app"], auth={"token": world["tokens"]["display"]})
    assert not client.is_connected()
    monkeypatch.undo()
    client = socketio.test_client(world["app"], auth={"token": world["tokens"]["display"]})
    assert client.is_connected() and client.get_received()[0]["name"] == "state"


def test_state_comes_first_even_while_other_devices_connect(world):
    """The flaky case of issue 12: another device's online news must not overtake `state`."""
    import threading
    app, tokens = world["app"], world["tokens"]
    stop = threading.Event()

    def churn():  # a panel connecting and leaving over and over: device.changed events all the time
        while not stop.is_set():
            socketio.test_client(app, auth={"token": tokens["counter1"]}).disconnect()
    t = threading.Thread(target=churn, daemon=True)
    t.start()
    try:
        for _ in range(30):
            display = socketio.test_client(app, auth={"token": tokens["display"]})
            first = display.get_received()
            assert first and first[0]["name"] == "state", [m["name"] for m in first]
            display.disconnect()
    finally:
        stop.set()
        t.join(5)


def test_cookie_connections_from_a_foreign_origin_are_refused(world):
    app = world["app"]
    staff = signed_in(app, "staff1", counter=1)
    foreign = socketio.test_client(app, flask_test_client=staff, headers={"Origin": "http://localhost:6666"})
    assert not foreign.is_connected()
    same = socketio.test_client(app, flask_test_client=staff, headers={"Origin": "http://localhost"})
    assert same.is_connected()
    assert socketio.test_client(app, flask_test_client=staff).is_connected()  # no Origin: no browser
    # devices authenticate by token, which a foreign page cannot know: their origin does not matter
    device = socketio.test_client(app, auth={"token": world["tokens"]["display"]},
                                  headers={"Origin": "http://elsewhere.example"})
    assert device.is_connected()


def test_the_configured_public_url_is_a_trusted_origin(world):
    app = world["app"]
    app.config["LAYSO_PUBLIC_URL"] = "https://laysos.example.gov.vn"
    staff = signed_in(app, "staff1", counter=1)
    assert socketio.test_client(app, flask_test_client=staff,
                                headers={"Origin": "https://laysos.example.gov.vn"}).is_connected()
    assert not socketio.test_client(app, flask_test_client=staff,
                                    headers={"Origin": "https://evil.example"}).is_connected()


# ---- 7. infrastructure failures, in process (the real processes are in tests/e2e/test_faults.py) --------
def _read_only_writes(svc):
    """Point the app's writes at the same SQLite file opened read-only (SQLite's own refusal)."""
    from layso.server.storage.database import _sqlite_engine
    from sqlalchemy.orm import sessionmaker
    path = svc.db.url.split("///", 1)[1]
    svc.db.write_engine = _sqlite_engine(f"sqlite:///file:{path}?mode=ro&uri=true", immediate=True)
    svc.db._write = sessionmaker(svc.db.write_engine, expire_on_commit=False)


def test_a_read_only_database_answers_503_and_the_dashboard_says_so(world):
    app, svc = world["app"], world["app"].extensions["layso"]
    m = signed_in(app, "manager")
    assert app.test_client().get("/readyz").json == {"status": "ready"}
    assert "storage-problem" not in m.get("/manage/live/body").get_data(as_text=True)
    _read_only_writes(svc)
    r = app.test_client().post("/api/v1/tickets", json={"field": "dat-dai"}, headers=bearer(world["tokens"]["kiosk"]))
    assert r.status_code == 503 and r.json["error"]["code"] == "storage_read_only", r.json
    assert r.headers["Retry-After"]
    r = app.test_client().get("/readyz", headers={"Accept-Language": "en"})
    assert r.status_code == 503 and r.json["error"]["code"] == "storage_read_only"
    page = m.get("/manage/live/body").get_data(as_text=True)
    assert 'id="storage-problem"' in page and "chỉ đọc" in page  # Vietnamese on staff pages
    panel = socketio.test_client(app, auth={"token": world["tokens"]["counter1"]})
    ack = panel.emit("counter.pause", {}, callback=True)
    assert ack["error"]["code"] == "storage_read_only" and ack["error"]["status"] == 503


def test_storage_failures_are_classified_from_real_driver_errors(tmp_path):
    import sqlite3

    from layso.server.errors import storage_failure
    from sqlalchemy.exc import OperationalError
    path = tmp_path / "x.db"
    sqlite3.connect(path).execute("create table t(x)")
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as err:
        ro.execute("insert into t values (1)")
    assert storage_failure(OperationalError("INSERT", {}, err.value)) == "storage_read_only"
    full = sqlite3.connect(tmp_path / "full.db", isolation_level=None)
    full.execute("create table t(x)")
    full.execute("PRAGMA max_page_count=3")  # SQLite's own SQLITE_FULL
    with pytest.raises(sqlite3.OperationalError) as err:
        for _ in range(100):
            full.execute("insert into t values (?)", ("x" * 2000,))
    assert storage_failure(OperationalError("INSERT", {}, err.value)) == "storage_full"
    with pytest.raises(sqlite3.OperationalError) as err:
        sqlite3.connect(tmp_path / "no" / "such" / "folder.db")
    assert storage_failure(OperationalError("connect", {}, err.value)) == "database_unavailable"
    assert storage_failure(OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))) is None


# ---- 2. rate limits that survive floods ---------------------------------------------------------------------
def test_rate_limits_survive_a_flood_of_keys(world):
    from layso.server.errors import TooManyRequests
    limiter = world["app"].extensions["layso"].limiter
    for _ in range(3):
        limiter.hit(("pin-device", 7), 3, 300)
    for i in range(12_000):  # the old limiter forgot everything beyond 10,000 keys
        limiter.hit(("pin-account", 1, f"user{i}"), 5, 300)
    with pytest.raises(TooManyRequests):
        limiter.hit(("pin-device", 7), 3, 300)


def test_pin_guesses_are_limited_per_account_across_panels(world):
    app, db = world["app"], world["db"]
    panel2 = add_device(db, "counter", "Panel 2", counter=2)
    c = app.test_client()
    statuses = []
    for i, token in enumerate([world["tokens"]["counter1"], panel2] * 3):
        n = 1 if token == world["tokens"]["counter1"] else 2
        statuses.append(c.post(f"/api/v1/counters/{n}/signin", json={"username": "staff1", "pin": f"{i:04d}"},
                               headers=bearer(token)).status_code)
    assert statuses == [401] * 5 + [429]
    r = c.post("/api/v1/counters/1/signin", json={"username": "staff1", "pin": "4321"},
               headers=bearer(world["tokens"]["counter1"]))
    assert r.status_code == 429


def test_password_guesses_are_limited_per_account_from_many_addresses(world):
    c = world["app"].test_client()
    statuses = [c.post("/api/v1/session", json={"username": "manager", "password": f"guess-{i}"},
                       environ_base={"REMOTE_ADDR": f"10.0.{i}.9"}).status_code for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    import re
    page = c.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/login", data={"username": "manager", "password": PASSWORD, "csrf_token": csrf},
               environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert r.status_code == 429  # the sign-in page counts the same guesses


def test_a_tracking_link_cancel_is_rate_limited(world):
    c = world["app"].test_client()
    t = c.post("/api/v1/tickets", json={"field": "dat-dai"}, headers=bearer(world["tokens"]["kiosk"])).json
    token = t["track_url"].rsplit("/", 1)[1]
    codes = [c.post(f"/api/v1/track/{token}/cancel", environ_base={"REMOTE_ADDR": f"10.9.{i}.1"}).status_code
             for i in range(7)]
    assert codes[0] == 200 and codes[-1] == 429
