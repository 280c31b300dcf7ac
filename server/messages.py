"""What people read when something goes wrong: one text per error code, translated by Flask-Babel."""
from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

ERRORS = {
    "bad_request": _l("The request is not valid."),
    "malformed_body": _l("The request body is not valid JSON."),
    "invalid_body": _l("Some information in the request is missing or not valid."),
    "unauthorized": _l("Please sign in, or check the device token."),
    "forbidden": _l("You are not allowed to do this here."),
    "not_found": _l("Not found."),
    "centre_not_found": _l("This centre does not exist."),
    "field_not_found": _l("This field does not exist."),
    "counter_not_found": _l("This counter does not exist."),
    "ticket_not_found": _l("This ticket does not exist."),
    "device_not_found": _l("This device does not exist."),
    "field_closed": _l("This field is not issuing numbers now (outside working hours)."),
    "daily_cap_reached": _l("No numbers left for this field today."),
    "counter_paused": _l("The counter is paused. Resume it first."),
    "counter_not_paused": _l("The counter is not paused."),
    "no_current_ticket": _l("No citizen is being served at this counter."),
    "no_officer": _l("Nobody is signed in at this counter. Sign in first."),
    "ticket_not_waiting": _l("This ticket is no longer waiting."),
    "already_rated": _l("This ticket has already been rated."),
    "window_over": _l("The time to rate this service is over."),
    "not_served": _l("A ticket can be rated after its service is completed."),
    "reason_required": _l("Please choose a reason or write a comment."),
    "invalid_score": _l("This score is not on the rating scale."),
    "invalid_priority": _l("This priority category does not exist."),
    "invalid_transfer": _l("Choose one field or one other counter to transfer to."),
    "request_id_reused": _l("This request was already used for another ticket."),
    "no_kiosk": _l("This ticket was not issued by a kiosk."),
    "too_many_requests": _l("Too many requests. Please wait a moment."),
    "unknown_event": _l("Unknown command."),
    "invalid_credentials": _l("Wrong username or password."),
    "invalid_pin": _l("Wrong username or PIN."),
    "csrf_failed": _l("The form expired. Please reload the page."),
    "user_exists": _l("This username exists already."),
    "booking_closed": _l("Online booking is not open for this field and day now."),
    "booking_limit": _l("You have already taken the most online numbers allowed for that day."),
    "booking_not_found": _l("This booking code does not exist. Please check the code."),
    "booking_cancelled": _l("This booking was cancelled."),
    "slot_full": _l("This time slot is full. Please choose another one."),
    "lapsed": _l("This booking has lapsed. Please take a new number."),
    "too_early": _l("This booking is for a later day."),
    "already_checked_in": _l("This booking has already been checked in."),
    "invalid_phone": _l("Please enter a Vietnamese mobile number (10 digits)."),
    "invalid_day": _l("Please choose a day."),
    "channel_unavailable": _l("This way of notifying is not available here."),
    "invalid_subscription": _l("This browser's notification subscription cannot be used. Please choose SMS."),
    "internal_error": _l("Something went wrong on the server. Please try again."),
    "invalid_text": _l("The text holds a character that cannot be stored (such as a NUL byte)."),
    "invalid_dates": _l("Choose dates between 1970 and 2999, the end on or after the start, at most two years apart."),
    "method_not_allowed": _l("This address does not accept this method."),
    "database_unavailable": _l("The database cannot be reached. Please try again in a moment."),
    "storage_full": _l("The server's disk is full: nothing can be saved. Tell the administrator."),
    "storage_read_only": _l("The database may not be written (read-only): nothing can be saved. Tell the administrator."),
}


def error_text(code: str, fallback: str | None = None) -> str:
    text = ERRORS.get(code)
    if text is not None:
        return str(text)
    return gettext("The request is not valid.") if fallback is None else fallback


def error_body(code: str, fallback: str | None = None, **extra) -> dict:
    body = {"code": code, "message": error_text(code, fallback)}
    body.update({k: v for k, v in extra.items() if v is not None})
    return {"error": body}
