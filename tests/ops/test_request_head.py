"""server/request_head.py: the server reads a request's headers as gevent's own reader does (the
email parser) on any well-formed head — each header's value, the WSGI environment's HTTP_* keys,
what is left of the stream — under the same limits, and refuses with 400 a head gevent would have
cut short silently."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

from http.client import HTTPException
from io import BytesIO
from types import SimpleNamespace

import pytest
from gevent import pywsgi
from hypothesis import given, settings
from hypothesis import strategies as st

from layso.server.request_head import MAX_HEADERS, MAX_LINE, HeaderLines

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^`|~",
                min_size=1, max_size=12)
NAMES = st.one_of(TOKEN, st.sampled_from(["Host", "Content-Type", "content-length", "Connection", "Cookie",
                                          "X-Forwarded-For", "Transfer-Encoding", "Upgrade", "User_Agent"]))
# values: printable latin-1 without CR or LF, spaces and colons included, possibly empty
VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                max_size=40)
HEADER = st.tuples(NAMES, VALUE, st.lists(VALUE.map(lambda v: " " + v), max_size=2))


def _head(headers, body: bytes = b"body") -> bytes:
    lines = []
    for name, value, folds in headers:
        lines.append(f"{name}:{value}\r\n")
        lines += [f"{fold}\r\n" for fold in folds]
    return "".join(lines).encode("latin-1") + b"\r\n" + body


def _environ(message) -> list:
    return list(pywsgi.WSGIHandler._headers(SimpleNamespace(headers=message)))


def _both(raw: bytes):
    ours_fp, theirs_fp = BytesIO(raw), BytesIO(raw)
    return HeaderLines(ours_fp, 0), ours_fp, pywsgi.headers_factory(theirs_fp, 0), theirs_fp


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(HEADER, max_size=12), asked=st.lists(NAMES, max_size=4), data=st.data())
def test_a_head_reads_as_gevents_own_reader_reads_it(headers, asked, data):
    ours, ours_fp, theirs, theirs_fp = _both(_head(headers))
    assert ours.status == theirs.status == ""
    assert ours_fp.read() == theirs_fp.read() == b"body"  # the head read to its blank line, no further
    assert _environ(ours) == _environ(theirs)
    names = [n for n, _v, _f in headers] + asked
    for name in names:
        for spelt in (name, name.lower(), name.upper()):
            assert ours.get(spelt) == theirs.get(spelt), spelt
            assert ours.getheader(spelt, "none") == theirs.getheader(spelt, "none")
    assert ours.typeheader == theirs.typeheader
    if names:
        gone = data.draw(st.sampled_from(names))
        del ours[gone]
        del theirs[gone]
        assert _environ(ours) == _environ(theirs)
        assert ours.get(gone) is None and theirs.get(gone) is None


def test_the_limits_are_http_clients():
    ours, _fp, theirs, _tfp = _both(b"X-Long: " + b"a" * MAX_LINE + b"\r\n\r\n")
    assert ours.status and theirs.status == "Line too long"
    most = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS - 1)) + b"\r\n"  # 100 lines with the blank one
    ours, _fp, theirs, _tfp = _both(most)
    assert ours.status == theirs.status == "" and len(_environ(ours)) == MAX_HEADERS - 1
    assert HeaderLines(BytesIO(b"X-a: v\r\n" + most), 0).status  # one more: http.client raises
    with pytest.raises(HTTPException):
        pywsgi.headers_factory(BytesIO(b"X-a: v\r\n" + most), 0)


@pytest.mark.parametrize("line", [b"no colon here\r\n", b"Bad Name: v\r\n", b"X-A: one\rX-B: two\r\n",
                                  b"X-\x01: v\r\n"])
def test_a_line_that_is_no_header_refuses_the_head(line):
    assert HeaderLines(BytesIO(b"Host: a\r\n" + line + b"X-After: b\r\n\r\n"), 0).status


SERVER = textwrap.dedent('''
    import socket, sys
    from layso.server.serving import patch
    patch()
    from layso.server.serving import make_server

    def app(environ, start_response):
        seen = ";".join(f"{k}={v}" for k, v in sorted(environ.items()) if k.startswith("HTTP_X_"))
        body = (environ.get("CONTENT_TYPE", "") + "|" + seen + "|").encode() + environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    make_server(app, listener).serve_forever()
''')


def _ask(port: int, raw: bytes) -> bytes:
    """The server's whole answer: it closes the connection after it (`Connection: close`, or a bad head)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_the_server_answers_a_good_head_and_refuses_a_bad_one():
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        good = _ask(port, b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nX-One: 1\r\n"
                          b"x-two:  2\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        assert good.startswith(b"HTTP/1.1 200") and good.endswith(b"text/plain|HTTP_X_ONE=1;HTTP_X_TWO=2|hello")
        for bad in (b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n",
                    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS)) + b"\r\n"):
            assert _ask(port, bad).startswith(b"HTTP/1.1 400"), bad[:40]
    finally:
        proc.kill()
        proc.wait(10)

