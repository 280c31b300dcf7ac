"""Vietnamese number words for spoken ticket calls.

Rules (DOMAIN.md, "The voice"): mười / mươi, mốt (21), lăm (15, 25), optional tư (24),
linh / lẻ (105), "không trăm" inside larger numbers (1015 → một nghìn không trăm mười lăm),
nghìn / ngàn, triệu, tỷ. Output is always NFC.
"""

from __future__ import annotations

import re
from typing import Literal

from layso.text import nfc as _nfc

__all__ = [
    "DIGIT_WORDS",
    "LETTER_NAMES",
    "number_to_words",
    "digits_to_words",
    "letter_to_words",
    "number_to_speech",
]

OddWord = Literal["linh", "lẻ"]
ThousandWord = Literal["nghìn", "ngàn"]

DIGIT_WORDS: tuple[str, ...] = (
    "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
)

# How a Vietnamese announcer spells the letters of a ticket prefix such as "A005".
LETTER_NAMES: dict[str, str] = {
    "A": "a", "Ă": "á", "Â": "ớ", "B": "bê", "C": "xê", "D": "dê", "Đ": "đê", "E": "e",
    "Ê": "ê", "F": "ép", "G": "giê", "H": "hát", "I": "i ngắn", "J": "gi", "K": "ca",
    "L": "e-lờ", "M": "em-mờ", "N": "en-nờ", "O": "o", "Ô": "ô", "Ơ": "ơ", "P": "pê",
    "Q": "quy", "R": "e-rờ", "S": "ét-xì", "T": "tê", "U": "u", "Ư": "ư", "V": "vê",
    "W": "vê kép", "X": "ích-xì", "Y": "i dài", "Z": "dét",
}

_ODD_WORDS = ("linh", "lẻ")
_THOUSAND_WORDS = ("nghìn", "ngàn")
_BILLION = 1_000_000_000


def _check_opts(odd_word: str, thousand_word: str) -> tuple[str, str]:
    odd, thousand = _nfc(odd_word), _nfc(thousand_word)
    if odd not in _ODD_WORDS:
        raise ValueError(f"odd_word must be 'linh' or 'lẻ', not {odd_word!r}")
    if thousand not in _THOUSAND_WORDS:
        raise ValueError(f"thousand_word must be 'nghìn' or 'ngàn', not {thousand_word!r}")
    return odd, thousand


def _below_hundred(n: int, use_tu: bool) -> list[str]:
    """Words for 1..99 (0 gives no words)."""
    tens, unit = divmod(n, 10)
    if tens == 0:
        return [DIGIT_WORDS[unit]] if unit else []
    words = ["mười"] if tens == 1 else [DIGIT_WORDS[tens], "mươi"]
    if unit == 0:
        return words
    if unit == 5:
        words.append("lăm")
    elif unit == 1 and tens >= 2:
        words.append("mốt")
    elif unit == 4 and tens >= 2 and use_tu:
        words.append("tư")
    else:
        words.append(DIGIT_WORDS[unit])
    return words


def _group(n: int, full: bool, use_tu: bool, odd: str) -> list[str]:
    """Words for a three-digit group 0..999.

    ``full`` reads the hundreds even when zero ("không trăm"), as inside a larger number.
    """
    hundreds, rest = divmod(n, 100)
    if hundreds == 0 and not full:
        return _below_hundred(rest, use_tu)
    words = [DIGIT_WORDS[hundreds], "trăm"]
    if 0 < rest < 10:
        unit = "tư" if rest == 4 and use_tu else DIGIT_WORDS[rest]
        words += [odd, unit]
    else:
        words += _below_hundred(rest, use_tu)
    return words


def _below_billion(n: int, leading: bool, use_tu: bool, odd: str, thousand: str) -> list[str]:
    groups = [(n // 1_000_000, "triệu"), (n // 1000 % 1000, thousand), (n % 1000, "")]
    words: list[str] = []
    for value, scale in groups:
        if value == 0:
            continue
        words += _group(value, full=bool(words) or not leading, use_tu=use_tu, odd=odd)
        if scale:
            words.append(scale)
    return words


def _words(n: int, use_tu: bool, odd: str, thousand: str) -> list[str]:
    if n >= _BILLION:
        head, tail = divmod(n, _BILLION)
        words = _words(head, use_tu, odd, thousand) + ["tỷ"]
        return words + _below_billion(tail, False, use_tu, odd, thousand)
    return _below_billion(n, True, use_tu, odd, thousand)


def number_to_words(
    n: int,
    *,
    use_tu: bool = False,
    odd_word: OddWord | str = "linh",
    thousand_word: ThousandWord | str = "nghìn",
) -> str:
    """Read a non-negative integer in Vietnamese words, e.g. 1005 → "một nghìn không trăm linh năm".

    ``use_tu`` reads a final 4 after "mươi" or "linh/lẻ" as "tư" (24 → hai mươi tư);
    14 stays "mười bốn".
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number_to_words expects an int, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"number_to_words expects a non-negative number, not {n}")
    odd, thousand = _check_opts(odd_word, thousand_word)
    if n == 0:
        return "không"
    return _nfc(" ".join(_words(n, use_tu, odd, thousand)))


def letter_to_words(letter: str) -> str:
    """The spoken name of one letter of a ticket prefix ("B" → "bê")."""
    key = _nfc(letter).upper()
    try:
        return LETTER_NAMES[key]
    except KeyError:
        raise ValueError(f"no Vietnamese reading for the character {letter!r}") from None


_TOKEN = re.compile(r"\d+|[^\W\d_]")
_SEPARATORS = re.compile(r"[\s\-_./·]+")


def _tokens(ticket_number: str) -> list[str]:
    text = _nfc(str(ticket_number)).strip()
    if not text:
        raise ValueError("empty ticket number")
    tokens = _TOKEN.findall(text)
    leftover = _SEPARATORS.sub("", _TOKEN.sub("", text))
    if leftover or not tokens:
        raise ValueError(f"cannot read the ticket number {ticket_number!r}")
    return tokens


def digits_to_words(ticket_number: str, sep: str = ", ") -> str:
    """Read a ticket number character by character: "1005" → "một, không, không, năm".

    Letters are spelled ("A005" → "a, không, không, năm"); spaces, '-', '.', '/' are ignored.
    """
    words: list[str] = []
    for token in _tokens(ticket_number):
        if token.isdigit():
            words += [DIGIT_WORDS[int(d)] for d in token]
        else:
            words.append(letter_to_words(token))
    return _nfc(sep.join(words))


def number_to_speech(
    ticket_number: str,
    read_digits: bool = False,
    *,
    use_tu: bool = False,
    odd_word: OddWord | str = "linh",
    thousand_word: ThousandWord | str = "nghìn",
) -> str:
    """Spoken form of a ticket number.

    A number of a numeric range is read as a number ("1005" → "một nghìn không trăm linh năm") or,
    with ``read_digits``, digit by digit ("một, không, không, năm"). A number with a letter prefix
    is always read as the prefix letter's Vietnamese name and then its digits one by one
    (DOMAIN.md, "The voice"): "A005" → "a, không, không, năm", never "a năm" — the padding zeros
    are part of what is printed.
    """
    _check_opts(odd_word, thousand_word)
    tokens = _tokens(ticket_number)
    if read_digits or any(not token.isdigit() for token in tokens):
        return digits_to_words(ticket_number)
    return _nfc(" ".join(number_to_words(int(token), use_tu=use_tu, odd_word=odd_word, thousand_word=thousand_word)
                         for token in tokens))
