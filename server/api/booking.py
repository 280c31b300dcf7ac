"""REST routes of the remote channel (`/api/v1`): booking options, booking, check-in.

Public routes take no centre in the path: with one centre it is that one, with several the caller
names it (`?centre=CODE`). A citizen is counted by a keyed hash of the phone number when one is
given, else of a random cookie of the browser (`layso_citizen`), which this module sets when absent.
"""
from __future__ import annotations

import secrets

from typing import Annotated

from flask import Blueprint, current_app, jsonify, request
from layso.server.api.routes import _csrf_for_sessions, body
from layso.server.api.schemas import Body, parse
from layso.server.auth import base_url, limit, need
from layso.server.engine.base import centre_id_of
from layso.server.domain.booking import citizen_key, normalise_phone
from layso.server.errors import BadRequest, QueueError
from layso.server.services import publish, services
from pydantic import Field, StrictStr

bp = Blueprint("booking_api", __name__, url_prefix="/api/v1")


@bp.before_request
def _csrf():
    if request.endpoint == "booking_api.check_in":  # the public routes act for nobody signed in
        _csrf_for_sessions()



class BookingBody(Body):
    field: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    day: Annotated[StrictStr, Field(max_length=10)] | None = None
    slot: Annotated[StrictStr, Field(max_length=40)] | None = None
    phone: Annotated[StrictStr, Field(max_length=20)] | None = None
    request_id: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None


CITIZEN_COOKIE = "layso_citizen"
COOKIE_DAYS = 400


def public_centre() -> int:
    code = request.args.get("centre")
    if code is not None and (not isinstance(code, str) or len(code) > 40):
        raise BadRequest("centre must be a centre code", "centre_not_found")
    return centre_id_of(services().db, code or None)


def citizen_of_request(phone) -> tuple[str | None, str | None]:
    """(citizen key, a new cookie value to set or None) for this request."""
    cookie = request.cookies.get(CITIZEN_COOKIE)
    if not (isinstance(cookie, str) and 16 <= len(cookie) <= 64 and cookie.replace("-", "").replace("_", "").isalnum()):
        cookie = None
    new_cookie = None
    if phone is not None:
        try:
            phone = normalise_phone(phone)
        except ValueError:
            raise BadRequest("phone must be a Vietnamese mobile number", "invalid_phone") from None
    elif cookie is None:
        cookie = new_cookie = secrets.token_urlsafe(24)
    return citizen_key(current_app.secret_key, phone=phone, device=cookie), new_cookie


def set_citizen_cookie(resp, value: str | None):
    if value is not None:
        resp.set_cookie(CITIZEN_COOKIE, value, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return resp


@bp.get("/booking/options")
def options():
    limit("booking-read", 240)
    return jsonify(services().engine.booking.options(public_centre()))


@bp.post("/bookings")
def book():
    limit("booking", 60)
    b = parse(BookingBody, body())
    key, new_cookie = citizen_of_request(b.phone)
    res = publish(services().engine.booking.book(public_centre(), b.field, day=b.day, slot=b.slot, citizen_key=key,
                                                 request_id=b.request_id, base_url=base_url()))
    return set_citizen_cookie(jsonify(res.value), new_cookie), 201 if res.created else 200


class NotifyBody(Body):
    channel: Annotated[StrictStr, Field(max_length=10)]
    ahead: Annotated[int, Field(ge=0, le=50, strict=True)] | None = None
    phone: Annotated[StrictStr, Field(max_length=20)] | None = None
    subscription: dict | None = None


@bp.post("/track/<token>/notify")
def notify(token: str):
    limit("track-write", 30)
    from layso.server.notify.outbox import subscribe
    b = parse(NotifyBody, body())
    answer = subscribe(services().db, token, b.channel, b.ahead, b.phone, b.subscription)
    if services().notifier is not None:  # a new subscription may already be due ("2 ahead" when 2 are)
        services().notifier.wake()
    return jsonify(answer), 201


@bp.post("/bookings/<code>/check-in")
def check_in(code: str):
    who = need("kiosk", "staff")
    body()
    res = publish(services().engine.booking.check_in(who.centre_id, code, device_id=who.device_id,
                                                     officer_id=who.user_id, base_url=base_url()))
    return jsonify(res.value)


def openapi_parts(op, json_, ref) -> tuple[dict, dict]:
    """This module's routes and objects for the OpenAPI document (api/openapi.py assembles it)."""
    day = {"type": "string", "format": "date"}
    booking = {"type": "object", "properties": {
        "code": {"type": "string", "pattern": "^[ACDEFHJKMNPQRTUVWXY3479]{6,8}$"},
        "kind": {"type": "string", "enum": ["number", "appointment"]}, "number": {"type": ["string", "null"]},
        "field": {"type": "string"}, "field_name": {"type": "string"}, "day": day,
        "slot": {"type": ["object", "null"], "properties": {"start": {"type": "string"}, "end": {"type": "string"}}},
        "status": {"type": "string", "enum": ["booked", "checked_in", "lapsed", "cancelled"]},
        "check_in_by": {"type": ["string", "null"], "format": "date-time"}, "track_url": {"type": "string"}}}
    options_ = {"type": "object", "properties": {"fields": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}, "online_open": {"type": "boolean"},
        "days": {"type": "array", "items": {"type": "object", "properties": {
            "day": day, "free": {"type": "integer"},
            "slots": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "start": {"type": "string"}, "end": {"type": "string"}, "free": {"type": "integer"}}}}}}}}}}}}
    centre = [{"name": "centre", "in": "query", "schema": {"type": "string"},
               "description": "the centre's code (only needed where the server has several)"}]
    code = [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths = {
        "/booking/options": {"get": op("Public: fields and days that can be booked online", [], ok=json_(ref("BookingOptions")),
                                       params=centre)},
        "/bookings": {"post": op("Public: book an online number (409 booking_closed, daily_cap_reached, booking_limit, "
                                 "slot_full)", [], "BookingBody", json_(ref("Booking"), "Created"), status="201",
                                 params=centre, extra={"200": json_(ref("Booking"), "Same request_id: the same booking")})},
        "/track/{track_token}/notify": {"post": op("Public: be told when N people are ahead and when called; "
                                                   "webpush takes the browser's PushSubscription (toJSON: an https "
                                                   "endpoint, keys p256dh and auth; 400 invalid_subscription) "
                                                   "(409 channel_unavailable)", [], "NotifyBody", status="201",
                                                   params=[{"name": "track_token", "in": "path", "required": True,
                                                            "schema": {"type": "string"}}])},
        "/bookings/{code}/check-in": {"post": op("Check a booking in (kiosk prints the ticket; 409 lapsed, too_early, "
                                                 "already_checked_in)", ["deviceToken", "session"],
                                                 ok=json_(ref("Ticket")), params=code)},
    }
    components = {"Booking": booking, "BookingOptions": options_,
                  "BookingBody": BookingBody.model_json_schema(ref_template="#/components/schemas/{model}"),
                  "NotifyBody": NotifyBody.model_json_schema(ref_template="#/components/schemas/{model}")}
    return paths, components


@bp.errorhandler(QueueError)
def _queue_error(err: QueueError):
    from layso.server.messages import error_body
    extra = {k: v for k, v in err.params.items() if k in ("reason", "field", "day")}
    return jsonify(error_body(err.code, err.message, **extra)), err.status

