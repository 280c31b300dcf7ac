"""The bench's own parts: the client's WebSocket frame layer (`layso.bench.sio`) reads what wsproto, the
library the server speaks through, writes and reads, however the stream is cut; the wake probe
(`layso.bench.stalls`) reports how late a sleeping thread woke."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from layso.bench.sio import BINARY, CLOSE, PING, TEXT, FrameReader, accept_token, client_frame

messages = st.lists(st.one_of(st.text(max_size=300).map(lambda t: ("text", t)),
                              st.binary(max_size=70_000).map(lambda b: ("bytes", b)),
                              st.binary(max_size=100).map(lambda b: ("ping", b))), max_size=8)


def _server_bytes(items) -> bytes:
    """What a server's wsproto connection writes for `items` (text and binary split in two fragments,
    a ping between them when one follows)."""
    server = Connection(ConnectionType.SERVER)
    out = b""
    for kind, value in items:
        if kind == "ping":
            out += server.send(Ping(payload=value))
        elif kind == "text":
            half = len(value) // 2
            out += server.send(TextMessage(data=value[:half], message_finished=False))
            out += server.send(TextMessage(data=value[half:], message_finished=True))
        else:
            out += server.send(BytesMessage(data=value, message_finished=True))
    return out


def _expected(items) -> list:
    return [(TEXT, v) if k == "text" else (BINARY, v) if k == "bytes" else (PING, v) for k, v in items]


@settings(max_examples=60, deadline=None)
@given(messages, st.lists(st.integers(min_value=1, max_value=5000), max_size=30))
def test_the_server_frames_come_out_whole_however_the_stream_is_cut(items, cuts):
    data = _server_bytes(items)
    reader, got, at = FrameReader(), [], 0
    for size in cuts + [len(data)]:
        got += reader.feed(data[at:at + size])
        at += size
    assert got == _expected(items)


def test_a_control_frame_between_fragments_and_a_masked_frame_are_read():
    server = Connection(ConnectionType.SERVER)
    stream = (server.send(TextMessage(data="Đất ", message_finished=False)) + server.send(Ping(payload=b"p"))
              + server.send(TextMessage(data="đai", message_finished=True)))
    stream += client_frame(TEXT, "che giấu".encode())  # masked, as only a client should send
    stream += server.send(CloseConnection(code=1000))
    got = FrameReader().feed(stream)
    assert got[:3] == [(PING, b"p"), (TEXT, "Đất đai"), (TEXT, "che giấu")]
    assert got[3][0] == CLOSE and got[3][1][:2] == b"\x03\xe8"


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=70_000))
def test_a_client_frame_is_what_a_server_reads(text):
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client_frame(TEXT, text.encode()))
    parts = [ev.data for ev in server.events() if isinstance(ev, TextMessage)]
    assert "".join(parts) == text


def test_the_accept_token_is_rfc_6455s_example():
    assert accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_the_wake_probe_reports_how_late_a_sleeping_thread_woke():
    import time

    from layso.bench.run import percentiles
    from layso.bench.stalls import WakeProbe
    slept = []

    def sleep(seconds):  # the third wake-up comes 40 ms late, as when the machine stalls
        slept.append(seconds)
        time.sleep(seconds + (0.04 if len(slept) == 3 else 0.0))
        if len(slept) >= 20:
            probe._stop.set()
    probe = WakeProbe(0.001, sleep=sleep)
    probe.start()
    probe._thread.join(10)
    got = {**percentiles(probe.late_s), "late": probe.late()}
    assert got["n"] == 20 and got["late"] >= 1 and got["max"] >= 39.0
    assert got["p50"] < 10.0 <= got["max"]
    assert WakeProbe().late() == 0 and percentiles(WakeProbe().late_s)["max"] is None
