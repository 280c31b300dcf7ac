"""The counter panel against a real server process: keypad presses on gpiozero's MockFactory reach
the server's state (bounce included), PIN sign-in, the rating flow stored with its ties, the rating
rules enforced by the server, going offline and back, and the `layso counter` program itself."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pygame
import pytest
import sqlalchemy
from conftest import small_config_data, start_server
from layso.counter_panel import model as m
from layso.counter_panel.app import CounterPanel
from layso.hardware.buttons import GpioKeypad, KeypadConfig
from sqlalchemy import select

from layso.client import DeviceClient

pytestmark = pytest.mark.slow

PINS = {"next": 5, "recall": 6, "skip": 13, "complete": 19, "pause": 26}
RATING_PINS = [17, 27, 22, 23]


class HoldableClock:
    """`time.monotonic` for the panel, which a test can hold still and release (moved on).

    The panel's timed parts (feedback for FEEDBACK_S, the rating window, the thank-you) run on it, so a
    test can check a state that lasts a few seconds while it waits for something it does not control
    the length of (a server restarting on a loaded machine)."""

    def __init__(self):
        self._lag = 0.0
        self._held: float | None = None

    def __call__(self) -> float:
        return self._held if self._held is not None else time.monotonic() - self._lag

    def hold(self) -> None:
        self._held = self()

    def release(self, advance_s: float = 0.0) -> None:
        self._lag = time.monotonic() - (self._held + advance_s)
        self._held = None


@pytest.fixture
def panel_clock():
    return HoldableClock()


@pytest.fixture
def panel_for(factory, artifacts, panel_clock):
    made = []

    def make(server, counter: int = 2, keypad: bool = True) -> CounterPanel:
        token = server.add_device("counter", f"Bảng quầy {counter}", counter=counter)
        keypad = GpioKeypad(KeypadConfig(keys=PINS, rating=RATING_PINS, leds={"green": 16, "amber": 20, "red": 21},
                                         bounce_s=0.05, hold_s=0.3), pin_factory=factory) if keypad else None
        panel = CounterPanel(DeviceClient(server.url, token), keypad, clock=panel_clock).start()
        made.append(panel)
        return panel

    yield make
    for panel in made:
        panel.close()


def run_until(panel: CounterPanel, condition, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        panel.step()
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or condition}; screen {panel.model.screen}, "
                         f"feedback {panel.model.feedback}, sign-in form {panel.model.sign_in}, "
                         f"in flight {panel.model.in_flight}, connection {panel.model.connection}")


def settle(panel: CounterPanel, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        panel.step()
        time.sleep(0.02)


def tap(panel: CounterPanel, target: str) -> None:
    """Tap like a person who looks first: a screen that appeared by itself ignores taps for a moment."""
    run_until(panel, panel.model.taps_allowed, timeout=5, what="the screen to take taps")
    spot = next((s for s in panel.hotspots if s.target == target), None)
    assert spot is not None, f"{target} is not on the {panel.model.screen} screen"
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=spot.rect.center, button=1))
    panel.step()


def press(factory, key: str, bouncy: bool = False, hold_s: float = 0.0) -> None:
    pin = factory.pin(PINS[key])
    if bouncy:
        for _ in range(5):
            pin.drive_low()
            pin.drive_high()
    pin.drive_low()
    time.sleep(hold_s or 0.01)
    pin.drive_high()
    time.sleep(0.06)  # quiet before the next press


def counter_state(server, token: str, number: int = 2) -> dict:
    state = server.get("/api/v1/state", token).json()
    return next(c for c in state["counters"] if c["number"] == number)


def shot(panel: CounterPanel, artifacts, name: str) -> None:
    pygame.image.save(panel.surface, str(artifacts / f"counter_panel_live_{name}.png"))


def db_ratings(server) -> list:
    from layso.server.storage.database import Database
    from layso.server.storage.models import Rating
    db = Database(server.db_url)
    try:
        with db.read() as s:
            return list(s.execute(select(Rating).order_by(Rating.id)).scalars())
    finally:
        db.dispose()


def test_keypad_presses_reach_the_server_and_a_bounce_sends_once(server, panel_for, factory, artifacts, panel_clock):
    kiosk = server.add_device("kiosk", "Kiosk")
    server.add_user("staff1", "staff", full_name="Nguyễn Thị Lan", pin="1111")
    for _ in range(3):
        assert server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
    panel = panel_for(server)
    run_until(panel, lambda: panel.model.screen == m.CLOSED, what="the closed counter")

    # the officer signs in with a PIN on the touch screen
    tap(panel, "signin:open")
    for ch in "staff1":
        tap(panel, f"key:{ch}")
    tap(panel, "focus:pin")
    for ch in "1111":
        tap(panel, f"key:{ch}")
    shot(panel, artifacts, "sign_in")
    tap(panel, "signin:submit")
    run_until(panel, lambda: (panel.model.counter or {}).get("officer") == "Nguyễn Thị Lan", what="sign-in")
    assert counter_state(server, kiosk)["status"] == "open"

    # NEXT bouncing: one call only
    press(factory, "next", bouncy=True)
    run_until(panel, lambda: panel.model.screen == m.SERVING and panel.model.feedback, what="the call")
    settle(panel)
    c = counter_state(server, kiosk)
    assert c["ticket"]["number"] == "2001"
    fields = {f["code"]: f for f in server.get("/api/v1/fields", kiosk).json()}
    assert fields["dat-dai"]["waiting"] == 2
    assert panel.model.feedback.text == "Đã gọi số 2001"
    shot(panel, artifacts, "serving")

    press(factory, "recall", bouncy=True)
    run_until(panel, lambda: panel.model.feedback.text == "Đã gọi lại số 2001", what="the recall")

    # COMPLETE → the rating screen; the worst level's physical button asks for a reason
    press(factory, "complete", bouncy=True)
    run_until(panel, lambda: panel.model.screen == m.RATING, what="the rating screen")
    assert counter_state(server, kiosk)["ticket"] is None
    press(factory, "next")  # the next citizen is called while the last one rates
    factory.pin(RATING_PINS[3]).drive_low()
    factory.pin(RATING_PINS[3]).drive_high()
    run_until(panel, lambda: panel.model.screen == m.REASONS, what="the reasons screen")
    tap(panel, "reason:0")
    shot(panel, artifacts, "reasons")
    tap(panel, "send")
    run_until(panel, lambda: panel.model.screen == m.THANKS, what="the thank-you")
    shot(panel, artifacts, "thanks")
    ratings = db_ratings(server)
    assert [(r.score, r.reasons, r.source) for r in ratings] == [(1, ["Chờ lâu"], "panel")]
    assert ratings[0].officer_id is not None and ratings[0].counter_id is not None
    run_until(panel, lambda: panel.model.screen == m.SERVING, timeout=10, what="back to serving")
    assert counter_state(server, kiosk)["ticket"]["number"] == "2002"

    # SKIP, then PAUSE toggles, and a long PAUSE closes the counter
    press(factory, "skip")
    run_until(panel, lambda: "vắng mặt" in panel.model.feedback.text, what="the skip")
    press(factory, "pause", bouncy=True)
    run_until(panel, lambda: panel.model.screen == m.PAUSED, what="the pause")
    assert counter_state(server, kiosk)["status"] == "paused"
    press(factory, "next")
    run_until(panel, lambda: panel.model.feedback.error, what="the refusal")
    assert panel.model.feedback.text == "Quầy đang tạm dừng. Hãy tiếp tục trước."
    shot(panel, artifacts, "paused_refused")
    press(factory, "pause")
    run_until(panel, lambda: panel.model.screen == m.IDLE, what="the resume")
    assert counter_state(server, kiosk)["status"] == "open"
    press(factory, "pause", hold_s=0.6)
    run_until(panel, lambda: panel.model.screen == m.CLOSED, what="the close")
    c = counter_state(server, kiosk)
    assert c["status"] == "closed" and c["officer"] is None

    # the server goes away and comes back: the panel says so, then resyncs
    server.kill()
    run_until(panel, lambda: panel.model.screen == m.OFFLINE, what="offline")
    assert panel.keypad.status == "offline"
    shot(panel, artifacts, "offline")
    # The refusal below shows for FEEDBACK_S (8 s); the server's restart and the client's back-off
    # (up to 5 s) can take longer on a loaded machine, so the panel's clock is held until it is back.
    panel_clock.hold()
    press(factory, "next")
    run_until(panel, lambda: panel.model.feedback.error, what="the refusal to send offline")
    assert "kết nối" in panel.model.feedback.text
    assert panel.keypad.status == "offline"  # steady red while offline, whatever else shows
    refused_at = time.monotonic()
    server.start()
    run_until(panel, lambda: panel.model.screen == m.CLOSED, timeout=30, what="back online")
    print(f"from the refusal to back online: {time.monotonic() - refused_at:.1f} s (the refusal shows "
          f"{m.FEEDBACK_S:.0f} s)")
    assert panel.keypad.status == "error"  # red blinking while the refusal shows ...
    panel_clock.release(advance_s=m.FEEDBACK_S)
    run_until(panel, lambda: panel.keypad.status == "closed", timeout=5, what="the refusal's end")
    assert panel.model.feedback is None  # ... then off (closed)


def sign_in_by_touch(panel: CounterPanel, username: str = "staff1", pin: str = "1111") -> None:
    tap(panel, "signin:open")
    for ch in username:
        tap(panel, f"key:{ch}")
    tap(panel, "focus:pin")
    for ch in pin:
        tap(panel, f"key:{ch}")
    tap(panel, "signin:submit")


def targets(panel: CounterPanel) -> set[str]:
    return {s.target for s in panel.hotspots}


def test_a_touch_only_panel_serves_by_touch_and_the_citizens_screens_show_no_officer_button(
        server, panel_for, artifacts):
    kiosk = server.add_device("kiosk", "Kiosk")
    server.add_user("staff1", "staff", full_name="Nguyễn Thị Lan", pin="1111")
    for _ in range(3):
        assert server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
    panel = panel_for(server, keypad=False)  # no keypad at all: the officer has only the touch screen
    assert panel.model.officer_touch
    run_until(panel, lambda: panel.model.screen == m.CLOSED, what="the closed counter")
    assert not {t for t in targets(panel) if t.startswith("officer:")}  # nobody signed in: nothing to press
    sign_in_by_touch(panel)
    run_until(panel, lambda: "officer:next" in targets(panel), what="the officer's strip")
    assert {t for t in targets(panel) if t.startswith("officer:")} == {"officer:next", "officer:pause"}
    shot(panel, artifacts, "touch_idle")

    tap(panel, "officer:next")
    run_until(panel, lambda: panel.model.screen == m.SERVING, what="the call")
    assert counter_state(server, kiosk)["ticket"]["number"] == "2001"
    run_until(panel, lambda: "officer:recall" in targets(panel), what="the serving strip")
    shot(panel, artifacts, "touch_serving")
    tap(panel, "officer:recall")
    run_until(panel, lambda: panel.model.feedback and panel.model.feedback.text == "Đã gọi lại số 2001",
              what="the recall")

    tap(panel, "officer:complete")
    run_until(panel, lambda: panel.model.screen == m.RATING, what="the rating screen")
    assert counter_state(server, kiosk)["ticket"] is None
    assert not {t for t in targets(panel) if t.startswith("officer:")}
    shot(panel, artifacts, "touch_rating")
    tap(panel, "level:4")
    run_until(panel, lambda: panel.model.screen == m.THANKS, what="the thank-you")
    assert not {t for t in targets(panel) if t.startswith("officer:")}
    assert [(r.score, r.source) for r in db_ratings(server)] == [(4, "panel")]
    run_until(panel, lambda: panel.model.screen == m.IDLE, timeout=15, what="back to the officer's screen")

    tap(panel, "officer:next")
    run_until(panel, lambda: (panel.model.counter.get("ticket") or {}).get("number") == "2002", what="2002")
    tap(panel, "officer:skip")
    run_until(panel, lambda: panel.model.feedback and "vắng mặt" in panel.model.feedback.text, what="the skip")
    tap(panel, "officer:pause")
    run_until(panel, lambda: panel.model.screen == m.PAUSED, what="the pause")
    assert counter_state(server, kiosk)["status"] == "paused"
    assert {t for t in targets(panel) if t.startswith("officer:")} == {"officer:pause"}  # "Tiếp tục"
    shot(panel, artifacts, "touch_paused")
    tap(panel, "officer:pause")
    run_until(panel, lambda: panel.model.screen in (m.IDLE, m.SERVING), what="the resume")
    assert counter_state(server, kiosk)["status"] == "open"


def test_rating_rules_are_the_servers(server, panel_for, factory):
    kiosk = server.add_device("kiosk", "Kiosk")
    other_panel = server.add_device("counter", "Bảng quầy 3", counter=3)
    server.add_user("staff1", "staff", full_name="Nguyễn Thị Lan", pin="1111")
    assert server.post("/api/v1/tickets", kiosk, {"field": "dat-dai"}).status_code == 201
    server.seat_officers()  # someone is signed in at each counter (a counter without one cannot call)
    panel = panel_for(server)
    run_until(panel, lambda: panel.model.screen == m.CLOSED, what="the panel")
    token = panel.client.token
    sign_in_by_touch(panel)  # a counter calls only with an officer signed in
    run_until(panel, lambda: panel.model.officer_present, what="the sign-in")
    press(factory, "next")
    run_until(panel, lambda: panel.model.screen == m.SERVING, what="the call")
    ticket_id = panel.model.counter["ticket"]["id"]
    rate = f"/api/v1/tickets/{ticket_id}/rating"
    assert server.post(rate, token, {"score": 4}).json()["error"]["code"] == "not_served"
    press(factory, "complete")
    run_until(panel, lambda: panel.model.screen == m.RATING, what="the rating screen")

    r = server.post(rate, other_panel, {"score": 4})
    assert r.status_code == 403  # only the counter that served it
    r = server.post(rate, token, {"score": 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "reason_required"
    assert "lý do" in r.json()["error"]["message"]  # Vietnamese by default
    r = server.post(rate, token, {"score": 9})
    assert r.json()["error"]["code"] == "invalid_score"
    factory.pin(RATING_PINS[0]).drive_low()  # the citizen presses the best level
    factory.pin(RATING_PINS[0]).drive_high()
    run_until(panel, lambda: panel.model.screen == m.THANKS, what="the thank-you")
    r = server.post(rate, token, {"score": 2})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_rated"
    assert [x.score for x in db_ratings(server)] == [4]

    from layso.server.storage.database import Database
    db = Database(server.db_url)
    try:
        with pytest.raises(sqlalchemy.exc.DatabaseError):
            with db.write() as s:
                s.execute(sqlalchemy.text("UPDATE ratings SET score = 1"))
    finally:
        db.dispose()
    assert [x.score for x in db_ratings(server)] == [4]


def test_the_rating_window_closes(tmp_path, panel_for, factory):
    data = small_config_data()
    data["rating"]["panel_window_s"] = 5
    server = start_server(tmp_path, config=data)
    try:
        kiosk = server.add_device("kiosk", "Kiosk")
        server.add_user("staff1", "staff", pin="1111")
        server.post("/api/v1/tickets", kiosk, {"field": "bhxh"})
        server.seat_officers()  # someone is signed in at each counter (a counter without one cannot call)
        panel = panel_for(server)
        run_until(panel, lambda: panel.model.screen == m.CLOSED, what="the panel")
        sign_in_by_touch(panel)
        run_until(panel, lambda: panel.model.officer_present, what="the sign-in")
        press(factory, "next")
        run_until(panel, lambda: panel.model.screen == m.SERVING, what="the call")
        ticket_id = panel.model.counter["ticket"]["id"]
        press(factory, "complete")
        run_until(panel, lambda: panel.model.screen == m.RATING, what="the rating screen")
        run_until(panel, lambda: panel.model.screen == m.IDLE, timeout=10, what="the window's end")
        time.sleep(2.5)
        r = server.post(f"/api/v1/tickets/{ticket_id}/rating", panel.client.token, {"score": 4})
        assert r.status_code == 409 and r.json()["error"]["code"] == "window_over"
    finally:
        server.stop()


def test_the_counter_program_keeps_a_screenshot(server, tmp_path, artifacts):
    token_file = tmp_path / "token"
    token_file.write_text(server.add_device("counter", "Bảng quầy 1", counter=1) + "\n")
    shot = tmp_path / "shots" / "counter.png"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen([sys.executable, "-m", "layso.cli", "counter", "--server", server.url, "--token-file",
                             str(token_file), "--size", "800x480", "--screenshot", str(shot)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        image = None
        while time.monotonic() < deadline and proc.poll() is None:
            if shot.exists():
                image = pygame.image.load(str(shot))
                # the closed screen's amber title, once connected
                if any(image.get_at((x, 140))[:3] == (245, 166, 35) for x in range(200, 600, 2)):
                    break
            time.sleep(0.3)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert image is not None and image.get_size() == (800, 480)
        assert any(image.get_at((x, 140))[:3] == (245, 166, 35) for x in range(200, 600, 2))
        pygame.image.save(image, str(artifacts / "counter_panel_program.png"))
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0, "SIGTERM (systemd's stop) ends the program cleanly"
    # once the program has stopped (a write may be under way while it runs): no temporary file left
    assert [p.name for p in shot.parent.iterdir()] == ["counter.png"]
