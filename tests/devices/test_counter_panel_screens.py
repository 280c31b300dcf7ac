"""Every counter panel screen drawn headless from a known state, saved to tests/artifacts/ for a look,
and checked for what must be on it (touch targets, colours of the state); the officer's strip of
touch buttons, and that a citizen's rating tap can never press one of them."""
from __future__ import annotations

import copy

import pygame
import pytest
from layso.counter_panel import model as m
from layso.counter_panel.model import Outcome, PanelModel, Request
from layso.counter_panel.view import AMBER, RED, YELLOW, PanelView
from layso.textfit import fonts

TICKET = {"id": 7, "number": "2005", "field": "dat-dai", "field_name": "Đất đai", "priority": "elderly",
          "priority_name": "Người cao tuổi (từ 60 tuổi)", "status": "called",
          "issued_at": "2026-11-23T09:00:00+07:00", "called_at": "2026-11-23T09:10:00+07:00", "counter": 2,
          "ahead": None, "est_wait_s": None, "track_url": "http://127.0.0.1/t/x"}

STATE = {
    "seq": 3,
    "centre": {"code": "xa", "name": "Trung tâm Phục vụ hành chính công xã", "timezone": "Asia/Ho_Chi_Minh",
               "thank_you": "Cảm ơn quý khách!",
               "rating": {"levels": [{"score": 4, "label": "Rất hài lòng"}, {"score": 3, "label": "Hài lòng"},
                                     {"score": 2, "label": "Bình thường"}, {"score": 1, "label": "Không hài lòng"}],
                          "satisfied_min": 3, "reason_max": 1,
                          "reasons": ["Chờ lâu", "Thái độ chưa tốt", "Hướng dẫn chưa rõ ràng",
                                      "Hồ sơ phải bổ sung nhiều lần", "Khác"],
                          "panel_window_s": 30}},
    "counters": [{"number": 2, "name": "Quầy 2", "status": "open", "fields": ["dat-dai", "bhxh"],
                  "officer": "Nguyễn Thị Lan", "ticket": TICKET, "pause_reason": None, "priority_only": False}],
    "fields": [{"code": "dat-dai", "name": "Đất đai"}, {"code": "bhxh", "name": "Bảo hiểm xã hội"}],
    "device": {"id": 5, "name": "Bảng quầy 2", "role": "counter", "counter": 2, "zone_fields": None,
               "zone_counters": None},
}


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def online_model(counter_changes: dict | None = None, officer_touch: bool = False) -> PanelModel:
    model = PanelModel(FakeClock(), officer_touch=officer_touch)
    state = copy.deepcopy(STATE)
    state["counters"][0].update(counter_changes or {})
    model.on_message("connection", "online")
    model.on_message("state", state)
    return model


def completed(model: PanelModel) -> None:
    ticket = dict(TICKET, status="done", priority=None)
    model.on_message("event", ("ticket.completed", {"seq": 4, "ticket": ticket, "counter": 2}))


def _closed():
    return online_model({"status": "closed", "ticket": None, "officer": None})


def _sign_in():
    model = _closed()
    model.on_tap("signin:open")
    model.type_text("staff1")
    model.on_tap("focus:pin")
    model.type_text("11")
    return model


def _idle():
    model = online_model({"ticket": None})
    model.on_outcome(Outcome(Request("command", "counter.next"), True, {"ticket": None}))
    return model


def _serving():
    model = online_model()
    model.on_outcome(Outcome(Request("command", "counter.next"), True, {"ticket": TICKET}))
    return model


def _paused():
    return online_model({"status": "paused", "pause_reason": "Họp giao ban 15 phút", "ticket": None})


def _rating():
    model = online_model({"ticket": None})
    completed(model)
    return model


def _reasons():
    model = _rating()
    model.on_tap("level:1")
    model.on_tap("reason:0")
    model.on_tap("reason:3")
    return model


def _thanks():
    model = _rating()
    req = model.on_tap("level:4")
    model.on_outcome(Outcome(req, True, {"score": 4}))
    return model


def _offline():
    model = online_model()
    model.on_message("connection", "offline")
    return model


def _error():
    model = online_model()
    model.on_message("connection", "unauthorized")
    return model


def _command_error():
    model = _paused()
    req = model.on_press(m.Press("next"))
    model.on_outcome(Outcome(req, False, code="counter_paused", message="Quầy đang tạm dừng."))
    return model


def _connecting():
    return PanelModel(FakeClock())


def _touch_idle():
    return online_model({"ticket": None}, officer_touch=True)


def _touch_serving():
    return online_model(officer_touch=True)


def _touch_paused():
    return online_model({"status": "paused", "pause_reason": "Họp giao ban 15 phút", "ticket": None},
                        officer_touch=True)


def _touch_no_officer():
    model = online_model({"ticket": None, "officer": None}, officer_touch=True)
    req = model.on_press(m.Press("next"))  # a USB keypad's key while nobody is signed in
    model.on_outcome(Outcome(req, False, code="no_officer", message="No officer is signed in at this counter."))
    return model


SCREENS = [("idle", _idle, m.IDLE), ("serving", _serving, m.SERVING), ("rating", _rating, m.RATING),
           ("reasons", _reasons, m.REASONS), ("thanks", _thanks, m.THANKS), ("paused", _paused, m.PAUSED),
           ("offline", _offline, m.OFFLINE), ("error", _error, m.ERROR), ("sign_in", _sign_in, m.SIGN_IN),
           ("closed", _closed, m.CLOSED), ("connecting", _connecting, m.CONNECTING),
           ("command_error", _command_error, m.PAUSED), ("touch_idle", _touch_idle, m.IDLE),
           ("touch_serving", _touch_serving, m.SERVING), ("touch_paused", _touch_paused, m.PAUSED),
           ("touch_no_officer", _touch_no_officer, m.IDLE)]


def draw(model: PanelModel, size=(800, 480)):
    surface = pygame.Surface(size)
    view = PanelView(size)
    spots = view.draw(surface, model)
    return surface, spots


def colour_share(surface: pygame.Surface, colour: tuple, tolerance: int = 12) -> float:
    w, h = surface.get_size()
    hits = total = 0
    for x in range(0, w, 4):
        for y in range(0, h, 4):
            c = surface.get_at((x, y))
            total += 1
            if all(abs(c[i] - colour[i]) <= tolerance for i in range(3)):
                hits += 1
    return hits / total


@pytest.mark.parametrize("name,setup,screen", SCREENS, ids=[s[0] for s in SCREENS])
def test_each_screen_draws_and_is_saved(name, setup, screen, artifacts):
    model = setup()
    assert model.screen == screen
    surface, spots = draw(model)
    pygame.image.save(surface, str(artifacts / f"counter_panel_{name}.png"))
    assert len({surface.get_at((x, y))[:3] for x in range(0, 800, 8) for y in range(60, 428, 8)}) > 3


@pytest.mark.parametrize("size", [(800, 480), (1024, 600), (1280, 800), (480, 320)])
@pytest.mark.parametrize("name,setup,screen", SCREENS, ids=[s[0] for s in SCREENS])
def test_no_letter_is_clipped(name, setup, screen, size):
    """Every line drawn whole (stacked marks such as "QUẦY", "Ộ" included): inside the screen, and a
    button's label inside its button."""
    record: list = []
    fonts().record = record
    try:
        surface, _spots = draw(setup(), size)
    finally:
        fonts().record = None
    assert record
    for line in record:
        assert surface.get_rect().contains(line.ink), line
        assert line.box is None or line.box.contains(line.ink), f"{line.text!r} overflows its button"


def test_serving_shows_the_number_large_in_yellow():
    surface, _ = draw(_serving())
    assert colour_share(surface, YELLOW) > 0.03


def test_paused_and_offline_carry_their_colour():
    assert colour_share(draw(_paused())[0], AMBER) > 0.01
    assert colour_share(draw(_offline())[0], RED) > 0.01


def test_rating_offers_one_target_per_level_and_a_tap_rates():
    model = _rating()
    _, spots = draw(model)
    levels = [s.target for s in spots if s.target.startswith("level:")]
    assert levels == ["level:4", "level:3", "level:2", "level:1"]
    best = next(s for s in spots if s.target == "level:4")
    req = model.on_tap(best.target)
    assert req.kind == "rating" and req.data == {"score": 4} and req.ticket_id == 7


def test_reasons_screen_targets_every_reason_and_send():
    model = _reasons()
    _, spots = draw(model)
    targets = {s.target for s in spots}
    assert {f"reason:{i}" for i in range(5)} <= targets and {"send", "back"} <= targets


def test_sign_in_keyboard_targets():
    _, spots = draw(_sign_in())
    targets = {s.target for s in spots}
    assert {"key:a", "key:1", "key:.", "erase", "signin:submit", "signin:cancel", "focus:pin"} <= targets


def test_layout_scales_to_other_sizes(artifacts):
    surface, spots = draw(_rating(), size=(1024, 600))
    pygame.image.save(surface, str(artifacts / "counter_panel_rating_1024x600.png"))
    assert all(surface.get_rect().contains(s.rect) for s in spots)


# ---- the officer's strip (a panel whose officer has no keypad) ------------------------------------
OFFICER = ("officer:next", "officer:recall", "officer:skip", "officer:complete", "officer:pause")


def officer_spots(spots) -> dict:
    return {s.target: s.rect for s in spots if s.target.startswith("officer:")}


def test_the_strip_offers_what_the_counter_can_do_now():
    assert set(officer_spots(draw(_touch_serving())[1])) == set(OFFICER)
    assert set(officer_spots(draw(_touch_idle())[1])) == {"officer:next", "officer:pause"}
    assert set(officer_spots(draw(_touch_paused())[1])) == {"officer:pause"}  # drawn as "Tiếp tục"
    assert officer_spots(draw(_touch_no_officer())[1]) == {}  # nobody to act: the sign-in button instead
    assert "signin:open" in {s.target for s in draw(_touch_no_officer())[1]}
    assert officer_spots(draw(_serving())[1]) == {}  # a GPIO keypad's panel shows the citizen's screen only


def test_officer_taps_send_the_counters_commands():
    model = _touch_serving()
    for action in ("next", "recall", "skip", "complete"):
        req = model.on_tap(f"officer:{action}")
        assert req == Request("command", f"counter.{action}", {})
        assert model.on_tap(f"officer:{action}") is None  # a second tap waits for the first
        model.on_outcome(Outcome(req, True, {"ticket": TICKET}))
    assert model.on_tap("officer:pause") == Request("command", "counter.pause", {})
    paused = _touch_paused()
    assert paused.on_tap("officer:pause") == Request("command", "counter.resume", {})
    assert paused.on_tap("officer:next") is None  # not offered while paused
    assert _touch_idle().on_tap("officer:complete") is None  # nothing to complete


def test_a_counter_without_an_officer_says_so_in_vietnamese():
    model = _touch_no_officer()
    assert model.feedback.error
    assert model.feedback.text == "Chưa có cán bộ đăng nhập quầy: hãy đăng nhập bằng mã PIN rồi gọi số."


def _rating_then(model: PanelModel) -> PanelModel:
    completed(model)
    return model


@pytest.mark.parametrize("setup", [
    lambda: _rating_then(_touch_serving()),
    lambda: _rating_then(_touch_idle()),
    lambda: (lambda mo: (mo.on_tap("level:1"), mo)[1])(_rating_then(_touch_serving())),
], ids=["rating", "rating_from_idle", "reasons"])
def test_the_citizens_screens_show_no_officer_button(setup, artifacts):
    model = setup()
    assert model.screen in (m.RATING, m.REASONS)
    surface, spots = draw(model)
    pygame.image.save(surface, str(artifacts / f"counter_panel_touch_{model.screen}.png"))
    assert officer_spots(spots) == {}
    for target in OFFICER:  # nor does a tap get through while the citizen rates
        assert model.on_tap(target) is None
    assert not model.in_flight


def test_a_rating_tap_can_never_press_an_officer_button():
    model = _touch_serving()
    model.frame_drawn()
    completed(model)  # the officer completed: the rating screen appears by itself
    _, rating_spots = draw(model)
    model.frame_drawn()
    tiles = [s.rect for s in rating_spots if s.target.startswith("level:")]
    strip = officer_spots(draw(_touch_serving())[1])
    # where a citizen taps a face, there is no officer button on the screen before or after it
    for tile in tiles:
        for target, rect in strip.items():
            assert not tile.colliderect(rect.inflate(0, 20)), (tile, target, rect)
    # the window ends by itself while the citizen is about to tap: the screen that follows ignores taps
    model.clock.t = model.rating.deadline + 0.01
    model.tick()
    assert model.screen == m.SERVING
    model.frame_drawn()
    for target in OFFICER:
        assert model.on_tap(target) is None
    assert not model.in_flight
    model.clock.t += m.TAP_GUARD_S
    assert model.on_tap("officer:recall") == Request("command", "counter.recall", {})


def test_the_thank_you_ending_does_not_pass_a_tap_to_the_strip():
    model = _touch_serving()
    completed(model)
    req = model.on_tap("level:4")
    model.on_outcome(Outcome(req, True, {"score": 4}))
    model.frame_drawn()
    assert model.screen == m.THANKS and officer_spots(draw(model)[1]) == {}
    model.clock.t += m.THANKS_S
    model.tick()
    model.frame_drawn()
    assert model.screen == m.SERVING
    assert model.on_tap("officer:complete") is None
    model.clock.t += m.TAP_GUARD_S
    assert model.on_tap("officer:complete") is not None


def test_the_strip_fits_other_sizes(artifacts):
    for size in ((1024, 600), (480, 320), (1280, 800)):
        surface, spots = draw(_touch_serving(), size=size)
        pygame.image.save(surface, str(artifacts / f"counter_panel_touch_serving_{size[0]}x{size[1]}.png"))
        rects = list(officer_spots(spots).values())
        assert len(rects) == 5 and all(surface.get_rect().contains(r) for r in rects)
        assert not any(a.colliderect(b) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_a_usb_numeric_keypad_drives_the_counter(monkeypatch):
    """The keypad's own keys (not the number row, which rates on a desk keyboard) send the officer's commands."""
    from layso.client import DeviceClient
    from layso.counter_panel.app import CounterPanel
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    panel = CounterPanel(DeviceClient("http://127.0.0.1:9", "t"), clock=FakeClock())  # never started
    try:
        assert panel.model.officer_touch  # no GPIO keys: the strip shows as well
        state = copy.deepcopy(STATE)
        panel.model.on_message("connection", "online")
        panel.model.on_message("state", state)
        sent = []
        panel.worker.submit = sent.append
        for key in (pygame.K_KP2, pygame.K_KP3, pygame.K_KP4, pygame.K_KP5, pygame.K_KP_ENTER):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))
        panel.step()
        assert [r.name for r in sent] == ["counter.recall", "counter.skip", "counter.complete", "counter.pause",
                                          "counter.next"]
    finally:
        panel.close()
