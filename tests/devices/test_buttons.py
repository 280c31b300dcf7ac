"""The counter keypad and LEDs on gpiozero's MockFactory: presses, bounce, long press, LED states.

Debouncing runs on a test clock (`Clock`), so a loaded machine that pauses the test between two edges
cannot turn a bounce into a second press; only the long press and the LEDs' blinking use real time,
and the tests wait for them by condition."""
from __future__ import annotations

import threading
import time

import pytest
from conftest import wait_for
from layso.hardware.buttons import (
    Debouncer,
    GpioKeypad,
    KeypadConfig,
    KeypadError,
    NullKeypad,
    Press,
    make_keypad,
)

PINS = {"next": 5, "recall": 6, "skip": 13, "complete": 19, "pause": 26}
LED_PINS = {"green": 16, "amber": 20, "red": 21}


def config(**changes) -> KeypadConfig:
    return KeypadConfig.model_validate({"keys": PINS, "leds": LED_PINS, "rating": [17, 27, 22, 23],
                                        "bounce_s": 0.05, "hold_s": 0.3, **changes})


class Clock:
    """The debouncer's clock, moved by the test."""

    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def keypad_on(factory, clock: Clock, **changes) -> GpioKeypad:
    return GpioKeypad(config(**changes), pin_factory=factory, clock=clock)


class Recorder:
    def __init__(self):
        self.presses: list[Press] = []
        self.event = threading.Event()

    def __call__(self, press: Press) -> None:
        self.presses.append(press)
        self.event.set()


def press(factory, pin: int) -> None:
    p = factory.pin(pin)
    p.drive_low()
    p.drive_high()


def bounce(factory, pin: int, toggles: int = 5) -> None:
    """Contacts chattering: several closes and opens within a few microseconds, then closed."""
    p = factory.pin(pin)
    for _ in range(toggles):
        p.drive_low()
        p.drive_high()
    p.drive_low()


def test_debouncer_counts_a_press_only_after_quiet():
    t = [0.0]
    d = Debouncer(0.05, clock=lambda: t[0])
    assert d.edge(True)
    t[0] = 0.002
    assert not d.edge(False)
    t[0] = 0.004
    assert not d.edge(True)  # bounce
    t[0] = 0.5
    assert not d.edge(False)  # the release
    t[0] = 0.503
    assert not d.edge(True)  # bounce on release
    t[0] = 1.0
    assert d.edge(True)


def test_each_key_reports_its_press(factory):
    rec = Recorder()
    made = make_keypad(config(), pin_factory=factory)
    assert isinstance(made, GpioKeypad)
    made.close()
    clock = Clock()
    keypad = keypad_on(factory, clock)
    keypad.start(rec)
    for key, pin in PINS.items():
        press(factory, pin)
        clock.advance(0.06)
    assert [p.key for p in rec.presses] == list(PINS)
    press(factory, 27)
    assert rec.presses[-1] == Press("rating", index=1)
    keypad.close()


def test_a_bouncing_button_reports_one_press(factory):
    rec = Recorder()
    clock = Clock()
    keypad = keypad_on(factory, clock)
    keypad.start(rec)
    bounce(factory, PINS["next"], toggles=6)
    factory.pin(PINS["next"]).drive_high()
    clock.advance(0.01)
    bounce(factory, PINS["next"], toggles=3)  # bouncing on release too: still inside the quiet time
    factory.pin(PINS["next"]).drive_high()
    assert rec.presses == [Press("next")]
    clock.advance(0.08)
    press(factory, PINS["next"])
    assert rec.presses == [Press("next"), Press("next")]  # a later, clean press counts
    keypad.close()


def test_holding_pause_also_sends_a_long_press(factory):
    rec = Recorder()
    clock = Clock()
    keypad = keypad_on(factory, clock, hold_s=1.0)  # real time: a quick press is far from a hold
    keypad.start(rec)
    press(factory, PINS["pause"])
    assert rec.presses == [Press("pause")]
    clock.advance(0.06)
    factory.pin(PINS["pause"]).drive_low()
    assert wait_for(lambda: len(rec.presses) >= 3)
    factory.pin(PINS["pause"]).drive_high()
    assert rec.presses == [Press("pause"), Press("pause"), Press("pause", long=True)]
    rec.presses.clear()
    clock.advance(0.06)
    factory.pin(PINS["next"]).drive_low()  # other keys have no long press, however long they are held
    time.sleep(1.3)
    factory.pin(PINS["next"]).drive_high()
    assert rec.presses == [Press("next")]
    keypad.close()


def test_leds_show_the_status(factory):
    keypad = make_keypad(config(), pin_factory=factory)
    pins = {name: factory.pin(pin) for name, pin in LED_PINS.items()}

    def lit() -> set[str]:
        return {name for name, p in pins.items() if p.state}

    keypad.show("ready")
    assert lit() == {"green"}
    keypad.show("paused")
    assert lit() == {"amber"}
    keypad.show("offline")
    assert lit() == {"red"}
    keypad.show("closed")
    assert lit() == set()
    before = len(pins["red"].states)
    keypad.show("error")
    assert wait_for(lambda: len(pins["red"].states) >= before + 4)  # blinking: on, off, on, off …
    assert {s.state for s in pins["red"].states[before:]} == {True, False}
    assert not pins["green"].state
    with pytest.raises(ValueError):
        keypad.show("disco")
    keypad.close()


def test_a_handler_error_does_not_break_the_keypad(factory):
    calls = []

    def flaky(p: Press) -> None:
        calls.append(p)
        raise RuntimeError("boom")

    clock = Clock()
    keypad = keypad_on(factory, clock)
    keypad.start(flaky)
    press(factory, PINS["skip"])
    clock.advance(0.06)
    press(factory, PINS["skip"])
    assert len(calls) == 2
    keypad.close()


def test_configuration_from_toml(tmp_path, factory):
    path = tmp_path / "keypad.toml"
    path.write_text('bounce_s = 0.02\nhold_s = 2\n[keys]\nnext = 5\npause = "GPIO26"\n[leds]\ngreen = 16\n')
    cfg = KeypadConfig.load(path)
    assert cfg.keys == {"next": 5, "pause": "GPIO26"} and cfg.hold_s == 2
    keypad = make_keypad(cfg, pin_factory=factory)
    assert isinstance(keypad, GpioKeypad)
    keypad.close()
    assert isinstance(make_keypad(None), NullKeypad)
    assert isinstance(make_keypad(KeypadConfig()), NullKeypad)


@pytest.mark.parametrize("text", [
    '[keys]\nnext = 5\nrecall = 5\n',  # a pin twice
    '[keys]\nhelp = 5\n',  # an unknown key
    'rating = [1, 2]\n',  # too few rating buttons
    'bounce_s = 5\n',
    'not toml',
])
def test_bad_configurations_are_refused(tmp_path, text):
    path = tmp_path / "keypad.toml"
    path.write_text(text)
    with pytest.raises(KeypadError):
        KeypadConfig.load(path)


def test_an_unknown_pin_is_a_keypad_error(factory):
    with pytest.raises(KeypadError):
        GpioKeypad(KeypadConfig(keys={"next": "NOPE99"}), pin_factory=factory)
