"""What the province pages say, in the page's language, about things the engine and the notifier word
in English for the command line and the logs: a configuration's differences (the catalogue's
preview, `engine.centres.Change`) and why a message was not delivered (`notify.channels`)."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

KINDS = {"centre": _l("the centre"), "field": _l("field %(key)s"), "counter": _l("counter %(key)s"),
         "hours": _l("opening hours"), "priority": _l("priority rule"), "queue": _l("queue rules"),
         "rating": _l("rating"), "voice": _l("voice")}
ATTRS = {"name": _l("name"), "agency": _l("agency"), "agency_aliases": _l("former agency names"),
         "target_wait_min": _l("target wait (minutes)"), "fields": _l("fields served"),
         "range_start": _l("first number"), "range_end": _l("last number"), "daily_cap": _l("daily cap"),
         "cutoff": _l("last issuing time"), "prefix": _l("letter prefix"), "width": _l("digits"),
         "priority_only": _l("priority tickets only"), "area": _l("area"), "ticker": _l("ticker"),
         "position": _l("place in the list"), "accepting": _l("taking tickets")}


def _value(v) -> str:
    if v is None or v == []:
        return "—"
    if isinstance(v, bool):
        return _("yes") if v else _("no")
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v)
    return str(v)


def change_text(c) -> str:
    """One difference of a configuration (`engine.centres.Change`) in words."""
    what = str(KINDS.get(c.kind, c.kind)) % {"key": c.key}
    if c.op == "+":
        return _("New: %(what)s — %(name)s", what=what, name=c.name)
    if c.op == "-":
        return _("No longer used: %(what)s — %(name)s (its history is kept)", what=what, name=c.name)
    return _("%(what)s, %(attr)s: %(before)s → %(after)s", what=what, attr=str(ATTRS.get(c.attr, c.attr)),
             before=_value(c.before), after=_value(c.after))


REASONS = [
    (re.compile(r"^no answer within (?P<s>[\d.]+) s$"), _l("no answer within %(s)s s")),
    (re.compile(r"^cannot reach the (?:gateway|push service): (?P<what>\w+)$"),
     _l("cannot reach the gateway (%(what)s)")),
    (re.compile(r"^the (?:gateway|push service) answered (?P<code>\d+): (?P<text>.*)$", re.S),
     _l("the gateway answered %(code)s: %(text)s")),
    (re.compile(r"^no phone number"), _l("no phone number")),
    (re.compile(r"^the (?P<channel>\w+) channel is not configured$"), _l("the %(channel)s channel is not set up")),
    (re.compile(r"^unexpected error: (?P<what>\w+)$"), _l("unexpected error (%(what)s)")),
]


def delivery_reason(text: str | None) -> str:
    """Why a message was not delivered, in words (an unknown reason as it was recorded)."""
    if not text:
        return "—"
    for pattern, words in REASONS:
        m = pattern.match(text)
        if m:
            return str(words) % m.groupdict()
    return text
