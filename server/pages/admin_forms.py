"""Reading the administration forms: labels of the form fields, whole numbers and lists typed in,
pydantic's complaints as people read them, and the engine's set-up refusals as form messages."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.errors import QueueError
from layso.server.messages import error_text
from layso.server.pages import wording
from pydantic import ValidationError

from layso.config import FieldConfig

WEEKDAY_NAMES = {"mon": _l("Monday"), "tue": _l("Tuesday"), "wed": _l("Wednesday"), "thu": _l("Thursday"),
                 "fri": _l("Friday"), "sat": _l("Saturday"), "sun": _l("Sunday")}
FIELD_LABELS = {"code": _l("Code"), "name": _l("Name"), "agency": _l("Agency"), "range_start": _l("First number"),
                "range_end": _l("Last number"), "prefix": _l("Letter prefix"), "width": _l("Digits"),
                "daily_cap": _l("Daily cap"), "cutoff": _l("Last issue time"),
                "target_wait_min": _l("Target wait (min)"), "number": _l("Number"), "fields": _l("Fields served"),
                "early_issue_minutes": _l("Early issuing (min)"), "holidays": _l("Holidays"),
                "makeup_days": _l("Make-up working days"), **WEEKDAY_NAMES}


class Invalid(Exception):
    """A form that does not validate; `messages` are shown above it."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def pydantic_messages(err: ValidationError) -> list[str]:
    return wording.pydantic_messages(err, FIELD_LABELS)  # in the page's language, never pydantic's English


def form_int(form, key: str, label, required: bool = False) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        if required:
            raise Invalid([_("%(label)s is required.", label=label)])
        return None
    if not re.fullmatch(r"\d{1,7}", text):
        raise Invalid([_("%(label)s must be a whole number.", label=label)])
    return int(text)


# What the engine's set-up commands refuse, as the administrator reads it (by error code).
SETUP_ERRORS = {
    "field_exists": _l("A field with the code %(code)s exists already."),
    "unknown_counters": _l("Unknown counters: %(n)s"),
    "field_unserved": _l("Choose at least one counter that serves this field (besides a priority counter)."),
    "unknown_fields": _l("Unknown fields: %(codes)s"),
    "counter_exists": _l("Counter %(n)s exists already."),
    "counter_not_found": _l("This counter does not exist."),
    "counter_open": _l("Close the counter before deactivating it (its officer signs out)."),
    "fields_unserved": _l("These fields would be served by no counter: %(names)s"),
    "device_not_found": _l("This device does not exist."),
    "account_not_found": _l("This account does not exist."),
    "own_account": _l("You cannot deactivate your own account."),
    "invalid_role": _l("Unknown role."),
    "own_role": _l("You cannot take the administrator role from yourself."),
    "unknown_command": _l("Unknown command."),
}


def engine_refusal(err: QueueError) -> Invalid:
    """An engine refusal as the form's message (the engine's own text where the page has none)."""
    text = SETUP_ERRORS.get(err.code)
    if text is not None:
        return Invalid([str(text) % err.params])
    if err.code == "invalid_numbering":  # the config's check, worded in English for the CLI
        return Invalid([wording.config_message(err.message)])
    return Invalid([error_text(err.code)])  # never the engine's English


def field_from_form(form, code: str) -> FieldConfig:
    data = {"code": code, "name": form.get("name", ""), "agency": form.get("agency", ""),
            "agency_aliases": [a.strip() for a in form.get("agency_aliases", "").split(",") if a.strip()],
            "width": form_int(form, "width", FIELD_LABELS["width"]) or 3,
            "daily_cap": form_int(form, "daily_cap", FIELD_LABELS["daily_cap"]),
            "cutoff": form.get("cutoff", "").strip() or None,
            "target_wait_min": form_int(form, "target_wait_min", FIELD_LABELS["target_wait_min"]),
            "accepting": form.get("accepting") == "on"}
    if form.get("numbering") == "prefix":
        data["prefix"] = form.get("prefix", "").strip().upper() or None
    else:
        data["range_start"] = form_int(form, "range_start", FIELD_LABELS["range_start"], required=True)
        data["range_end"] = form_int(form, "range_end", FIELD_LABELS["range_end"])
    try:
        return FieldConfig.model_validate(data)
    except ValidationError as err:
        raise Invalid(pydantic_messages(err)) from None


def split_list(text: str) -> list[str]:
    return [x for x in re.split(r"[\s,;]+", text.strip()) if x]


def field_form_values(f, served: list[int]) -> dict:
    """A field's settings as its form shows them; `served`: the numbers of the counters serving it."""
    return {"code": f.code, "name": f.name, "agency": f.agency, "agency_aliases": ", ".join(f.agency_aliases or []),
            "numbering": "prefix" if f.prefix else "range", "prefix": f.prefix or "", "width": f.width,
            "range_start": f.range_start or "", "range_end": f.range_end or "", "daily_cap": f.daily_cap or "",
            "cutoff": f.cutoff or "", "target_wait_min": f.target_wait_min or "",
            "accepting": "on" if f.accepting else "", "active": "on" if f.active else "", "position": f.position,
            "counters": [str(n) for n in served]}
