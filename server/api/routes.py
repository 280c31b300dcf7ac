"""The REST adapter (`/api/v1`): authenticate, validate, call the engine, publish after commit."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from layso.server.api import openapi
from layso.server.api.guard import json_body
from layso.server.api.schemas import (
    DeviceStatusBody,
    IssueBody,
    PriorityBody,
    RatingBody,
    ReprintOutcomeBody,
    SessionBody,
    TickerBody,
    parse,
)
from layso.server.auth import (
    base_url,
    check_password,
    current_principal,
    for_principal,
    limit,
    limit_password_guess,
    need,
)
from layso.server.dispatch import COUNTER_ACTIONS, counter_command
from layso.server.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    QueueError,
    Unauthorized,
)
from layso.server.services import publish, services
from wtforms import ValidationError as CSRFError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _csrf_for_sessions():
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.endpoint not in _CSRF_EXEMPT:
        who = current_principal()
        if who is not None and g.get("via_session"):
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except CSRFError:
                raise Forbidden("CSRF token missing or wrong", "csrf_failed") from None


def body(required: bool = False) -> dict:
    """The JSON object of the request (`{}` when there is none, unless the schema requires one)."""
    if not request.content_length and not request.data:
        if required:
            raise BadRequest("a JSON object body is required", "invalid_body")
        return {}
    if not request.is_json:  # JSON only: a cross-site form (text/plain) cannot post here
        raise BadRequest("the body must be JSON (Content-Type: application/json)", "malformed_body")
    data = json_body()
    if data is None:
        raise BadRequest("the body is not valid JSON", "malformed_body")
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", "malformed_body")
    return data


# ---- session (web pages and the staff console) -----------------------------------------------
@bp.post("/session")
def sign_in():
    b = parse(SessionBody, body())
    svc = services()
    limit_password_guess(svc.limiter, b.username, request.remote_addr)
    user = check_password(svc.db, b.username, b.password)
    if user is None:
        raise Unauthorized("wrong username or password", "invalid_credentials")
    session.clear()
    session["uid"] = user.id
    session.permanent = True
    counter = None
    if b.counter is not None:
        res = publish(svc.engine.sign_in(user.centre_id, b.counter, user.id, base_url=base_url()))
        session["counter"] = b.counter
        counter = res.value
    return jsonify({"user": {"username": user.username, "role": user.role, "name": user.full_name},
                    "counter": counter, "csrf_token": generate_csrf()})


@bp.get("/session")
def whoami():
    who = need()
    return jsonify({"kind": who.kind, "role": who.role, "name": who.name, "counter": who.counter,
                    "csrf_token": generate_csrf() if who.is_user else None})


@bp.delete("/session")
def sign_out():
    session.clear()
    return "", 204


_CSRF_EXEMPT = {"api.sign_in"}


# ---- fields and tickets ----------------------------------------------------------------------
@bp.get("/fields")
def fields():
    who = need("kiosk", "display", "counter", "staff")
    return jsonify(services().engine.fields(who.centre_id))


@bp.post("/tickets")
def issue():
    who = need("kiosk", "staff")
    b = parse(IssueBody, body())
    channel = b.channel or ("kiosk" if who.role == "kiosk" else "staff")
    res = services().engine.issue(who.centre_id, b.field, priority=b.priority, channel=channel,
                                  request_id=b.request_id, device_id=who.device_id, officer_id=who.user_id,
                                  base_url=base_url())
    publish(res)
    return jsonify(res.value), 201 if res.created else 200


@bp.get("/tickets/<int:ticket_id>")
def ticket(ticket_id: int):
    who = need("staff", "counter")
    return jsonify(for_principal(who, services().engine.ticket(who.centre_id, ticket_id, base_url=base_url())))


@bp.post("/tickets/<int:ticket_id>/reprint")
def reprint(ticket_id: int):
    who = need("staff")
    body()
    publish(services().engine.reprint(who.centre_id, ticket_id, officer_id=who.user_id, base_url=base_url()))
    return jsonify({"status": "queued"}), 202


@bp.post("/tickets/<int:ticket_id>/reprint/outcome")
def reprint_outcome(ticket_id: int):
    """The issuing kiosk reports whether a reprint came out (`ticket.reprinted` tells the console)."""
    who = need("kiosk")
    b = parse(ReprintOutcomeBody, body())
    publish(services().engine.reprint_outcome(who.centre_id, ticket_id, who.device_id, b.printed,
                                              printer=b.printer, detail=b.detail))
    return "", 204


@bp.post("/tickets/<int:ticket_id>/priority")
def grant_priority(ticket_id: int):
    who = need("staff")
    b = parse(PriorityBody, body())
    res = publish(services().engine.grant_priority(who.centre_id, ticket_id, b.category, b.reason,
                                                   officer_id=who.user_id, base_url=base_url()))
    return jsonify(res.value)


@bp.post("/tickets/<int:ticket_id>/rating")
def rate_at_panel(ticket_id: int):
    who = need("counter")
    b = parse(RatingBody, body())
    res = publish(services().engine.rate(who.centre_id, b.score, b.reasons, b.comment, ticket_id=ticket_id,
                                         counter_number=who.counter))
    return jsonify(res.value), 201


# ---- public tracking -------------------------------------------------------------------------
def _track_centre(token: str) -> int:
    cid = services().engine.centre_of_track(token)
    if cid is None:
        raise NotFound("unknown tracking link", "ticket_not_found")
    return cid


@bp.get("/track/<token>")
def track(token: str):
    limit("track-read", 240)
    return jsonify(services().engine.track(_track_centre(token), token, base_url=base_url()))


@bp.post("/track/<token>/cancel")
def track_cancel(token: str):
    limit("track-write", 30)  # public by the contract, so limited per address and per link
    services().limiter.hit(("track-cancel", token[:64]), 5, 3600)
    body()
    res = publish(services().engine.cancel(_track_centre(token), token, base_url=base_url()))
    return jsonify(res.value)


@bp.post("/track/<token>/rating")
def track_rating(token: str):
    limit("track-write", 30)
    b = parse(RatingBody, body())
    res = publish(services().engine.rate(_track_centre(token), b.score, b.reasons, b.comment, track_token=token))
    return jsonify(res.value), 201


# ---- counters --------------------------------------------------------------------------------
@bp.post("/counters/<int:n>/<action>")
def counter_action(n: int, action: str):
    if action not in COUNTER_ACTIONS:
        raise NotFound("unknown counter command", "not_found")
    who = need("counter", "staff")
    status, payload = counter_command(services(), who, n, action, body(), base_url())
    if status == 204:
        return "", 204
    return jsonify(for_principal(who, payload)), status


# ---- devices, state, ticker --------------------------------------------------------------------
@bp.post("/devices/me/status")
def device_status():
    who = need("kiosk", "display", "counter")
    b = parse(DeviceStatusBody, body(required=True))  # the schema requires it (`{}` says "all well")
    publish(services().engine.device_status(who.centre_id, who.device_id, printer=b.printer, detail=b.detail))
    return "", 204


@bp.get("/state")
def state():
    who = need("kiosk", "display", "counter", "staff")
    state = for_principal(who, services().engine.state(who.centre_id, base_url=base_url()))
    state["device"] = who.device_info()
    return jsonify(state)


@bp.put("/ticker")
def set_ticker():
    who = need("manager")
    b = parse(TickerBody, body())
    res = publish(services().engine.set_ticker(who.centre_id, b.ticker, user_id=who.user_id))
    return jsonify({"ticker": res.value})


STATS_FIRST_DAY, STATS_LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


@bp.get("/stats")
def stats():
    who = need("manager")
    from layso.server.queries.stats import GROUPS, compute_stats
    group = request.args.get("group", "field")
    if group not in GROUPS:
        raise BadRequest(f"group must be one of {', '.join(GROUPS)}", "invalid_group")
    try:
        d_from = date.fromisoformat(request.args.get("from", ""))
        d_to = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        raise BadRequest("from and to must be dates YYYY-MM-DD", "invalid_dates") from None
    if d_to < d_from or (d_to - d_from).days > 731:
        raise BadRequest("to must be on or after from, at most two years apart", "invalid_dates")
    if d_from < STATS_FIRST_DAY or d_to > STATS_LAST_DAY:  # local days at the calendar's edges overflow
        raise BadRequest(f"from and to must lie between {STATS_FIRST_DAY} and {STATS_LAST_DAY}", "invalid_dates")
    return jsonify(compute_stats(services().db, who.centre_id, d_from, d_to, group))


@bp.get("/openapi.json")
def openapi_doc():
    return jsonify(openapi.document())


# ---- errors ------------------------------------------------------------------------------------
@bp.errorhandler(QueueError)
def _queue_error(err: QueueError):
    from layso.server.messages import error_body
    return jsonify(error_body(err.code, err.message, **{k: v for k, v in err.params.items() if k in ("reason", "field")})), err.status


__all__ = ["bp", "base_url", "current_principal", "need"]
