"""What the web pages say about codes and validation errors, in the page's language.

The configuration models (`layso.config`, shared with the CLI) and pydantic word their errors in
English for a log or a terminal; an administrator's form must read them in Vietnamese. Here each
pydantic error type and each message of the config's validators gets its translated text (the
values it names are kept), and the audit log's action codes and keys and the roles of people and
devices get the names people use. A text not known here is shown as a generic Vietnamese sentence
naming the field, never as raw English.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ValidationError

# ---- pydantic's error types ---------------------------------------------------------------------------
PYDANTIC_TYPES = {
    "missing": _l("is required."),
    "too_short": _l("choose or enter at least %(min_length)s."),
    "too_long": _l("has too many entries (at most %(max_length)s)."),
    "string_too_short": _l("is required."),
    "string_too_long": _l("is too long (at most %(max_length)s characters)."),
    "string_pattern_mismatch": _l("contains characters that are not allowed."),
    "int_parsing": _l("must be a whole number."),
    "int_type": _l("must be a whole number."),
    "int_from_float": _l("must be a whole number."),
    "greater_than_equal": _l("must be at least %(ge)s."),
    "greater_than": _l("must be more than %(gt)s."),
    "less_than_equal": _l("must be at most %(le)s."),
    "less_than": _l("must be less than %(lt)s."),
    "bool_parsing": _l("must be yes or no."),
    "literal_error": _l("must be one of: %(expected)s."),
    "enum": _l("must be one of: %(expected)s."),
    "string_type": _l("must be a text."),
    "list_type": _l("must be a list."),
    "extra_forbidden": _l("is not a known setting."),
}

# ---- the config validators' messages (layso/config.py): English pattern → translated text ------------
# (`text`, quoted in the English, is shown without its quotes)
CONFIG_MESSAGES: dict[str, object] = {
    r"^(?P<text>'.*') is not an interval HH:MM-HH:MM$":
        _l("%(text)s is not an interval HH:MM-HH:MM (for example 07:30-11:30)."),
    r"^(?P<text>'.*') has an invalid time$": _l("%(text)s contains a time that does not exist."),
    r"^(?P<text>'.*') ends before it starts$": _l("%(text)s ends before it starts."),
    r"^intervals must be in order and must not overlap$": _l("the intervals must be in order and must not overlap."),
    r"^must be HH:MM$": _l("must be a time HH:MM (for example 16:30)."),
    r"^set exactly one of range_start \(numeric range\) or prefix \(letters\)$":
        _l("choose either a range of numbers (first number) or a letter prefix, not both."),
    r"^range_end is before range_start$": _l("the last number is before the first number."),
    r"^daily_cap (?P<cap>\d+) is larger than the number range \((?P<size>\d+) numbers\)$":
        _l("the daily cap %(cap)s is larger than the number range (%(size)s numbers)."),
    r"^number ranges of fields (?P<a>\S+) and (?P<b>\S+) overlap$":
        _l("the number ranges of fields %(a)s and %(b)s overlap: give each field its own range."),
    r"^letter prefixes must be unique: (?P<list>.*)$": _l("two fields use the same letter prefix: %(list)s."),
    r"^field codes must be unique: (?P<list>.*)$": _l("two fields use the same code: %(list)s."),
    r"^counter numbers must be unique$": _l("two counters have the same number."),
    r"^counter (?P<n>\d+) serves unknown fields (?P<list>.*)$":
        _l("counter %(n)s serves fields that do not exist: %(list)s."),
    r"^fields served by no counter: (?P<list>.*)$": _l("these fields are served by no counter: %(list)s."),
    r"^booking names unknown fields (?P<list>.*)$":
        _l("the online booking settings name fields that do not exist: %(list)s."),
    r"^rating levels must have distinct scores$": _l("each rating level needs its own score."),
    r"^satisfied_min must be one of the levels' scores$":
        _l("the lowest satisfied score must be the score of one of the levels."),
    r"^unknown time zone (?P<zone>.*)$": _l("unknown time zone %(zone)s."),
    r"^must start with http:// or https://$": _l("must start with http:// or https://."),
    r"^must contain \{number\} and \{counter\}$": _l("must contain {number} and {counter}."),
    r"^phone must be text$": _l("must be a mobile number."),
    r"^(?P<text>'.*') is not a Vietnamese mobile number$":
        _l("%(text)s is not a Vietnamese mobile number (10 digits from 03, 05, 07, 08 or 09)."),
    r"^mobile numbers need a gateway to send through$": _l("mobile numbers need a gateway (SMS or Zalo) to be sent through."),
    r"^a template may name only (?P<names>.*)$": _l("a text may name only %(names)s."),
}
_CONFIG_PATTERNS = [(re.compile(pattern), message) for pattern, message in CONFIG_MESSAGES.items()]


def config_message(text: str) -> str:
    """A message of the config's validators, translated (None-safe: unknown ones get a generic text)."""
    text = text.removeprefix("Value error, ").strip()
    for pattern, message in _CONFIG_PATTERNS:
        m = pattern.match(text)
        if m:
            return _fill(message, {k: v.strip("'") if k == "text" else v for k, v in m.groupdict().items()})
    return _("this value is not valid.")


def _fill(message, values: dict) -> str:
    """A lazy text translated now, its %(name)s placeholders filled (a missing one left as it is)."""
    text = str(message)
    try:
        return text % values if values else text.replace("%%", "%")
    except (KeyError, TypeError, ValueError):
        return text


def pydantic_messages(err: ValidationError, labels: dict) -> list[str]:
    """One translated line per error: "<label>: <what is wrong>"."""
    out = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if not isinstance(p, int)]
        name = str(labels.get(loc[0], loc[0])) if loc else ""
        if e["type"] == "value_error":
            msg = config_message(e["msg"])
        elif e["type"] in PYDANTIC_TYPES:
            ctx = {k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
                   for k, v in (e.get("ctx") or {}).items()}
            msg = _fill(PYDANTIC_TYPES[e["type"]], ctx)
        else:
            msg = _("this value is not valid.")
        out.append(f"{name}: {msg}" if name else msg[:1].upper() + msg[1:])
    return out


# ---- audit log ----------------------------------------------------------------------------------------
AUDIT_ACTIONS = {
    "centre.seeded": _l("Centre set up from the configuration"),
    "field.add": _l("Field added"), "field.change": _l("Field changed"),
    "counter.add": _l("Counter added"), "counter.change": _l("Counter changed"),
    "hours.change": _l("Opening hours changed"), "ticker.set": _l("Ticker text changed"),
    "device.add": _l("Device added"), "device.revoke": _l("Device token revoked"),
    "user.add": _l("Account added"), "user.activate": _l("Account activated"),
    "user.deactivate": _l("Account deactivated"), "user.password": _l("Password changed"),
    "user.pin": _l("PIN changed"), "user.role": _l("Role or name changed"),
    "centre.create": _l("Centre created"), "centre.change": _l("Centre name or area changed"),
    "centre.suspend": _l("Centre suspended"), "centre.resume": _l("Centre resumed"),
    "centre.admin": _l("Centre administrator named"), "centre.import": _l("Configuration imported"),
    "booking.change": _l("Online booking settings changed"),
}

AUDIT_KEYS = {
    "created": _l("Created"), "active": _l("In use"), "name": _l("Name"), "agency": _l("Agency"),
    "agency_aliases": _l("Former agency names"), "prefix": _l("Letter prefix"), "width": _l("Digits"),
    "range_start": _l("First number"), "range_end": _l("Last number"), "daily_cap": _l("Daily cap"),
    "cutoff": _l("Last issue time"), "target_wait_min": _l("Target wait (min)"), "accepting": _l("Issuing numbers"),
    "position": _l("Order"), "counters": _l("Counters"), "fields": _l("Fields"), "priority_only": _l("Priority only"),
    "role": _l("Role"), "counter": _l("Counter"), "zone_fields": _l("Fields shown"),
    "zone_counters": _l("Counters shown"), "device": _l("Device"), "password": _l("Password"), "pin": _l("PIN"),
    "full_name": _l("Full name"), "ticker": _l("Ticker"), "mon": _l("Monday"), "tue": _l("Tuesday"),
    "wed": _l("Wednesday"), "thu": _l("Thursday"), "fri": _l("Friday"), "sat": _l("Saturday"), "sun": _l("Sunday"),
    "holidays": _l("Holidays"), "makeup_days": _l("Make-up working days"), "makeup_weekday": _l("Make-up weekday"),
    "early_issue_minutes": _l("Early issuing (min)"), "field": _l("Field"), "counter_fields": _l("Fields served"),
    "area": _l("Area"), "centre": _l("Centre"), "import": _l("Imported from a file"), "changes": _l("Changes"),
    # online booking settings (booking.change)
    "enabled": _l("Take online bookings"), "hours": _l("Booking hours"), "horizon_days": _l("Days ahead"),
    "online_share": _l("Online share of each field's numbers"), "field_caps": _l("Online numbers per field"),
    "closed_fields": _l("Fields not booked online"), "per_citizen_daily": _l("Online bookings per citizen and day"),
    "lapse_at": _l("Unused numbers lapse at"), "lapse_after_call_min": _l("Lapse after the first call (min)"),
    "appointment_fields": _l("Fields with appointments"), "slot_minutes": _l("Slot length (min)"),
    "slot_capacity": _l("People per slot"), "check_in_before_min": _l("Check in from (min before the slot)"),
    "check_in_after_min": _l("Check in until (min after the slot's start)"),
}

ROLE_NAMES = {"staff": _l("Officer"), "manager": _l("Manager"), "admin": _l("Administrator"),
              "province_admin": _l("Province administrator")}
DEVICE_ROLE_NAMES = {"kiosk": _l("Kiosk"), "display": _l("Display"), "counter": _l("Counter panel")}
AUDIT_VALUES = {**DEVICE_ROLE_NAMES, **ROLE_NAMES, "changed": _l("changed"), "removed": _l("removed")}
# the notifier's messages (notify/outbox.py), as the manager's and the province's pages list them
NOTIFY_KINDS = {"ahead": _l("Turn near"), "called": _l("Called"), "alert": _l("Alert"), "cleared": _l("Alert over")}
NOTIFY_STATUSES = {"pending": _l("Waiting"), "sending": _l("Sending"), "sent": _l("Sent"), "failed": _l("Failed")}
NOTIFY_CHANNELS = {"sms": _l("SMS"), "zalo": _l("Zalo"), "webpush": _l("Browser notification"),
                   "webhook": _l("Webhook")}


def named(names: dict, code: str) -> str:
    """The name people use for `code` in one of the tables above (the code itself when it has none)."""
    text = names.get(code)
    return str(text) if text is not None else code
