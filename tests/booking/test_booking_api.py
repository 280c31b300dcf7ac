"""The booking routes over HTTP (in-process app): options, booking with the citizen cookie or a phone,
check-in by kiosk and staff, errors in Vietnamese, bad bodies never 5xx, events over Socket.IO."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.storage.models import Booking
from sqlalchemy import select

PASSWORD = "password-123"


@pytest.fixture
def kiosk(svc):
    return add_device(svc.db, "kiosk", "Kiosk 1")


def test_options_lists_fields_and_days(app):
    r = app.test_client().get("/api/v1/booking/options")
    assert r.status_code == 200
    fields = {f["code"]: f for f in r.json["fields"]}
    assert set(fields) == {"dat-dai", "bhxh", "tu-phap-ho-tich"}
    f = fields["dat-dai"]
    assert f["online_open"] is True and f["name"]
    assert len(f["days"]) == 7 and f["days"][0] == {"day": "2026-11-23", "slots": None, "free": 249}  # half of 2001–2499


def test_book_sets_a_cookie_and_counts_the_citizen_by_it(app):
    c = app.test_client()
    r = c.post("/api/v1/bookings", json={"field": "bhxh"})
    assert r.status_code == 201, r.json
    assert r.json["number"] == "6501" and r.json["status"] == "booked"
    assert r.json["track_url"].startswith("http://localhost/t/")
    assert "layso_citizen" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert c.post("/api/v1/bookings", json={"field": "bhxh"}).status_code == 201
    third = c.post("/api/v1/bookings", json={"field": "dat-dai"})
    assert third.status_code == 409 and third.json["error"]["code"] == "booking_limit"
    assert "nhiều nhất" in third.json["error"]["message"] or "tối đa" in third.json["error"]["message"]
    # another browser is another citizen
    assert app.test_client().post("/api/v1/bookings", json={"field": "bhxh"}).status_code == 201


def test_a_phone_counts_across_browsers_and_is_never_stored(app, svc):
    for _ in range(2):
        assert app.test_client().post("/api/v1/bookings", json={"field": "bhxh", "phone": "0912 345 678"}).status_code == 201
    r = app.test_client().post("/api/v1/bookings", json={"field": "bhxh", "phone": "+84912345678"})
    assert r.status_code == 409 and r.json["error"]["code"] == "booking_limit"
    bad = app.test_client().post("/api/v1/bookings", json={"field": "bhxh", "phone": "12345"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_phone"
    with svc.db.read() as s:
        keys = s.execute(select(Booking.citizen_key)).scalars().all()
    assert all("912345678" not in k for k in keys)


def test_check_in_by_kiosk_and_staff(app, svc, kiosk):
    c = app.test_client()
    b1 = c.post("/api/v1/bookings", json={"field": "bhxh"}).json
    b2 = c.post("/api/v1/bookings", json={"field": "dat-dai"}).json
    h = {"Authorization": f"Bearer {kiosk}"}
    r = app.test_client().post(f"/api/v1/bookings/{b1['code']}/check-in", headers=h)
    assert r.status_code == 200 and r.json["number"] == b1["number"] and r.json["status"] == "waiting"
    again = app.test_client().post(f"/api/v1/bookings/{b1['code']}/check-in", headers=h)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_checked_in"
    missing = app.test_client().post("/api/v1/bookings/ACDEFHJ/check-in", headers=h)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "booking_not_found"
    assert app.test_client().post(f"/api/v1/bookings/{b2['code']}/check-in").status_code == 401
    add_user(svc.db, "staff", "staff", PASSWORD)
    staff = app.test_client()
    csrf = staff.post("/api/v1/session", json={"username": "staff", "password": PASSWORD}).json["csrf_token"]
    assert staff.post(f"/api/v1/bookings/{b2['code']}/check-in").status_code == 403  # CSRF
    r = staff.post(f"/api/v1/bookings/{b2['code']}/check-in", headers={"X-CSRFToken": csrf})
    assert r.status_code == 200 and r.json["booking"]["status"] == "checked_in"
    display = add_device(svc.db, "display", "TV")
    r = app.test_client().post(f"/api/v1/bookings/{b2['code']}/check-in", headers={"Authorization": f"Bearer {display}"})
    assert r.status_code == 403


def test_closed_booking_is_409_with_reason(app):
    r = app.test_client().post("/api/v1/bookings", json={"field": "bhxh", "day": "2027-01-01"})
    assert r.status_code == 409 and r.json["error"]["code"] == "booking_closed"
    assert r.json["error"]["reason"] == "outside_horizon"
    en = app.test_client().post("/api/v1/bookings", json={"field": "bhxh", "day": "2027-01-01"},
                                headers={"Accept-Language": "en"})
    assert en.json["error"]["message"].startswith("Online booking is not open")


def test_request_id_replay_answers_200(app):
    c = app.test_client()
    first = c.post("/api/v1/bookings", json={"field": "bhxh", "request_id": "abc"})
    again = c.post("/api/v1/bookings", json={"field": "bhxh", "request_id": "abc"})
    assert (first.status_code, again.status_code) == (201, 200) and first.json == again.json


def test_booking_events_reach_devices_with_seq(app, kiosk):
    from conftest import settled_device_socket
    sock, received = settled_device_socket(app, kiosk)
    seq0 = max([m["args"][0].get("seq", 0) for m in received if m["name"] != "state"] +
               [m["args"][0]["seq"] for m in received if m["name"] == "state"])
    b = app.test_client().post("/api/v1/bookings", json={"field": "bhxh"}).json
    app.test_client().post(f"/api/v1/bookings/{b['code']}/check-in", headers={"Authorization": f"Bearer {kiosk}"})
    got = [(m["name"], m["args"][0]["seq"]) for m in sock.get_received()]
    assert [n for n, _ in got] == ["ticket.issued", "booking.created", "queue.changed", "booking.checked_in"]
    assert [s for _, s in got] == list(range(seq0 + 1, seq0 + 5))
    sock.disconnect()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.dictionaries(st.sampled_from(["field", "day", "slot", "phone", "request_id", "x"]),
                                 st.one_of(st.none(), st.integers(), st.text(max_size=30), st.booleans(),
                                           st.lists(st.integers(), max_size=2))),
                 st.sampled_from([[], "x", 3, None])))
def test_fuzzed_booking_bodies_never_5xx(app, body):
    r = app.test_client().post("/api/v1/bookings", json=body)
    assert r.status_code < 500, r.json
    assert r.json and ("error" in r.json or "code" in r.json)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_fuzzed_check_in_codes_never_5xx(app, kiosk, code):
    r = app.test_client().post(f"/api/v1/bookings/{code.replace('/', '')}/check-in",
                               headers={"Authorization": f"Bearer {kiosk}"})
    assert r.status_code < 500


def test_openapi_lists_the_booking_routes(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    for path in ("/booking/options", "/bookings", "/bookings/{code}/check-in"):
        assert path in doc["paths"], path
    assert set(doc["components"]["schemas"]["BookingBody"]["properties"]) == {"field", "day", "slot", "phone",
                                                                              "request_id"}
    assert doc["components"]["schemas"]["Booking"]["properties"]["status"]["enum"] == [
        "booked", "checked_in", "lapsed", "cancelled"]
