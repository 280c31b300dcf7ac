"""Vietnamese number words (layso.voice.numwords): table tests and properties."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layso.voice.numwords import (
    LETTER_NAMES,
    digits_to_words,
    letter_to_words,
    number_to_speech,
    number_to_words,
)

# ----------------------------------------------------------------------------- tables

TABLE = [
    (0, "không"),
    (1, "một"),
    (4, "bốn"),
    (5, "năm"),
    (10, "mười"),
    (11, "mười một"),
    (14, "mười bốn"),
    (15, "mười lăm"),
    (20, "hai mươi"),
    (21, "hai mươi mốt"),
    (24, "hai mươi bốn"),
    (25, "hai mươi lăm"),
    (31, "ba mươi mốt"),
    (55, "năm mươi lăm"),
    (99, "chín mươi chín"),
    (100, "một trăm"),
    (101, "một trăm linh một"),
    (104, "một trăm linh bốn"),
    (105, "một trăm linh năm"),
    (110, "một trăm mười"),
    (111, "một trăm mười một"),
    (115, "một trăm mười lăm"),
    (121, "một trăm hai mươi mốt"),
    (1000, "một nghìn"),
    (1001, "một nghìn không trăm linh một"),
    (1005, "một nghìn không trăm linh năm"),
    (1010, "một nghìn không trăm mười"),
    (1015, "một nghìn không trăm mười lăm"),
    (1021, "một nghìn không trăm hai mươi mốt"),
    (1100, "một nghìn một trăm"),
    (2000, "hai nghìn"),
    (2025, "hai nghìn không trăm hai mươi lăm"),
    (10_000, "mười nghìn"),
    (15_000, "mười lăm nghìn"),
    (21_000, "hai mươi mốt nghìn"),
    (100_000, "một trăm nghìn"),
    (105_000, "một trăm linh năm nghìn"),
    (1_000_000, "một triệu"),
    (1_000_005, "một triệu không trăm linh năm"),
    (1_005_000, "một triệu không trăm linh năm nghìn"),
    (1_050_000, "một triệu không trăm năm mươi nghìn"),
    (2_500_000, "hai triệu năm trăm nghìn"),
    (1_000_000_000, "một tỷ"),
    (1_000_000_001, "một tỷ không trăm linh một"),
    (3_000_015_000, "ba tỷ không trăm mười lăm nghìn"),
    (1_000_000_000_000, "một nghìn tỷ"),
    (
        999_999_999,
        "chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín",
    ),
]


@pytest.mark.parametrize(("n", "words"), TABLE)
def test_number_to_words_table(n: int, words: str) -> None:
    assert number_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (4, "bốn"),
        (14, "mười bốn"),  # always bốn after mười
        (24, "hai mươi tư"),
        (94, "chín mươi tư"),
        (104, "một trăm linh tư"),
        (1024, "một nghìn không trăm hai mươi tư"),
        (40, "bốn mươi"),
        (400, "bốn trăm"),
    ],
)
def test_use_tu(n: int, words: str) -> None:
    assert number_to_words(n, use_tu=True) == words


def test_odd_word_and_thousand_word() -> None:
    assert number_to_words(105, odd_word="lẻ") == "một trăm lẻ năm"
    assert number_to_words(1005, odd_word="lẻ") == "một nghìn không trăm lẻ năm"
    assert number_to_words(2000, thousand_word="ngàn") == "hai ngàn"
    assert number_to_words(1015, thousand_word="ngàn") == "một ngàn không trăm mười lăm"
    # decomposed input is accepted (configs may be saved NFD)
    assert number_to_words(105, odd_word=unicodedata.normalize("NFD", "lẻ")) == "một trăm lẻ năm"


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [({"odd_word": "le"}, ValueError), ({"thousand_word": "ngin"}, ValueError)],
)
def test_bad_options(kwargs: dict, exc: type) -> None:
    with pytest.raises(exc):
        number_to_words(5, **kwargs)


@pytest.mark.parametrize("bad", [-1, 1.5, "5", True, None])
def test_bad_numbers(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        number_to_words(bad)  # type: ignore[arg-type]


def test_digits_to_words() -> None:
    assert digits_to_words("1005") == "một, không, không, năm"
    assert digits_to_words("A005") == "a, không, không, năm"
    assert digits_to_words("0123456789") == (
        "không, một, hai, ba, bốn, năm, sáu, bảy, tám, chín")
    assert digits_to_words("B-12") == "bê, một, hai"
    assert digits_to_words("15") == "một, năm"  # digit by digit: no lăm


@pytest.mark.parametrize(
    ("letter", "name"),
    [("A", "a"), ("B", "bê"), ("C", "xê"), ("D", "dê"), ("Đ", "đê"), ("E", "e"), ("G", "giê"),
     ("H", "hát"), ("K", "ca"), ("L", "e-lờ"), ("M", "em-mờ"), ("N", "en-nờ"), ("P", "pê"),
     ("Q", "quy"), ("R", "e-rờ"), ("S", "ét-xì"), ("T", "tê"), ("U", "u"), ("V", "vê"),
     ("X", "ích-xì"), ("Y", "i dài"), ("a", "a"), ("đ", "đê")],
)
def test_letter_names(letter: str, name: str) -> None:
    assert letter_to_words(letter) == name


def test_every_latin_letter_has_a_name() -> None:
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZĐ":
        assert letter_to_words(c)
    assert all(unicodedata.is_normalized("NFC", v) for v in LETTER_NAMES.values())


@pytest.mark.parametrize(
    ("ticket", "digits", "spoken"),
    [
        ("1005", False, "một nghìn không trăm linh năm"),
        ("1005", True, "một, không, không, năm"),
        # a letter prefix: its Vietnamese name, then the digits one by one (DOMAIN.md), never "a năm"
        ("A005", False, "a, không, không, năm"),
        ("A005", True, "a, không, không, năm"),
        ("B015", False, "bê, không, một, năm"),
        ("C121", False, "xê, một, hai, một"),
        ("Đ7", False, "đê, bảy"),
        (" 2001 ", False, "hai nghìn không trăm linh một"),
        ("0", False, "không"),
        ("000", False, "không"),
    ],
)
def test_number_to_speech(ticket: str, digits: bool, spoken: str) -> None:
    assert number_to_speech(ticket, digits) == spoken


def test_number_to_speech_options() -> None:
    assert number_to_speech("A024", False, use_tu=True) == "a, không, hai, bốn"  # digits: no "tư"
    assert number_to_speech("2105", False, odd_word="lẻ", thousand_word="ngàn") == (
        "hai ngàn một trăm lẻ năm")


@pytest.mark.parametrize("bad", ["", "   ", "12#3", "A+1", "€5"])
def test_number_to_speech_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        number_to_speech(bad, False)


# ----------------------------------------------------------------------------- independent parser

DIGITS = {"không": 0, "một": 1, "hai": 2, "ba": 3, "bốn": 4, "năm": 5, "sáu": 6, "bảy": 7,
          "tám": 8, "chín": 9}
SCALES = {"nghìn": 10**3, "ngàn": 10**3, "triệu": 10**6, "tỷ": 10**9}


class ParseError(ValueError):
    pass


def parse_words(text: str) -> int:
    """Words back to an integer, strict about the reading rules (mốt, lăm, tư, linh …)."""
    tokens = text.split(" ")
    if tokens == ["không"]:
        return 0
    parts: list[int] = []  # values already multiplied by their scale
    group = 0              # the current 0..999 group
    state = "start"        # start | digit | trăm | tens | mươi | mười | linh | unit
    digit = 0
    last_scale = 10**9     # scales inside a tỷ-chunk must decrease: triệu, nghìn

    def end_group() -> int:
        nonlocal group
        if state in ("linh", "tens"):
            raise ParseError(f"group ends after {state}")
        if state == "digit":
            if digit == 0:
                raise ParseError("bare không")
            group += digit
        value, group = group, 0
        return value

    for tok in tokens:
        if tok in DIGITS and state in ("start", "trăm", "mươi", "mười", "linh"):
            d = DIGITS[tok]
            if state == "start":
                if d == 0 and not parts:
                    raise ParseError("leading không")
                digit, state = d, "digit"
            elif state == "trăm":  # only tens may follow: "một trăm hai mươi"
                if d < 2:
                    raise ParseError(f"{tok} right after trăm (linh/lẻ or tens expected)")
                digit, state = d, "tens"
            else:
                if d == 0:
                    raise ParseError(f"không after {state}")
                if state == "mươi" and d in (1, 5):
                    raise ParseError(f"{tok} after mươi (mốt/lăm expected)")
                if state == "mười" and d == 5:
                    raise ParseError("năm after mười (lăm expected)")
                group += d
                state = "unit"
        elif tok == "trăm" and state == "digit":
            group += digit * 100
            state = "trăm"
        elif tok == "mươi" and state in ("digit", "tens") and digit >= 2:
            group += digit * 10
            state = "mươi"
        elif tok == "mười" and state in ("start", "trăm"):
            group += 10
            state = "mười"
        elif tok in ("linh", "lẻ") and state == "trăm":
            state = "linh"
        elif tok == "mốt" and state == "mươi":
            group += 1
            state = "unit"
        elif tok == "lăm" and state in ("mươi", "mười"):
            group += 5
            state = "unit"
        elif tok == "tư" and state in ("mươi", "linh"):
            group += 4
            state = "unit"
        elif tok in SCALES and (state != "start" or (tok == "tỷ" and parts
                                                      and parts[-1] < 10**9)):
            scale = SCALES[tok]
            value = end_group()
            if tok == "tỷ":  # absorbs a preceding "nghìn": một nghìn tỷ
                while parts and parts[-1] < scale:
                    value += parts.pop()
                last_scale = 10**9
            elif scale >= last_scale:
                raise ParseError(f"{tok} out of order")
            else:
                last_scale = scale
            if value == 0:
                raise ParseError(f"empty {tok}")
            parts.append(value * scale)
            state = "start"
        else:
            raise ParseError(f"unexpected {tok!r} after {state}")
    if state == "start" and not parts:
        raise ParseError("empty")
    return sum(parts) + end_group()


def test_parser_rejects_wrong_readings() -> None:
    for bad in ["hai mươi một", "hai mươi năm", "mười năm", "mười mốt", "không trăm",
                "một trăm linh", "mốt", "một trăm linh mười", "một trăm hai",
                "một trăm năm", "một nghìn không", "nghìn", "một nghìn triệu"]:
        with pytest.raises(ParseError):
            parse_words(bad)
    assert parse_words("một nghìn không trăm linh năm") == 1005
    assert parse_words("hai mươi tư") == 24


# ----------------------------------------------------------------------------- properties

OPTIONS = st.fixed_dictionaries({
    "use_tu": st.booleans(),
    "odd_word": st.sampled_from(["linh", "lẻ"]),
    "thousand_word": st.sampled_from(["nghìn", "ngàn"]),
})
SMALL = st.integers(min_value=0, max_value=999_999_999)
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=2_100),
    SMALL,
    st.integers(min_value=0, max_value=10**15),
)


@settings(max_examples=600, deadline=None)
@given(NUMBERS, OPTIONS)
def test_round_trip(n: int, opts: dict) -> None:
    assert parse_words(number_to_words(n, **opts)) == n


@settings(max_examples=400, deadline=None)
@given(SMALL, OPTIONS)
def test_spelling_rules(n: int, opts: dict) -> None:
    words = number_to_words(n, **opts)
    assert unicodedata.is_normalized("NFC", words)
    assert words == words.strip() and "  " not in words
    padded = f" {words} "
    # units 1 after tens >= 2 is "mốt"; 5 after any tens is "lăm"; mười never takes mốt
    assert " mươi một " not in padded
    assert " mười mốt " not in padded
    assert re.search(r" (mười|mươi) năm ", padded) is None
    # tư only in the Northern option and never after mười
    if not opts["use_tu"]:
        assert " tư " not in padded
    assert " mười tư " not in padded
    # "không" only as zero itself or as "không trăm" inside a larger number
    if n:
        assert re.search(r"không(?! trăm)", words) is None
        assert not words.startswith("không")
    # linh/lẻ only right after trăm and before a single digit
    odd = opts["odd_word"]
    for m in re.finditer(rf"(\S+) {odd} (\S+)", words):
        assert m.group(1) == "trăm"
        assert m.group(2) in {"một", "hai", "ba", "bốn", "tư", "năm", "sáu", "bảy", "tám", "chín"}
    # numbers 1000..9999: "không trăm" exactly when the hundreds digit is 0 and the rest isn't
    if 1000 <= n <= 9999:
        assert ("không trăm" in words) == (n % 1000 != 0 and n % 1000 < 100)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=99))
def test_last_two_digits_ending(n: int) -> None:
    words = number_to_words(1000 + n)
    tens, unit = divmod(n, 10)
    if unit == 5 and tens >= 1:
        assert words.endswith("lăm")
    if unit == 1 and tens >= 2:
        assert words.endswith("mươi mốt")
    if unit == 1 and tens == 1:
        assert words.endswith("mười một")
    if 0 < n < 10:
        assert words.split()[-2] == "linh"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_digits_round_trip(digits: str) -> None:
    spoken = digits_to_words(digits)
    assert "".join(str(DIGITS[w]) for w in spoken.split(", ")) == digits
    assert unicodedata.is_normalized("NFC", spoken)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from("ABCDEGHKLMNPQRSTUVXY"), st.integers(min_value=0, max_value=999))
def test_prefixed_ticket(letter: str, n: int) -> None:
    ticket = f"{letter}{n:03d}"
    spoken = number_to_speech(ticket, False)
    name = letter_to_words(letter)
    assert spoken == number_to_speech(ticket, True)  # read the same either way
    first, *digits = spoken.split(", ")
    assert first == name and len(digits) == 3
    assert int("".join(str(DIGITS[w]) for w in digits)) == n
