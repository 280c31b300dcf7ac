"""The lobby display's state machine (layso.display.board): snapshots, events, zones, announcements."""
from __future__ import annotations

import copy
import queue
from datetime import datetime

import pytest
from layso.display.board import Board

from layso.protocol import SeqBuffer

SENTENCE_1005 = "Xin mời công dân có số thứ tự một nghìn không trăm linh năm đến quầy số ba"
COUNTER_FIELDS = {1: ["dat-dai"], 2: ["dat-dai", "bhxh"], 3: ["bhxh", "tu-phap-ho-tich"]}


def ticket(tid: int, number: str, field: str = "tu-phap-ho-tich", field_name: str = "Tư pháp – Hộ tịch",
           counter: int | None = 3) -> dict:
    return {"id": tid, "number": number, "field": field, "field_name": field_name, "status": "called",
            "counter": counter}


def counter(n: int, fields: list[str], t: dict | None = None, status: str = "open") -> dict:
    return {"number": n, "name": f"Quầy {n}", "status": status, "fields": fields, "officer": None, "ticket": t,
            "pause_reason": None, "priority_only": False}


def snapshot(seq: int = 10, **extra) -> dict:
    snap = {
        "seq": seq,
        "centre": {"code": "xa", "name": "Trung tâm Phục vụ hành chính công xã", "timezone": "Asia/Ho_Chi_Minh",
                   "voice": {"template": "Xin mời công dân có số thứ tự {number} đến quầy số {counter}",
                             "read_digits": False, "use_tu": False, "odd_word": "linh", "thousand_word": "nghìn",
                             "speed": 130, "repeat": 1}},
        "counters": [counter(1, COUNTER_FIELDS[1]), counter(2, COUNTER_FIELDS[2]),
                     counter(3, COUNTER_FIELDS[3], ticket(7, "1004"))],
        "fields": [{"code": "tu-phap-ho-tich", "name": "Tư pháp – Hộ tịch", "waiting": 2, "accepting": True},
                   {"code": "dat-dai", "name": "Đất đai", "waiting": 5, "accepting": True},
                   {"code": "bhxh", "name": "Bảo hiểm xã hội", "waiting": 0, "accepting": True}],
        "recent_calls": [{"ticket": ticket(7, "1004"), "counter": {"number": 3, "name": "Quầy 3"},
                          "at": "2026-11-23T09:00:00+07:00", "recall": False}],
        "ticker": "Xin giữ trật tự",
        "now": "2026-11-23T09:00:05+07:00",
    }
    snap.update(extra)
    return snap


def called(seq: int, t: dict, n: int, at: str = "2026-11-23T09:01:00+07:00", type_: str = "ticket.called"):
    return type_, {"seq": seq, "ticket": t, "counter": counter(n, COUNTER_FIELDS[n], t), "at": at}


def test_a_snapshot_shows_the_latest_call_but_never_announces_it():
    board = Board()
    assert board.apply("state", snapshot()) == []
    assert board.latest.number == "1004" and board.latest.counter == 3
    assert board.highlight_at is None and board.highlighted() is None
    # a second snapshot (a reconnection) with the same call: still nothing to say
    assert board.apply("state", snapshot(seq=12)) == []


def test_a_call_is_announced_with_the_centres_template_and_highlighted():
    board = Board()
    board.apply_state(snapshot())
    out = board.apply("event", called(11, ticket(8, "1005"), 3))
    assert [a.text for a in out] == [SENTENCE_1005]
    assert out[0].recall is False and out[0].repeat == 1
    assert board.latest.number == "1005"
    assert board.highlighted() is not None
    assert board.counters[3]["ticket"]["number"] == "1005"


def test_a_recall_is_announced_again_as_a_recall_and_moves_the_ticket_up():
    board = Board()
    board.apply_state(snapshot())
    board.apply_event(*called(11, ticket(8, "1005"), 3))
    board.apply_event(*called(12, ticket(9, "2001", "dat-dai", "Đất đai", 1), 1, at="2026-11-23T09:02:00+07:00"))
    out = board.apply_event(*called(13, ticket(8, "1005"), 3, at="2026-11-23T09:03:00+07:00",
                                    type_="ticket.recalled"))
    assert len(out) == 1 and out[0].recall and out[0].text == SENTENCE_1005
    assert [c.number for c in board.visible_calls()] == ["1005", "2001", "1004"]
    assert board.latest.recall


def test_reading_digits_and_other_number_words_come_from_the_snapshot():
    snap = snapshot()
    snap["centre"]["voice"].update(read_digits=True, template="Mời số {number}, quầy {counter}")
    board = Board()
    board.apply_state(snap)
    out = board.apply_event(*called(11, ticket(8, "1005"), 3))
    assert out[0].text == "Mời số một, không, không, năm, quầy ba"


def test_an_invalid_voice_template_falls_back_to_the_default_sentence():
    snap = snapshot()
    snap["centre"]["voice"]["template"] = "Mời {name}"
    board = Board()
    board.apply_state(snap)
    assert board.apply_event(*called(11, ticket(8, "1005"), 3))[0].text == SENTENCE_1005


def test_an_old_or_repeated_call_is_never_announced_as_new():
    board = Board()
    board.apply_state(snapshot())
    # older than the call the snapshot already showed
    assert board.apply_event(*called(11, ticket(5, "1002"), 3, at="2026-11-23T08:50:00+07:00")) == []
    event = called(12, ticket(8, "1005"), 3)
    assert len(board.apply_event(*event)) == 1
    assert board.apply_event(*event) == []


def test_events_go_through_the_seq_buffer_in_order_and_a_resync_drops_old_ones():
    inbox: queue.Queue = queue.Queue()
    buffer = SeqBuffer(lambda t, p: inbox.put(("event", (t, p))), lambda: None)
    board = Board()
    board.apply("state", snapshot(seq=10))
    buffer.reset(10)
    buffer.push(*called(12, ticket(9, "1006"), 3, at="2026-11-23T09:02:00+07:00"))
    buffer.push(*called(11, ticket(8, "1005"), 3))
    buffer.push(*called(9, ticket(4, "1001"), 3, at="2026-11-23T08:40:00+07:00"))  # before the snapshot
    spoken = []
    while not inbox.empty():
        spoken += [a.call.number for a in board.apply(*inbox.get())]
    assert spoken == ["1005", "1006"]


def test_updates_of_counters_fields_and_ticker():
    board = Board()
    board.apply_state(snapshot())
    v = board.version
    board.apply_event("counter.changed", {"seq": 11, "counter": counter(2, COUNTER_FIELDS[2], status="paused")})
    board.apply_event("queue.changed", {"seq": 12, "fields": [{"code": "dat-dai", "name": "Đất đai", "waiting": 9,
                                                               "accepting": True}]})
    board.apply_event("ticker.changed", {"seq": 13, "ticker": "Nghỉ trưa từ 11:30"})
    assert board.counters[2]["status"] == "paused"
    assert [f["waiting"] for f in board.visible_fields()] == [2, 9, 0]
    assert board.ticker == "Nghỉ trưa từ 11:30"
    assert board.version == v + 3


def test_connection_status_changes_bump_the_version():
    board = Board()
    v = board.version
    board.apply("connection", "offline")
    board.apply("connection", "offline")
    assert board.connection == "offline" and board.version == v + 1


@pytest.mark.parametrize("device, counters, fields, shown, spoken", [
    ({"zone_counters": [1, 2]}, [1, 2], ["dat-dai", "bhxh"], ["2001"], ["2001"]),
    ({"zone_fields": ["tu-phap-ho-tich"]}, [3], ["tu-phap-ho-tich"], ["1005", "1004"], ["1005"]),
    ({"zone_fields": ["bhxh"], "zone_counters": [3]}, [3], ["bhxh"], [], []),
    ({"zone_fields": None, "zone_counters": None}, [1, 2, 3], ["tu-phap-ho-tich", "dat-dai", "bhxh"],
     ["2001", "1005", "1004"], ["1005", "2001"]),
])
def test_a_display_limited_to_a_zone_shows_and_announces_only_its_zone(device, counters, fields, shown, spoken):
    snap = snapshot(device={"id": 4, "name": "Màn hình tầng 2", "role": "display", **device})
    board = Board()
    board.apply_state(snap)
    said = board.apply_event(*called(11, ticket(8, "1005"), 3))
    said += board.apply_event(*called(12, ticket(9, "2001", "dat-dai", "Đất đai", 1), 1,
                                      at="2026-11-23T09:02:00+07:00"))
    assert [c["number"] for c in board.visible_counters()] == counters
    assert [f["code"] for f in board.visible_fields()] == fields
    assert [c.number for c in board.visible_calls()] == shown
    assert [a.call.number for a in said] == spoken


def test_the_clock_follows_the_server_time():
    board = Board(wall=lambda: 1_000_000.0)
    snap = copy.deepcopy(snapshot())
    board.apply_state(snap)
    assert board.server_time() == datetime.fromisoformat(snap["now"]).timestamp()
