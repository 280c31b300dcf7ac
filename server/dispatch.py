"""Counter commands: one dispatch that REST and Socket.IO share, so their effect is identical."""
from __future__ import annotations

from layso.server.api.schemas import (
    CallNumberBody,
    CompleteBody,
    Empty,
    PauseBody,
    PinSignInBody,
    TransferBody,
    parse,
)
from layso.server.auth import Principal, check_pin, limit_pin_guess
from layso.server.engine import Result
from layso.server.errors import Forbidden, Unauthorized
from layso.server.services import Services

from layso.protocol import COUNTER_COMMANDS

COUNTER_ACTIONS = COUNTER_COMMANDS  # the wire protocol's names


# action → (body schema, the engine command with its arguments); "signin" is the panel's PIN sign-in.
_COMMANDS = {
    "next": (Empty, lambda e, cid, n, body, officer, url: e.call_next(cid, n, officer_id=officer, base_url=url)),
    "recall": (Empty, lambda e, cid, n, body, officer, url: e.recall(cid, n, officer_id=officer, base_url=url)),
    "skip": (Empty, lambda e, cid, n, body, officer, url: e.skip(cid, n, officer_id=officer, base_url=url)),
    "complete": (CompleteBody, lambda e, cid, n, body, officer, url: e.complete(
        cid, n, dossier_code=body.dossier_code, officer_id=officer, base_url=url)),
    "pause": (PauseBody, lambda e, cid, n, body, officer, url: e.pause(
        cid, n, reason=body.reason, officer_id=officer, base_url=url)),
    "resume": (Empty, lambda e, cid, n, body, officer, url: e.resume(cid, n, officer_id=officer, base_url=url)),
    "transfer": (TransferBody, lambda e, cid, n, body, officer, url: e.transfer(
        cid, n, to_field=body.field, to_counter=body.counter, officer_id=officer, base_url=url)),
    "call": (CallNumberBody, lambda e, cid, n, body, officer, url: e.call_number(
        cid, n, body.number, officer_id=officer, base_url=url)),
    "close": (Empty, lambda e, cid, n, body, officer, url: e.close_counter(cid, n, base_url=url)),
}


def counter_command(svc: Services, who: Principal, n: int, action: str, data, base_url: str | None) -> tuple[int, dict | None]:
    """Run a counter command for `who` at counter `n`; publish its events; return (status, body)."""
    if action not in COUNTER_ACTIONS:
        raise Forbidden("unknown command", "unknown_event")
    if action == "signin":
        return _pin_sign_in(svc, who, n, data, base_url)
    if not who.may_act_at(n):
        raise Forbidden("you do not act at this counter", "forbidden")
    schema, command = _COMMANDS[action]
    body = parse(schema, data)
    res = command(svc.engine, who.centre_id, n, body, who.user_id if who.is_user else None, base_url)
    _publish(svc, res)
    if action == "next" and res.value is None:
        return 204, None
    return 200, res.value


def _pin_sign_in(svc: Services, who: Principal, n: int, data, base_url: str | None) -> tuple[int, dict]:
    if who.role != "counter" or who.counter != n:
        raise Forbidden("only the counter's own panel signs in by PIN", "forbidden")
    body = parse(PinSignInBody, data)
    # a panel's PINs cannot be guessed: limited per address, per panel and per user (auth.PIN_LIMITS)
    limit_pin_guess(svc.limiter, who.centre_id, who.device_id, body.username, client_address())
    user = check_pin(svc.db, who.centre_id, body.username, body.pin)
    if user is None:
        raise Unauthorized("wrong username or PIN", "invalid_pin")
    res = svc.engine.sign_in(who.centre_id, n, user.id, base_url=base_url)
    _publish(svc, res)
    return 200, {"counter": res.value}


def client_address() -> str | None:
    """The caller's address (REST request or Socket.IO connection), as the trusted proxy tells it."""
    from flask import has_request_context, request
    return request.remote_addr if has_request_context() else None


def _publish(svc: Services, res: Result) -> None:
    if res.events and svc.publish is not None:
        svc.publish(res.events)


