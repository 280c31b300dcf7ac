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

COUNTER_ACTIONS = ("next", "recall", "skip", "complete", "pause", "resume", "transfer", "call", "signin", "close")


def counter_command(svc: Services, who: Principal, n: int, action: str, data, base_url: str | None) -> tuple[int, dict | None]:
    """Run a counter command for `who` at counter `n`; publish its events; return (status, body)."""
    if action not in COUNTER_ACTIONS:
        raise Forbidden("unknown command", "unknown_event")
    e = svc.engine
    cid = who.centre_id
    officer = who.user_id if who.is_user else None
    if action == "signin":
        if who.role != "counter" or who.counter != n:
            raise Forbidden("only the counter's own panel signs in by PIN", "forbidden")
        body = parse(PinSignInBody, data)
        # a panel's PINs cannot be guessed: limited per address, per panel and per user (auth.PIN_LIMITS)
        limit_pin_guess(svc.limiter, cid, who.device_id, body.username, client_address())
        user = check_pin(svc.db, cid, body.username, body.pin)
        if user is None:
            raise Unauthorized("wrong username or PIN", "invalid_pin")
        res = e.sign_in(cid, n, user.id, base_url=base_url)
        _publish(svc, res)
        return 200, {"counter": res.value}
    if not who.may_act_at(n):
        raise Forbidden("you do not act at this counter", "forbidden")
    if action == "next":
        parse(Empty, data)
        res = e.call_next(cid, n, officer_id=officer, base_url=base_url)
        _publish(svc, res)
        return (204, None) if res.value is None else (200, res.value)
    if action == "recall":
        parse(Empty, data)
        res = e.recall(cid, n, officer_id=officer, base_url=base_url)
    elif action == "skip":
        parse(Empty, data)
        res = e.skip(cid, n, officer_id=officer, base_url=base_url)
    elif action == "complete":
        body = parse(CompleteBody, data)
        res = e.complete(cid, n, dossier_code=body.dossier_code, officer_id=officer, base_url=base_url)
    elif action == "pause":
        body = parse(PauseBody, data)
        res = e.pause(cid, n, reason=body.reason, officer_id=officer, base_url=base_url)
    elif action == "resume":
        parse(Empty, data)
        res = e.resume(cid, n, officer_id=officer, base_url=base_url)
    elif action == "transfer":
        body = parse(TransferBody, data)
        res = e.transfer(cid, n, to_field=body.field, to_counter=body.counter, officer_id=officer, base_url=base_url)
    elif action == "call":
        body = parse(CallNumberBody, data)
        res = e.call_number(cid, n, body.number, officer_id=officer, base_url=base_url)
    else:  # close
        parse(Empty, data)
        res = e.close_counter(cid, n, base_url=base_url)
    _publish(svc, res)
    return 200, res.value


def client_address() -> str | None:
    """The caller's address (REST request or Socket.IO connection), as the trusted proxy tells it."""
    from flask import has_request_context, request
    return request.remote_addr if has_request_context() else None


def _publish(svc: Services, res: Result) -> None:
    if res.events and svc.publish is not None:
        svc.publish(res.events)


