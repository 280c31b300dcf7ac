"""The auth matrix (every role against every endpoint) and bad input, through the Flask and
Flask-SocketIO test clients."""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from conftest import HCM, settled_device_socket, small_config_data, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.realtime.events import socketio

from layso.config import parse_config

PASSWORD = "password-123"
USERS = ("staff", "staff1", "manager", "admin")
DEVICES = ("kiosk", "display", "counter1", "counter2")
FROZEN_AT = datetime(2026, 11, 23, 9, 0, tzinfo=HCM)  # conftest's frozen clock


def _app(path):
    from layso.server.app import create_app
    os.environ["LAYSO_SECRET_KEY"] = "test-secret"
    return create_app(parse_config(small_config_data()), db_url=f"sqlite:///{path}", testing=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The accounts, built once per module and signed in (scrypt makes accounts and sign-ins slow).
    Each test gets a copy of this database, the same sessions and devices of its own."""
    from layso.server import clock
    old = clock.get_clock()
    clock.set_clock(clock.FrozenClock(FROZEN_AT))
    path = tmp_path_factory.mktemp("auth-world") / "app.db"
    app = _app(path)
    try:
        db = app.extensions["layso"].db
        for name, role in (("staff", "staff"), ("staff1", "staff"), ("manager", "manager"), ("admin", "admin")):
            add_user(db, name, role, PASSWORD, pin="1234" if name == "staff" else None)
        sessions = {}
        for name in USERS:
            c = app.test_client()
            body = {"username": name, "password": PASSWORD}
            if name == "staff1":
                body["counter"] = 1
            r = c.post("/api/v1/session", json=body)
            assert r.status_code == 200, r.json
            sessions[name] = (c.get_cookie(app.config["SESSION_COOKIE_NAME"]).value, r.json["csrf_token"])
    finally:
        app.extensions["layso"].db.dispose()
        clock.set_clock(old)
    return {"path": path, "sessions": sessions}


@pytest.fixture
def world(template, tmp_path, frozen_clock):
    from layso.server import clock
    from layso.server.domain.accounts import hash_token
    from layso.server.storage.models import Device
    from sqlalchemy import update
    assert frozen_clock.now() == FROZEN_AT
    path = tmp_path / "app.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{template['path']}{suffix}").exists():
            shutil.copyfile(f"{template['path']}{suffix}", f"{path}{suffix}")
    app = _app(path)
    db = app.extensions["layso"].db
    # devices are cheap, and new tokens keep sockets left over from earlier tests out of this one
    tokens = {"kiosk": add_device(db, "kiosk", "Kiosk"), "display": add_device(db, "display", "TV"),
              "counter1": add_device(db, "counter", "Panel 1", counter=1),
              "counter2": add_device(db, "counter", "Panel 2", counter=2)}
    revoked = add_device(db, "kiosk", "Old kiosk")
    with db.write() as s:
        s.execute(update(Device).where(Device.token_hash == hash_token(revoked)).values(revoked_at=clock.now()))
    clients = {}
    for name, (cookie, csrf) in template["sessions"].items():
        c = app.test_client()
        c.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
        c.csrf = csrf
        clients[name] = c
    yield {"app": app, "db": db, "tokens": tokens, "revoked": revoked, "clients": clients}
    app.extensions["layso"].db.dispose()


def call(world, who: str, method: str, path: str, body=None):
    app = world["app"]
    headers = {}
    if who in world["tokens"]:
        client = app.test_client()
        headers["Authorization"] = f"Bearer {world['tokens'][who]}"
    elif who == "revoked":
        client = app.test_client()
        headers["Authorization"] = f"Bearer {world['revoked']}"
    elif who == "bogus":
        client = app.test_client()
        headers["Authorization"] = "Bearer ls_not-a-real-token-at-all"
    elif who == "nobody":
        client = app.test_client()
    else:
        client = world["clients"][who]
        headers["X-CSRFToken"] = client.csrf
    return client.open(path, method=method, json=body, headers=headers)


def _ticket(world) -> dict:
    r = call(world, "kiosk", "POST", "/api/v1/tickets", {"field": "dat-dai"})
    assert r.status_code == 201
    return r.json


EVERYONE = set(DEVICES) | set(USERS)
COUNTER1 = {"counter1", "staff1"}
MATRIX = [
    ("GET", "/api/v1/fields", None, {"kiosk", "display", "counter1", "counter2", *USERS}),
    ("POST", "/api/v1/tickets", {"field": "dat-dai"}, {"kiosk", *USERS}),
    ("GET", "/api/v1/tickets/{id}", None, {"counter1", "counter2", *USERS}),
    ("POST", "/api/v1/tickets/{id}/reprint", {}, set(USERS)),
    ("POST", "/api/v1/tickets/{id}/priority", {"category": "elderly"}, set(USERS)),
    ("POST", "/api/v1/tickets/{id}/rating", {"score": 4}, {"counter1"}),
    ("POST", "/api/v1/counters/1/next", None, COUNTER1),
    ("POST", "/api/v1/counters/1/recall", None, COUNTER1),
    ("POST", "/api/v1/counters/1/skip", None, COUNTER1),
    ("POST", "/api/v1/counters/1/complete", {"dossier_code": "X"}, COUNTER1),
    ("POST", "/api/v1/counters/1/transfer", {"field": "bhxh"}, COUNTER1),
    ("POST", "/api/v1/counters/1/call", {"number": "2001"}, COUNTER1),
    ("POST", "/api/v1/counters/1/pause", {"reason": "x"}, COUNTER1),
    ("POST", "/api/v1/counters/1/resume", None, COUNTER1),
    ("POST", "/api/v1/counters/1/signin", {"username": "staff", "pin": "1234"}, {"counter1"}),
    ("POST", "/api/v1/devices/me/status", {"printer": "paper_out"}, {"kiosk", "display", "counter1", "counter2"}),
    ("GET", "/api/v1/state", None, EVERYONE),
    ("PUT", "/api/v1/ticker", {"ticker": "Thông báo"}, {"manager", "admin"}),
    ("GET", "/api/v1/stats?from=2026-11-01&to=2026-11-30&group=field", None, {"manager", "admin"}),
    ("GET", "/api/v1/track/{track}", None, EVERYONE | {"nobody", "revoked", "bogus"}),
    ("GET", "/api/v1/openapi.json", None, EVERYONE | {"nobody", "revoked", "bogus"}),
]
PRINCIPALS = sorted(EVERYONE | {"nobody", "revoked", "bogus"})


@pytest.mark.parametrize("method, path, body, allowed", MATRIX, ids=[f"{m} {p}" for m, p, _b, _a in MATRIX])
def test_auth_matrix(world, method, path, body, allowed):
    t = _ticket(world)
    # counter 1 serves the ticket, so the rating endpoint is meaningful for counter 1's panel
    call(world, "counter1", "POST", "/api/v1/counters/1/next")
    call(world, "counter1", "POST", "/api/v1/counters/1/complete")
    url = path.format(id=t["id"], track=t["track_url"].rsplit("/", 1)[1])
    for who in PRINCIPALS:
        r = call(world, who, method, url, body)
        assert r.status_code < 500, (who, r.status_code, r.get_data(as_text=True))
        if who in allowed:
            assert r.status_code not in (401, 403), (who, method, url, r.status_code, r.json)
        elif who in ("nobody", "revoked", "bogus"):
            assert r.status_code == 401, (who, method, url, r.status_code)
            assert r.json["error"]["code"] == "unauthorized"
        else:
            assert r.status_code == 403, (who, method, url, r.status_code, r.json)


def test_nobody_unauthenticated_changes_anything(world):
    before = call(world, "display", "GET", "/api/v1/state").json["seq"]
    for method, path, body, _allowed in MATRIX:
        if method == "GET":
            continue
        for who in ("nobody", "revoked", "bogus"):
            url = path.format(id=1, track="x")
            assert call(world, who, method, url, body).status_code in (401, 404)
    assert call(world, "display", "GET", "/api/v1/state").json["seq"] == before


def test_session_requests_need_the_csrf_header(world):
    client = world["clients"]["staff1"]
    r = client.post("/api/v1/counters/1/next")
    assert r.status_code == 403 and r.json["error"]["code"] == "csrf_failed"
    r = client.post("/api/v1/counters/1/next", headers={"X-CSRFToken": client.csrf})
    assert r.status_code in (200, 204)


def test_a_counter_device_cannot_act_on_another_counter(world):
    _ticket(world)
    r = call(world, "counter2", "POST", "/api/v1/counters/1/next")
    assert r.status_code == 403
    assert call(world, "counter1", "POST", "/api/v1/counters/1/next").status_code == 200


def test_errors_speak_vietnamese_by_default_and_english_on_request(world):
    app = world["app"]
    h = {"Authorization": f"Bearer {world['tokens']['kiosk']}"}
    vi = app.test_client().post("/api/v1/tickets", json={"field": "khong-co"}, headers=h).json
    en = app.test_client().post("/api/v1/tickets", json={"field": "khong-co"},
                                headers={**h, "Accept-Language": "en-US,en;q=0.9"}).json
    assert vi["error"] == {"code": "field_not_found", "message": "Lĩnh vực không tồn tại."}
    assert en["error"] == {"code": "field_not_found", "message": "This field does not exist."}


BAD_BODIES = [
    b"{broken", b"[]", b"null", b'"text"', b"42", json.dumps({"field": 5}).encode(),
    json.dumps({"field": None}).encode(), json.dumps({"field": ["dat-dai"]}).encode(),
    json.dumps({"field": "dat-dai", "priority": 3}).encode(), json.dumps({"field": "x" * 100_000}).encode(),
    json.dumps({"field": "dat-dai", "unknown": 1}).encode(), json.dumps({"field": "dat-dai", "request_id": ""}).encode(),
    "{\"field\": \"đất\u0000\"}".encode(), b"\xff\xfe\x00",
]


@pytest.mark.parametrize("raw", BAD_BODIES)
def test_bad_ticket_bodies_are_4xx_never_5xx(world, raw):
    r = world["app"].test_client().post("/api/v1/tickets", data=raw, content_type="application/json",
                                        headers={"Authorization": f"Bearer {world['tokens']['kiosk']}"})
    assert 400 <= r.status_code < 500, (raw[:40], r.status_code)
    assert set(r.json["error"]) >= {"code", "message"}


COUNTER_PATHS = ["next", "recall", "skip", "complete", "pause", "resume", "transfer", "call", "signin", "close"]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=10), kids, max_size=3),
                           max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=st.sampled_from(COUNTER_PATHS), body=st.dictionaries(
    st.sampled_from(["dossier_code", "reason", "field", "counter", "number", "username", "pin", "x"]), json_values,
    max_size=3), counter=st.integers(-3, 200))
def test_fuzzed_counter_commands_never_5xx(world, action, body, counter):
    r = call(world, "counter1", "POST", f"/api/v1/counters/{counter}/{action}", body)
    assert r.status_code < 500, (action, body, r.status_code)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["score", "reasons", "comment", "x"]), json_values, max_size=3),
       path=st.sampled_from(["/api/v1/tickets/1/rating", "/api/v1/track/abc/rating", "/api/v1/devices/me/status",
                             "/api/v1/tickets", "/api/v1/track/abc/cancel", "/api/v1/session"]))
def test_fuzzed_bodies_never_5xx(world, body, path):
    r = call(world, "counter1", "POST", path, body)
    assert r.status_code < 500, (path, body, r.status_code)


def test_unknown_routes_and_methods_answer_json(world):
    for method, path in (("GET", "/api/v1/nope"), ("DELETE", "/api/v1/fields"), ("POST", "/api/v1/counters/x/next"),
                         ("POST", "/api/v1/counters/1/explode")):
        r = call(world, "counter1", method, path)
        assert r.status_code in (404, 405) and "error" in r.json


# ---- Socket.IO --------------------------------------------------------------------------------------
def test_socket_refuses_bad_credentials(world):
    app = world["app"]
    for auth in (None, {"token": "ls_bogus-token-123456"}, {"token": world["revoked"]}, {"token": 5}, "junk"):
        client = socketio.test_client(app, auth=auth)
        assert not client.is_connected()


def test_socket_state_on_connect_and_commands_with_acks(world):
    app = world["app"]
    panel = socketio.test_client(app, auth={"token": world["tokens"]["counter1"]})
    display = socketio.test_client(app, auth={"token": world["tokens"]["display"]})
    assert panel.is_connected() and display.is_connected()
    first = display.get_received()
    assert first[0]["name"] == "state" and {"seq", "centre", "counters", "fields", "recent_calls", "ticker"} <= set(
        first[0]["args"][0])
    _ticket(world)
    ack = panel.emit("counter.next", {}, callback=True)
    assert ack["ticket"]["number"] == "2001" and ack["counter"]["number"] == 1
    names = [m["name"] for m in display.get_received()]
    assert "ticket.issued" in names and "ticket.called" in names
    # the same refusal a REST call would get
    ack = panel.emit("counter.next", {"counter": 2}, callback=True)
    assert ack["error"]["code"] == "forbidden"
    ack = display.emit("counter.next", {}, callback=True)
    assert ack["error"]["code"] == "forbidden"


def test_state_comes_first_while_events_are_being_published(world):
    """Connections made while another thread fans events out to the centre (as the presence worker and
    the publisher do): every one gets `state` before any event (CONTRACT: state comes first)."""
    import threading
    from layso.server.realtime.guard import emit_to_centre
    from layso.server.storage.models import Centre
    from sqlalchemy import select
    with world["db"].read() as s:
        cid = s.execute(select(Centre.id)).scalar_one()
    stop = threading.Event()

    def fan_out() -> None:
        n = 0
        while not stop.wait(0.0005):  # a pause that lets the connecting thread run too
            n += 1
            emit_to_centre("device.changed", {"seq": 10_000 + n, "device": {"id": 0}}, cid)

    publisher = threading.Thread(target=fan_out, daemon=True)
    publisher.start()
    try:
        for _ in range(40):
            display = socketio.test_client(world["app"], auth={"token": world["tokens"]["display"]})
            first = display.get_received()
            assert first and first[0]["name"] == "state", [m["name"] for m in first[:3]]
            display.disconnect()
    finally:
        stop.set()
        publisher.join(5)


@pytest.mark.parametrize("event, payload", [
    ("explode", {}), ("counter.next", "text"), ("counter.next", [1, 2]), ("counter.next", {"counter": "1"}),
    ("counter.complete", {"dossier_code": 5}), ("counter.transfer", {}), ("counter.pause", {"reason": "x" * 5000}),
    ("ticket.issued", {"seq": 1}), ("sync", None),
])
def test_socket_bad_events_get_a_refused_ack_and_the_connection_lives(world, event, payload):
    panel = socketio.test_client(world["app"], auth={"token": world["tokens"]["counter1"]})
    panel.get_received()
    ack = panel.emit(event, payload, callback=True)
    if event == "sync":
        assert ack["ok"] is True
    else:
        assert "error" in ack and {"code", "message"} <= set(ack["error"])
    assert panel.is_connected()
    assert panel.emit("counter.next", {}, callback=True) == {"ticket": None}


def test_seq_increases_by_one_per_event_on_the_socket(world):
    display, received = settled_device_socket(world["app"], world["tokens"]["display"])
    assert received[0]["name"] == "state"
    start = received[0]["args"][0]["seq"]
    for _ in range(3):
        _ticket(world)
    call(world, "counter1", "POST", "/api/v1/counters/1/next")
    seqs = [m["args"][0]["seq"] for m in received[1:] + display.get_received()]
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))


def test_a_device_finds_itself_and_its_zone_in_state(world):
    db = world["db"]
    zone = add_device(db, "display", "TV khu A", fields=["dat-dai"], counters=[1, 2])
    client = socketio.test_client(world["app"], auth={"token": zone})
    state = client.get_received()[0]["args"][0]
    assert state["device"]["name"] == "TV khu A" and state["device"]["role"] == "display"
    assert state["device"]["zone_fields"] == ["dat-dai"] and state["device"]["zone_counters"] == [1, 2]
    rest = world["app"].test_client().get("/api/v1/state", headers={"Authorization": f"Bearer {zone}"}).json
    assert rest["device"] == state["device"]
    assert call(world, "manager", "GET", "/api/v1/state").json["device"] is None


def test_a_revoked_device_is_refused_at_once_and_cut_off(world):
    from layso.server import clock
    from layso.server.auth import forget_cached_principals
    from layso.server.domain.accounts import hash_token
    from layso.server.realtime.events import disconnect_revoked
    from layso.server.storage.models import Device
    from sqlalchemy import update
    panel = socketio.test_client(world["app"], auth={"token": world["tokens"]["counter1"]})
    panel.get_received()
    assert panel.emit("counter.next", {}, callback=True) == {"ticket": None}
    with world["db"].write() as s:
        s.execute(update(Device).where(Device.token_hash == hash_token(world["tokens"]["counter1"]))
                  .values(revoked_at=clock.now()))
    forget_cached_principals()
    assert panel.emit("counter.next", {}, callback=True)["error"]["code"] == "unauthorized"
    assert disconnect_revoked(world["db"]) >= 1
    assert not panel.is_connected()


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/v1/tickets/99999999999999999999999", None),
    ("POST", "/api/v1/tickets/99999999999999999999999/rating", {"score": 4}),
    ("POST", "/api/v1/counters/1/transfer", {"counter": 10**30}),
    ("POST", "/api/v1/counters/99999999999999999999/next", None),
    ("POST", "/api/v1/session", {"username": "staff", "password": PASSWORD, "counter": 10**30}),
])
def test_huge_numbers_are_4xx_never_5xx(world, method, path, body):
    for who in ("counter1", "staff1", "manager"):
        r = call(world, who, method, path, body)
        assert 400 <= r.status_code < 500, (who, path, r.status_code)


def test_login_form_with_a_huge_counter_is_refused_kindly(world):
    client = world["app"].test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"username": "staff", "password": PASSWORD, "counter": "9" * 25,
                                    "csrf_token": token})
    assert r.status_code == 401 and "Số quầy phải là một số." in r.get_data(as_text=True)


def _device_online(world, token) -> bool:
    from layso.server.domain.accounts import hash_token
    from layso.server.storage.models import Device
    from sqlalchemy import select
    with world["db"].read() as s:
        return s.execute(select(Device.online).where(Device.token_hash == hash_token(token))).scalar_one()


def _device_connections(world, token) -> int:
    """The connections recorded for the device (presence writes them on its worker, after the handshake)."""
    from layso.server.domain.accounts import hash_token
    from layso.server.storage.models import Device, DeviceConnection
    from sqlalchemy import func, select
    with world["db"].read() as s:
        return s.execute(select(func.count()).select_from(DeviceConnection)
                         .join(Device, Device.id == DeviceConnection.device_id)
                         .where(Device.token_hash == hash_token(token))).scalar_one()


def _eventually(predicate, timeout=20.0) -> bool:
    return wait_for(predicate, timeout, 0.02)


def test_a_device_stays_online_while_any_of_its_connections_lives(world):
    token = world["tokens"]["display"]
    old = socketio.test_client(world["app"], auth={"token": token})
    new = socketio.test_client(world["app"], auth={"token": token})  # a quick reconnect
    assert _eventually(lambda: _device_connections(world, token) == 2 and _device_online(world, token))
    old.disconnect()  # the old connection's late disconnect
    assert _eventually(lambda: _device_connections(world, token) == 1), "the disconnect was not recorded"
    assert _device_online(world, token), "a late disconnect marked a connected device offline"
    new.disconnect()
    assert _eventually(lambda: not _device_online(world, token))


def test_a_deactivated_users_socket_is_refused_and_cut_off(world):
    from layso.server.realtime.events import disconnect_revoked
    from layso.server.storage.models import User
    from sqlalchemy import update
    client = world["clients"]["staff1"]
    sock = socketio.test_client(world["app"], flask_test_client=client)
    assert sock.is_connected()
    sock.get_received()
    assert sock.emit("counter.next", {}, callback=True) == {"ticket": None}
    with world["db"].write() as s:
        s.execute(update(User).where(User.username == "staff1").values(active=False))
    assert sock.emit("counter.next", {}, callback=True)["error"]["code"] == "unauthorized"
    assert disconnect_revoked(world["db"]) >= 1
    assert not sock.is_connected()


def test_a_cross_site_text_plain_post_cannot_sign_in(world):
    r = world["app"].test_client().post("/api/v1/session", data=json.dumps({"username": "staff", "password": PASSWORD}),
                                        content_type="text/plain")
    assert r.status_code == 400 and r.json["error"]["code"] == "malformed_body"


def test_pin_guessing_at_a_panel_is_limited(world):
    codes = [call(world, "counter1", "POST", "/api/v1/counters/1/signin", {"username": "staff", "pin": f"{i:04d}"})
             .status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    assert call(world, "counter1", "POST", "/api/v1/counters/1/signin",
                {"username": "staff", "pin": "1234"}).status_code == 429  # even the right PIN waits now


def test_a_socket_io_event_runs_in_a_request_context_that_matched_a_route(app):
    """Flask-SocketIO gives every event a request context of the connection's own request: that
    request (a WebSocket's or a polling client's) matches a route, so no NotFound with its traceback
    is raised and kept in cycles for the garbage collector by each event of a busy lobby."""
    from flask import request
    from werkzeug.test import EnvironBuilder
    for headers in ({"Upgrade": "websocket", "Connection": "Upgrade"}, {}):
        environ = EnvironBuilder(path="/socket.io/", query_string="EIO=4&transport=websocket",
                                 headers=headers).get_environ()
        with app.request_context(environ):
            assert request.routing_exception is None
            assert request.endpoint in ("socketio_websocket", "socketio_polling")
    # the path is still Engine.IO's: a plain GET there is its answer, not a page of ours
    r = app.test_client().get("/socket.io/?EIO=4&transport=polling")
    assert r.status_code == 200 and r.data.startswith(b"0{")


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://layso.local", "https://[::1]:8443",
                                 "http://xn--lys-lna.vn", "https://Trung-Tam.example:443"])
def test_a_tracking_link_starts_with_the_address_the_request_came_in_on(app, url):
    """`base_url` without a public URL configured: werkzeug's `host_url`, whatever the host."""
    from flask import request

    from layso.server.auth import base_url
    app.config.pop("LAYSO_PUBLIC_URL", None)
    with app.test_request_context("/api/v1/health", base_url=url):
        assert base_url() == request.host_url.rstrip("/")
