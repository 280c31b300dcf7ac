"""The remote channel's rules without a database: codes, phones, citizen keys, caps, booking hours, lapse."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layso.server.domain.booking import (
    CODE_ALPHABET,
    LapseRule,
    bookable_day,
    booking_open,
    citizen_key,
    new_code,
    normalise_phone,
    online_cap,
    read_code,
)

from layso.config import BookingConfig, ConfigError, parse_config, preset_data

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_codes_avoid_look_alikes_and_are_short():
    for ch in "0O1IL2Z5S8B6G":
        assert ch not in CODE_ALPHABET
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 7 and set(c) <= set(CODE_ALPHABET) for c in codes)


@given(st.text(alphabet=CODE_ALPHABET, min_size=6, max_size=8))
def test_read_code_takes_typed_or_scanned_forms(code):
    assert read_code(code) == code
    assert read_code(code.lower()) == code
    assert read_code(" " + code[:3] + "-" + code[3:] + "\n") == code
    assert read_code(f"https://hcc.example.vn/t/abcDEF_12-x?c={code}") == code


@pytest.mark.parametrize("text", ["", "ABC", "A0CDEFH", "ACDEFHJKM", None, 12345678, "x" * 400,
                                  "https://x.vn/t/abc"])
def test_read_code_refuses_what_is_no_code(text):
    assert read_code(text) is None


@pytest.mark.parametrize("raw, phone", [("0912345678", "0912345678"), ("+84 912 345 678", "0912345678"),
                                        ("84912345678", "0912345678"), ("091.234.5678", "0912345678")])
def test_phones_are_normalised(raw, phone):
    assert normalise_phone(raw) == phone


@pytest.mark.parametrize("raw", ["12345", "0212345678", "09123456789", "abc", "", None])
def test_bad_phones_are_refused(raw):
    with pytest.raises(ValueError):
        normalise_phone(raw)


def test_citizen_key_is_keyed_and_hides_the_phone():
    a = citizen_key("secret-1", phone="0912345678")
    assert a == citizen_key("secret-1", phone="0912345678")
    assert a != citizen_key("secret-2", phone="0912345678")
    assert "0912345678" not in a and len(a) == 64
    assert citizen_key("secret-1", device="cookie") != citizen_key("secret-1", phone="cookie")
    assert citizen_key("secret-1") is None


def test_online_cap_share_field_cap_and_closed_fields():
    cfg = BookingConfig(online_share=0.3, field_caps={"bhxh": 40, "big": 5000}, closed_fields=["cc"])
    assert online_cap(999, "dat-dai", cfg) == 299
    assert online_cap(999, "bhxh", cfg) == 40
    assert online_cap(100, "big", cfg) == 100  # never more than the field's daily numbers
    assert online_cap(999, "cc", cfg) == 0


def test_booking_hours_and_disabled():
    cfg = BookingConfig(enabled=True, hours=["08:00-11:30", "13:00-16:00"])
    at = lambda h, m: datetime(2026, 11, 23, h, m, tzinfo=HCM)  # noqa: E731
    assert not booking_open(cfg, at(7, 59))
    assert booking_open(cfg, at(8, 0)) and booking_open(cfg, at(11, 29))
    assert not booking_open(cfg, at(12, 0)) and not booking_open(cfg, at(16, 0))
    assert not booking_open(BookingConfig(enabled=False), at(9, 0))
    assert booking_open(BookingConfig(enabled=True, hours=["00:00-24:00"]), at(23, 59))


def test_bookable_days_within_horizon_and_open():
    cfg = BookingConfig(enabled=True, horizon_days=6)
    today = date(2026, 11, 23)
    weekday = lambda d: d.weekday() < 5  # noqa: E731
    assert bookable_day(today, today, cfg, weekday) is None
    assert bookable_day(today + timedelta(days=6), today, cfg, lambda d: True) is None
    assert bookable_day(today + timedelta(days=7), today, cfg, lambda d: True) == "outside_horizon"
    assert bookable_day(today - timedelta(days=1), today, cfg, lambda d: True) == "outside_horizon"
    assert bookable_day(date(2026, 11, 28), today, cfg, weekday) == "centre_closed"  # a Saturday


def test_lapse_rule_takes_the_earlier_of_hour_and_call():
    rule = LapseRule.of(BookingConfig(lapse_at="16:00", lapse_after_call_min=15))
    day = date(2026, 11, 23)
    closing = datetime(2026, 11, 23, 17, 0, tzinfo=HCM)
    assert rule.due(day, HCM, closing, None) == datetime(2026, 11, 23, 16, 0, tzinfo=HCM)
    called = datetime(2026, 11, 23, 9, 10, tzinfo=HCM)
    assert rule.due(day, HCM, closing, called) == called + timedelta(minutes=15)
    late_call = datetime(2026, 11, 23, 15, 55, tzinfo=HCM)
    assert rule.due(day, HCM, closing, late_call) == datetime(2026, 11, 23, 16, 0, tzinfo=HCM)
    at_closing = LapseRule.of(BookingConfig(lapse_at=None, lapse_after_call_min=None))
    assert at_closing.due(day, HCM, closing, called) == closing
    assert at_closing == LapseRule(None, None) and rule.at == time(16, 0)


def test_config_checks_booking_section():
    data = preset_data("commune", open_all_hours=True)
    assert parse_config(data).booking.hours == ["00:00-24:00"]
    assert parse_config(data).booking.lapse_at is None
    data["booking"]["closed_fields"] = ["nope"]
    with pytest.raises(ConfigError, match="unknown fields"):
        parse_config(data)
    data["booking"]["closed_fields"] = []
    data["booking"]["lapse_at"] = "25:00"
    with pytest.raises(ConfigError, match="lapse_at"):
        parse_config(data)
