"""Deployment configuration: one TOML file per deployment, validated with pydantic.

The TOML file seeds a centre the first time the server meets it; from then on the database is the
running truth. This module has no Flask or SQLAlchemy imports so device programs and the CLI can
use it.
"""
from __future__ import annotations

import os
import re
import tomllib
from datetime import date, time
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_CODE = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class ConfigError(Exception):
    """An invalid configuration; the message names the key and what is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def parse_interval(text: str) -> tuple[time, time | None]:
    """"07:30-11:30" → (07:30, 11:30); an end of 24:00 is returned as None (end of day)."""
    m = _INTERVAL.match(text)
    if not m:
        raise ValueError(f"{text!r} is not an interval HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} has an invalid time")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def check_intervals(v: list[str]) -> list[str]:
    """A day's intervals must parse, be in order and not overlap."""
    parsed = [parse_interval(x) for x in v]
    for (_s1, e1), (s2, _e2) in zip(parsed, parsed[1:]):
        if e1 is None or s2 < e1:
            raise ValueError("intervals must be in order and must not overlap")
    return v


class CentreConfig(_Model):
    code: Annotated[str, Field(pattern=_CODE)] = "main"
    name: Annotated[str, Field(min_length=1, max_length=200)]
    timezone: str = "Asia/Ho_Chi_Minh"
    public_url: str | None = None
    ticker: Annotated[str, Field(max_length=500)] = ""
    thank_you: Annotated[str, Field(max_length=200)] = "Cảm ơn quý khách!"
    # the province's grouping of its centres (filters the province overview); not used by one centre
    area: Annotated[str, Field(max_length=100)] = ""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("public_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class HoursConfig(_Model):
    """Opening hours: several intervals per weekday, holidays and make-up working days."""

    mon: list[str] = Field(default_factory=list)
    tue: list[str] = Field(default_factory=list)
    wed: list[str] = Field(default_factory=list)
    thu: list[str] = Field(default_factory=list)
    fri: list[str] = Field(default_factory=list)
    sat: list[str] = Field(default_factory=list)
    sun: list[str] = Field(default_factory=list)
    # Minutes before each interval in which the kiosk already issues numbers.
    early_issue_minutes: Annotated[int, Field(ge=0, le=240)] = 30
    holidays: list[date] = Field(default_factory=list)
    # Make-up working days (ngày làm bù): open with the hours of `makeup_weekday`.
    makeup_days: list[date] = Field(default_factory=list)
    makeup_weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _intervals(cls, v: list[str]) -> list[str]:
        return check_intervals(v)

    def intervals(self, weekday: str) -> list[tuple[time, time | None]]:
        return [parse_interval(x) for x in getattr(self, weekday)]


class FieldConfig(_Model):
    code: Annotated[str, Field(pattern=_CODE)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    agency: Annotated[str, Field(max_length=200)] = ""
    agency_aliases: list[str] = Field(default_factory=list)
    # Numbering: a numeric range (1001..1999) or a letter prefix with padding (A001).
    range_start: Annotated[int, Field(ge=1, le=999_999)] | None = None
    range_end: Annotated[int, Field(ge=1, le=999_999)] | None = None
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,3}$")] | None = None
    width: Annotated[int, Field(ge=1, le=6)] = 3
    daily_cap: Annotated[int, Field(ge=1)] | None = None
    cutoff: str | None = None  # "HH:MM": no new numbers after this local time
    target_wait_min: Annotated[int, Field(ge=1, le=600)] | None = None
    accepting: bool = True  # an admin may stop issuing for a field

    @field_validator("cutoff")
    @classmethod
    def _cutoff(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError("must be HH:MM")
        return v

    @model_validator(mode="after")
    def _numbering(self) -> "FieldConfig":
        if (self.prefix is None) == (self.range_start is None):
            raise ValueError("set exactly one of range_start (numeric range) or prefix (letters)")
        if self.range_start is not None:
            if self.range_end is None:
                # Default: up to the end of the thousand block (1001 → 1999).
                self.range_end = (self.range_start // 1000) * 1000 + 999 if self.range_start >= 1000 \
                    else self.range_start + 998
            if self.range_end < self.range_start:
                raise ValueError("range_end is before range_start")
        size = self.range_size
        if self.daily_cap is not None and self.daily_cap > size:
            raise ValueError(f"daily_cap {self.daily_cap} is larger than the number range ({size} numbers)")
        return self

    @property
    def range_size(self) -> int:
        if self.prefix is not None:
            return 10**self.width - 1
        assert self.range_start is not None and self.range_end is not None
        return self.range_end - self.range_start + 1


class CounterConfig(_Model):
    number: Annotated[int, Field(ge=1, le=9999)]
    name: Annotated[str, Field(max_length=100)] = ""
    fields: Annotated[list[str], Field(min_length=1)]
    # A dedicated priority counter calls only priority tickets (and transfers addressed to it).
    priority_only: bool = False


class PriorityCategory(_Model):
    code: Annotated[str, Field(pattern=_CODE)]
    name: Annotated[str, Field(min_length=1, max_length=100)]


class PriorityConfig(_Model):
    # strict: priority tickets always first; interleave: at most one priority call per
    # `normal_per_priority` normal calls at a counter while normal tickets wait, so nobody starves.
    rule: Literal["strict", "interleave"] = "interleave"
    normal_per_priority: Annotated[int, Field(ge=1, le=100)] = 2
    categories: list[PriorityCategory] = Field(default_factory=list)


class QueueConfig(_Model):
    # skip: "requeue" puts the ticket back behind `requeue_behind` others; "no_show" ends it.
    skip_action: Literal["requeue", "no_show"] = "requeue"
    requeue_behind: Annotated[int, Field(ge=0, le=100)] = 3
    max_skips: Annotated[int, Field(ge=1, le=10)] = 2  # after K skips the ticket is no_show
    default_service_min: Annotated[int, Field(ge=1, le=240)] = 10
    target_wait_min: Annotated[int, Field(ge=1, le=600)] = 30


class RatingLevel(_Model):
    score: Annotated[int, Field(ge=1, le=10)]
    label: Annotated[str, Field(min_length=1, max_length=60)]


class RatingConfig(_Model):
    levels: Annotated[list[RatingLevel], Field(min_length=3, max_length=5)]
    satisfied_min: Annotated[int, Field(ge=1, le=10)]  # scores >= this count as satisfied
    reason_max: Annotated[int, Field(ge=0, le=10)] = 1  # scores <= this ask for a reason or comment
    reasons: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list)
    panel_window_s: Annotated[int, Field(ge=5, le=600)] = 30
    link_window_h: Annotated[int, Field(ge=1, le=24 * 14)] = 72

    @model_validator(mode="after")
    def _scale(self) -> "RatingConfig":
        scores = [lv.score for lv in self.levels]
        if len(set(scores)) != len(scores):
            raise ValueError("rating levels must have distinct scores")
        if self.satisfied_min not in scores:
            raise ValueError("satisfied_min must be one of the levels' scores")
        return self


class VoiceConfig(_Model):
    template: str = "Xin mời công dân có số thứ tự {number} đến quầy số {counter}"
    read_digits: bool = False
    use_tu: bool = False
    odd_word: Literal["linh", "lẻ"] = "linh"
    thousand_word: Literal["nghìn", "ngàn"] = "nghìn"
    speed: Annotated[int, Field(ge=80, le=250)] = 130
    repeat: Annotated[int, Field(ge=1, le=3)] = 1

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{number}" not in v or "{counter}" not in v:
            raise ValueError("must contain {number} and {counter}")
        return v


class BookingConfig(_Model):
    """The remote channel: online numbers taken from a phone (and, later, appointments)."""

    enabled: bool = False
    # When the booking page takes bookings (local time, like opening hours; every day).
    hours: list[str] = Field(default_factory=lambda: ["08:00-16:00"])
    # Today and up to this many days ahead (only days the centre is open).
    horizon_days: Annotated[int, Field(ge=0, le=60)] = 6
    # Share of each field's daily cap that may be taken online; `field_caps` sets a number per field
    # instead, and `closed_fields` takes fields out of online booking.
    online_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    field_caps: dict[str, Annotated[int, Field(ge=0, le=999_999)]] = Field(default_factory=dict)
    closed_fields: list[str] = Field(default_factory=list)
    # Online numbers per citizen and day (by phone number when given, else by the browser's cookie).
    per_citizen_daily: Annotated[int, Field(ge=1, le=50)] = 2
    # Lapse: a number not checked in by this local hour of its day (None: the day's closing) …
    lapse_at: str | None = "16:00"
    # … or this many minutes after it was first called without a check-in (None: never).
    lapse_after_call_min: Annotated[int, Field(ge=1, le=600)] | None = 15
    # Appointments: fields that offer time slots, the slot length, the people per slot (by field; by
    # default from the field's counters and the mean service time) and the check-in window around a
    # slot's start. Checked in within the window, an appointment goes ahead of walk-ins issued after
    # the slot's start; later, it becomes an ordinary ticket.
    appointment_fields: list[str] = Field(default_factory=list)
    slot_minutes: Annotated[int, Field(ge=5, le=240)] = 30
    slot_capacity: dict[str, Annotated[int, Field(ge=0, le=1000)]] = Field(default_factory=dict)
    check_in_before_min: Annotated[int, Field(ge=0, le=240)] = 15
    check_in_after_min: Annotated[int, Field(ge=0, le=240)] = 15

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        return check_intervals(v)

    @field_validator("lapse_at")
    @classmethod
    def _lapse_at(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError("must be HH:MM")
        return v


class GatewayConfig(_Model):
    """The centre's own SMS or Zalo (ZNS) provider, reached through an HTTP gateway: layso POSTs
    `{to, channel, text, key}` as JSON with `Authorization: Bearer <token>` (key: one per message, so
    the gateway can drop a repeat)."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    token: Annotated[str, Field(max_length=500)] = ""
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


class WebhookConfig(_Model):
    """Another system told of every notification: JSON POSTs signed with HMAC-SHA256 of the body
    (`X-Layso-Signature: sha256=<hex>`)."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    secret: Annotated[str, Field(min_length=16, max_length=500)]
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


def normalise_phone(text) -> str:
    """A Vietnamese mobile number as 10 digits starting with 0 (+84 / 84 prefixes accepted);
    ValueError if it is not one."""
    if not isinstance(text, str):
        raise ValueError("phone must be text")
    digits = re.sub(r"[\s.\-()]", "", text)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0[35789]\d{8}", digits):
        raise ValueError(f"{text!r} is not a Vietnamese mobile number")
    return digits


def _phones(v: list[str]) -> list[str]:
    out = []
    for text in v:
        phone = normalise_phone(text)
        if phone not in out:
            out.append(phone)
    return out


class WebPushConfig(_Model):
    """Web Push from the tracking page (where the browser allows it). The server's VAPID key pair is
    generated once and kept (`LAYSO_VAPID_KEY`, else a file beside the session secret); `subject` is
    the contact the push services may write to (`mailto:` or `https://`)."""

    subject: Annotated[str, Field(pattern=r"^(mailto:\S+@\S+|https://\S+)$", max_length=200)]
    ttl_s: Annotated[int, Field(ge=0, le=86400)] = 3600  # how long a push service keeps an undelivered message
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    ahead_template: Annotated[str, Field(max_length=300)] = "Sắp đến lượt số {number}: còn {ahead} người trước bạn."
    called_template: Annotated[str, Field(max_length=300)] = "Mời số {number} đến quầy {counter}."
    # Tests only: accept http:// push endpoints (a local server standing in for the push service).
    insecure_endpoints: bool = False


class NotifyConfig(_Model):
    """Telling citizens when their turn is near or called (tracking page → outbox → worker); and,
    for the centre's own people, its alerts (`alert_to`: mobile numbers reached through this
    centre's SMS gateway, else its Zalo one; `alert_webhook`: its webhook is told of them too)."""

    sms: GatewayConfig | None = None
    zalo: GatewayConfig | None = None
    webhook: WebhookConfig | None = None
    webpush: WebPushConfig | None = None
    default_ahead: Annotated[int, Field(ge=0, le=50)] = 3
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 8
    sms_template: Annotated[str, Field(max_length=300)] = "{centre}: so {number} con {ahead} nguoi truoc ban."
    called_template: Annotated[str, Field(max_length=300)] = "{centre}: moi so {number} den quay {counter}."
    alert_to: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)
    alert_webhook: bool = False

    @field_validator("alert_to")
    @classmethod
    def _alert_to(cls, v: list[str]) -> list[str]:
        return _phones(v)


ALERT_KINDS = ("wait_over_target", "paper_out", "display_offline")
# what each alert template may name (a template naming anything else is refused)
ALERT_PLACEHOLDERS = {"centre": "Xã A", "area": "Khu vực 1", "field": "Đất đai", "wait": 42, "target": 30,
                      "device": "Kiosk 1", "alert": "…", "since": "08:15"}


class AlertsConfig(_Model):
    """The province's alerts (the overview's: a field's longest wait past its target, a kiosk out of
    paper, a lobby screen offline), sent through the notifier once when one starts — after it has
    lasted `grace_s`, while its centre is open — and, with `on_clear`, once when it ends. Recipients:
    mobile numbers (`to`) through an SMS or Zalo gateway, and/or a signed webhook. Kept in the
    database (the province administrator's page /province/alerts), not in a centre's file. The texts
    are templates: {centre} {area} {field} {wait} {target} (minutes) {device} {since}; the cleared
    one also {alert}, the text that raised it."""

    gateway: GatewayConfig | None = None
    gateway_channel: Literal["sms", "zalo"] = "sms"
    to: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)
    webhook: WebhookConfig | None = None
    kinds: list[Literal["wait_over_target", "paper_out", "display_offline"]] = Field(
        default_factory=lambda: list(ALERT_KINDS))
    on_clear: bool = True
    grace_s: Annotated[int, Field(ge=0, le=3600)] = 60
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 8
    wait_template: Annotated[str, Field(min_length=1, max_length=300)] = \
        "{centre}: linh vuc {field} co nguoi cho {wait} phut (muc tieu {target} phut)"
    paper_template: Annotated[str, Field(min_length=1, max_length=300)] = "{centre}: kiosk {device} het giay"
    offline_template: Annotated[str, Field(min_length=1, max_length=300)] = "{centre}: man hinh {device} mat ket noi"
    cleared_template: Annotated[str, Field(min_length=1, max_length=300)] = "Da het canh bao - {alert}"

    @field_validator("to")
    @classmethod
    def _to(cls, v: list[str]) -> list[str]:
        return _phones(v)

    @field_validator("wait_template", "paper_template", "offline_template", "cleared_template")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            v.format(**ALERT_PLACEHOLDERS)
        except (KeyError, IndexError, ValueError, AttributeError):
            names = ", ".join("{" + k + "}" for k in ALERT_PLACEHOLDERS)
            raise ValueError(f"a template may name only {names}") from None
        return v

    @model_validator(mode="after")
    def _recipients(self) -> "AlertsConfig":
        if self.to and self.gateway is None:
            raise ValueError("mobile numbers need a gateway to send through")
        return self

    def template(self, kind: str) -> str:
        return {"wait_over_target": self.wait_template, "paper_out": self.paper_template,
                "display_offline": self.offline_template}[kind]


class Config(_Model):
    centre: CentreConfig
    hours: HoursConfig
    fields: Annotated[list[FieldConfig], Field(min_length=1)]
    counters: Annotated[list[CounterConfig], Field(min_length=1)]
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    rating: RatingConfig
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    booking: BookingConfig = Field(default_factory=BookingConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "Config":
        codes = [f.code for f in self.fields]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"field codes must be unique: {sorted(dup)}")
        check_numbering([f.model_dump() for f in self.fields])
        numbers = [c.number for c in self.counters]
        if len(set(numbers)) != len(numbers):
            raise ValueError("counter numbers must be unique")
        for c in self.counters:
            unknown = [f for f in c.fields if f not in codes]
            if unknown:
                raise ValueError(f"counter {c.number} serves unknown fields {unknown}")
        served = {f for c in self.counters for f in c.fields}
        unserved = [c for c in codes if c not in served]
        if unserved:
            raise ValueError(f"fields served by no counter: {unserved}")
        b = self.booking
        unknown = sorted((set(b.field_caps) | set(b.closed_fields) | set(b.appointment_fields)
                          | set(b.slot_capacity)) - set(codes))
        if unknown:
            raise ValueError(f"booking names unknown fields {unknown}")
        return self


def check_numbering(fields: list[dict]) -> None:
    """Numbers of one field never run into another field's range (also used by the admin pages)."""
    ranges = sorted((f["range_start"], f["range_end"], f["code"]) for f in fields if f.get("prefix") is None)
    for (s1, e1, c1), (s2, _e2, c2) in zip(ranges, ranges[1:]):
        if s2 <= e1:
            raise ValueError(f"number ranges of fields {c1} and {c2} overlap")
    prefixes = [f["prefix"] for f in fields if f.get("prefix")]
    dup = {p for p in prefixes if prefixes.count(p) > 1}
    if dup:
        raise ValueError(f"letter prefixes must be unique: {sorted(dup)}")


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid configuration in {source}:\n{_describe(err)}") from None


def load_config(path: str | os.PathLike) -> Config:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read configuration {p}: {err.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p} is not valid TOML: {err}") from None
    return parse_config(data, str(p))


PRESETS = ("province", "commune")


def preset_data(name: str, open_all_hours: bool = False) -> dict:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    text = resources.files("layso").joinpath(f"presets/{name}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    if open_all_hours:
        hours = data.setdefault("hours", {})
        for day in WEEKDAYS:
            hours[day] = ["00:00-24:00"]
        hours["holidays"] = []
        for f in data.get("fields", []):
            f.pop("cutoff", None)
        booking = data.setdefault("booking", {})
        booking["hours"] = ["00:00-24:00"]  # online booking all day too
        booking["lapse_at"] = ""  # numbers lapse at the (midnight) closing, or after a call
    return data


def load_preset(name: str, open_all_hours: bool = False) -> Config:
    return parse_config(preset_data(name, open_all_hours), f"preset {name}")


def write_config(data: dict, path: str | os.PathLike) -> None:
    parse_config(data, str(path))  # never write an invalid file
    text = tomli_w.dumps(_plain(data))
    Path(path).write_text(
        "# layso configuration. It seeds the centre the first time the server meets it;\n"
        "# from then on the database is the running truth (admin pages).\n" + text,
        encoding="utf-8",
    )


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def default_config_path() -> str | None:
    return os.environ.get("LAYSO_CONFIG")
