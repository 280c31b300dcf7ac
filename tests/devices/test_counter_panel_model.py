"""The counter panel's state machine without pygame or a server: keys, touches, events and outcomes."""
from __future__ import annotations

from layso.counter_panel import model as m
from layso.counter_panel.model import Outcome, PanelModel, Request
from layso.hardware.buttons import Press
from test_counter_panel_screens import STATE, TICKET, completed, online_model


def test_starts_connecting_and_finds_its_counter_in_the_state():
    model = PanelModel(lambda: 0.0)
    assert model.screen == m.CONNECTING and model.led_status == "offline"
    model.on_message("connection", "online")
    assert model.screen == m.CONNECTING
    model.on_message("state", STATE)
    assert model.counter_number == 2 and model.screen == m.SERVING and model.led_status == "ready"


def test_a_token_that_is_not_a_counter_shows_the_error_screen():
    model = PanelModel(lambda: 0.0)
    model.on_message("connection", "online")
    model.on_message("state", dict(STATE, device={"id": 9, "role": "display", "counter": None}))
    assert model.screen == m.ERROR and "quầy" in model.error_text
    model.on_message("connection", "unauthorized")
    assert model.error_text.startswith("Máy chủ từ chối")


def test_a_counter_missing_from_the_state_is_an_error():
    model = online_model()
    model.on_message("state", dict(STATE, counters=[]))
    assert model.screen == m.ERROR and "Quầy 2" in model.error_text


def test_screens_follow_the_counter_events():
    model = online_model({"ticket": None})
    assert model.screen == m.IDLE
    counter = dict(model.counter, ticket=TICKET)
    model.on_message("event", ("ticket.called", {"seq": 4, "ticket": TICKET, "counter": counter}))
    assert model.screen == m.SERVING
    other = dict(counter, number=3, status="paused")
    model.on_message("event", ("counter.changed", {"seq": 5, "counter": other}))
    assert model.screen == m.SERVING  # another counter's change is not ours
    model.on_message("event", ("counter.changed", {"seq": 6, "counter": dict(counter, status="paused")}))
    assert model.screen == m.PAUSED and model.led_status == "paused"
    model.on_message("connection", "offline")
    assert model.screen == m.OFFLINE and model.led_status == "offline"


def test_keys_become_commands_and_a_second_press_waits_for_the_first():
    model = online_model()
    req = model.on_press(Press("next"))
    assert req == Request("command", "counter.next", {})
    assert model.on_press(Press("next")) is None  # still on its way: a double press sends nothing
    assert model.led_status == "busy"
    assert model.on_press(Press("recall")).name == "counter.recall"
    model.on_outcome(Outcome(req, True, {"ticket": TICKET}))
    assert model.feedback.text == "Đã gọi số 2005" and not model.feedback.error
    assert model.on_press(Press("next")).name == "counter.next"


def test_pause_key_pauses_resumes_and_closes_on_a_long_press():
    model = online_model()
    assert model.on_press(Press("pause")).name == "counter.pause"
    paused = online_model({"status": "paused"})
    assert paused.on_press(Press("pause")).name == "counter.resume"
    assert model.on_press(Press("pause", long=True)).name == "counter.close"


def test_commands_offline_say_so_and_send_nothing():
    model = online_model()
    model.on_message("connection", "offline")
    assert model.on_press(Press("next")) is None
    assert model.feedback.error and "kết nối" in model.feedback.text


def test_refusals_show_in_vietnamese_and_light_red_until_they_expire():
    model = online_model()
    req = model.on_press(Press("complete"))
    model.on_outcome(Outcome(req, False, code="no_current_ticket", message="x"))
    assert model.feedback.text == "Quầy chưa phục vụ công dân nào." and model.led_status == "error"
    unknown = model.on_press(Press("skip"))
    model.on_outcome(Outcome(unknown, False, code="something_new", message="a centre name has 1 to 200 characters"))
    assert model.feedback.text == "Không thực hiện được lệnh (something_new)"  # the panel's words, never English
    again = model.on_press(Press("recall"))
    model.on_outcome(Outcome(again, False, code="ticket_not_waiting", message="This ticket is no longer waiting."))
    assert model.feedback.text == "Số này không còn trong hàng chờ."
    model.clock.t += m.FEEDBACK_S + 1
    model.tick()
    assert model.feedback is None and model.led_status == "ready"


def test_completion_at_this_counter_opens_the_rating_and_a_high_score_is_sent():
    model = online_model({"ticket": None})
    other = dict(TICKET, status="done")
    model.on_message("event", ("ticket.completed", {"seq": 4, "ticket": other, "counter": 3}))
    assert model.screen == m.IDLE
    completed(model)
    assert model.screen == m.RATING and model.seconds_left() == 28
    req = model.on_press(Press("rating", index=0))  # the best level's physical button
    assert req == Request("rating", "rating", {"score": 4}, ticket_id=7)
    assert model.on_tap("level:3") is None  # one rating on its way already
    model.on_outcome(Outcome(req, True, {"score": 4}))
    assert model.screen == m.THANKS
    model.clock.t += m.THANKS_S + 0.1
    model.tick()
    assert model.screen == m.IDLE


def test_a_low_score_needs_a_reason_before_it_is_sent():
    model = online_model({"ticket": None})
    completed(model)
    assert model.on_tap("level:1") is None
    assert model.screen == m.REASONS
    assert model.on_tap("send") is None and model.rating.error  # no reason chosen yet
    model.on_tap("reason:0")
    model.on_tap("reason:2")
    model.on_tap("reason:2")  # chosen again: unchosen
    req = model.on_tap("send")
    assert req.data == {"score": 1, "reasons": ["Chờ lâu"]}
    model.on_outcome(Outcome(req, False, code="offline", message=""))
    assert model.screen == m.REASONS and model.rating.error  # kept: it can be sent again
    assert model.on_tap("send") is not None


def test_back_from_reasons_and_a_better_score():
    model = online_model({"ticket": None})
    completed(model)
    model.on_tap("level:2")
    assert model.screen == m.RATING  # 2 > reason_max (1): no reasons asked
    model2 = online_model({"ticket": None})
    completed(model2)
    model2.on_tap("level:1")
    model2.on_tap("back")
    assert model2.screen == m.RATING and model2.rating.score is None


def test_the_window_ends_the_rating_unless_a_rating_is_on_its_way():
    model = online_model({"ticket": None})
    completed(model)
    model.clock.t += 27.9
    model.tick()
    assert model.screen == m.RATING
    req = model.on_tap("level:4")
    model.clock.t += 5
    model.tick()
    assert model.screen == m.RATING  # waits for the answer
    model.on_outcome(Outcome(req, False, code="window_over", message=""))
    assert model.screen == m.IDLE and model.feedback.text == "Đã hết thời gian đánh giá."
    idle = online_model({"ticket": None})
    completed(idle)
    idle.clock.t += 28.1
    idle.tick()
    assert idle.screen == m.IDLE


def test_rated_elsewhere_closes_the_rating():
    model = online_model({"ticket": None})
    completed(model)
    model.on_message("event", ("ticket.rated", {"seq": 5, "ticket": {"id": 7}, "counter": 2,
                                                "rating": {"score": 4}}))
    assert model.screen == m.IDLE


def test_pin_sign_in_form():
    model = online_model({"status": "closed", "ticket": None, "officer": None})
    assert model.screen == m.CLOSED and model.led_status == "closed"
    model.on_tap("signin:open")
    assert model.screen == m.SIGN_IN
    model.type_text("Staff1!")
    assert model.sign_in.username == "staff1"
    assert model.on_tap("signin:submit") is None and model.sign_in.focus == "pin"
    model.type_text("12a3")
    model.on_tap("erase:")
    model.on_tap("key:1")
    model.on_tap("key:1")
    assert model.sign_in.pin == "1211"
    req = model.on_tap("signin:submit")
    assert req == Request("command", "counter.signin", {"username": "staff1", "pin": "1211"})
    model.on_outcome(Outcome(req, False, code="invalid_pin", message=""))
    assert model.screen == m.SIGN_IN and model.sign_in.pin == "" and model.feedback.error
    model.type_text("1111")
    req = model.submit_sign_in()
    model.on_outcome(Outcome(req, True, {"counter": {"officer": "Nguyễn Thị Lan"}}))
    assert model.sign_in is None and model.feedback.text == "Nguyễn Thị Lan đã đăng nhập quầy"


def test_what_happens_at_the_counter_shows_to_the_officer_whoever_did_it():
    model = online_model({"ticket": None})
    counter = dict(model.counter, ticket=TICKET)
    model.on_message("event", ("ticket.called", {"seq": 4, "ticket": TICKET, "counter": counter}))
    assert model.feedback.text == "Đã gọi số 2005"
    moved = dict(TICKET, status="waiting", field_name="Tư pháp – Hộ tịch")
    model.on_message("event", ("ticket.transferred", {"seq": 5, "ticket": moved, "counter": dict(counter, ticket=None),
                                                      "from_counter": 2, "to_field": "tu-phap-ho-tich"}))
    assert model.feedback.text == "Đã chuyển số 2005 sang lĩnh vực Tư pháp – Hộ tịch"
    model.on_message("event", ("ticket.transferred", {"seq": 6, "ticket": moved, "counter": dict(counter, ticket=None),
                                                      "from_counter": 2, "to_counter": 3}))
    assert model.feedback.text == "Đã chuyển số 2005 sang quầy 3"
    skipped = dict(TICKET, status="no_show")
    model.on_message("event", ("ticket.skipped", {"seq": 7, "ticket": skipped, "counter": dict(counter, ticket=None)}))
    assert model.feedback.text == "Số 2005 vắng mặt, đã kết thúc"
    assert model.screen == m.IDLE


def test_the_counter_command_refuses_a_missing_token_or_a_bad_keypad(tmp_path, monkeypatch, capsys):
    from layso.cli import main
    monkeypatch.delenv("LAYSO_TOKEN", raising=False)
    monkeypatch.delenv("LAYSO_KEYPAD", raising=False)
    assert main(["counter", "--server", "http://127.0.0.1:9"]) == 2
    assert "token" in capsys.readouterr().err
    keypad = tmp_path / "keypad.toml"
    keypad.write_text("[keys]\nnext = 5\nskip = 5\n")
    assert main(["counter", "--server", "http://127.0.0.1:9", "--token", "ls_x" * 4, "--keypad", str(keypad)]) == 2
    assert "used twice" in capsys.readouterr().err
