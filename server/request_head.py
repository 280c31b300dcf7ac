"""A request's header lines, read for gevent's WSGI handler without the email package.

gevent reads a request's headers with `http.client.parse_headers`, which hands them to the standard
library's email parser: 6 % of an issuing server's CPU (docs/PERFORMANCE.md). `HeaderLines` reads
the same lines up to the blank one, under the same limits (a line of at most 65,536 bytes, at most
100 lines with the blank one: beyond either the request is refused, as gevent refuses a head it cannot read),
refuses a line that is not a header (gevent's reader ended the headers there and dropped the rest),
and answers what gevent's handler asks of them: a header's first value by name in any case, a line
a header for the WSGI environment, deleting a header, and `status` (why the head was refused, empty
when it was read). tests/ops/test_request_head.py compares it with
gevent's own reader on generated heads.
"""
from __future__ import annotations

import re

MAX_LINE = 65536  # http.client's _MAXLINE
MAX_HEADERS = 100  # http.client's _MAXHEADERS
_END = (b"\r\n", b"\n", b"")
# a header line (a name of printable characters but ":", then ":") or a folded line's continuation,
# with no carriage return but the one that ends it (the email parser's test, stricter on CR)
_LINE = re.compile(r"(?:[\041-\071\073-\176]*:|[\t ])[^\r]*\r?\n?\Z")


class HeaderLines:
    """The header lines of one request head (gevent's `WSGIHandler.MessageClass`)."""

    __slots__ = ("_lines", "status")

    def __init__(self, fp, *_args):
        self.status = ""
        self._lines: list[str] = []  # "Name: value\r\n", as received (latin-1)
        while True:
            line = fp.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                self.status = "Line too long"
                return
            if line in _END:
                return
            if len(self._lines) >= MAX_HEADERS - 1:  # http.client counts the blank line among them
                self.status = f"got more than {MAX_HEADERS} headers"
                return
            text = line.decode("iso-8859-1")
            if not _LINE.match(text):
                self.status = "Invalid header line"  # the email parser ended the headers there, silently
                return
            self._lines.append(text)

    def _pairs(self):
        """(name, value) of each header: the value with the spaces before it and the line end removed,
        a folded value's lines joined as the email parser joins them (the line breaks kept)."""
        name = value = None
        for line in self._lines:
            if line[:1] in (" ", "\t"):
                if name is not None:
                    value += line
                continue
            if name is not None:
                yield name, value.lstrip(" \t").rstrip("\r\n")
            name, _sep, value = line.partition(":")
        if name is not None:
            yield name, value.lstrip(" \t").rstrip("\r\n")

    def get(self, name: str, default=None):
        """The first value of header `name` (any case)."""
        wanted = name.lower()
        for key, value in self._pairs():
            if key.lower() == wanted:
                return value
        return default

    getheader = get

    def __delitem__(self, name: str) -> None:
        """Remove every header `name` (any case), its continuation lines with it."""
        wanted, kept, dropping = name.lower(), [], False
        for line in self._lines:
            if line[:1] in (" ", "\t"):
                if not dropping:
                    kept.append(line)
                continue
            dropping = line.partition(":")[0].lower() == wanted
            if not dropping:
                kept.append(line)
        self._lines = kept

    @property
    def headers(self):
        """A line a header, folded values joined (as gevent's reader gives them), which gevent turns
        into the environment's HTTP_* keys."""
        for name, value in self._pairs():
            yield f"{name}: {value}\r\n"

    @property
    def typeheader(self):
        return self.get("content-type")
