"""A counter's keypad and status LEDs behind a small interface, over gpiozero.

Programs depend on `Keypad` (``start(on_press)``, ``show(status)``, ``close()``), never on gpiozero:
``GpioKeypad`` drives real buttons and LEDs through gpiozero (any pin factory, including
``MockFactory`` in tests) and ``NullKeypad`` stands for a panel without buttons (touch only).

Keys and what they mean at the counter:

- ``next``, ``recall``, ``skip``, ``complete``: act when pressed.
- ``pause``: a short press pauses an open counter and resumes a paused one (the panel decides from
  the counter's status); holding it for ``hold_s`` seconds also sends a long press, which the
  panel uses to close the counter at the end of a shift (the short press has paused it already).
- ``rating`` buttons (0 or 3 to 5, listed best first): press i rates with the i-th level of the
  centre's scale, highest score first.

Debouncing: gpiozero's ``bounce_time`` is set on every button (the real pin backends filter in
hardware or in their library), and on top of it a press edge counts only after the button has been
quiet for ``bounce_s`` — mock pins ignore ``bounce_time``, and some backends let a bounce on
release through. So a bouncing button never sends a command twice.

LED status: ``ready`` green · ``busy`` green blinking (a command is on its way) · ``paused`` amber ·
``closed`` all off · ``offline`` red · ``error`` red blinking.
"""
from __future__ import annotations

import logging
import threading
import time
import tomllib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

log = logging.getLogger("layso.buttons")

KEYS = ("next", "recall", "skip", "complete", "pause")
LEDS = ("green", "amber", "red")
STATUSES = ("ready", "busy", "paused", "closed", "offline", "error")

Pin = int | Annotated[str, Field(min_length=1, max_length=20)]


class KeypadError(Exception):
    """The keypad's configuration is wrong or its pins cannot be opened."""


class KeypadConfig(BaseModel):
    """Pins (BCM numbers such as 17, or names such as "GPIO17" / "BOARD11") and timings."""

    model_config = ConfigDict(extra="forbid")

    keys: dict[Literal["next", "recall", "skip", "complete", "pause"], Pin] = Field(default_factory=dict)
    rating: list[Pin] = Field(default_factory=list)  # best level first
    leds: dict[Literal["green", "amber", "red"], Pin] = Field(default_factory=dict)
    bounce_s: Annotated[float, Field(ge=0.005, le=1.0)] = 0.05
    hold_s: Annotated[float, Field(ge=0.2, le=10.0)] = 3.0
    pull_up: bool = True  # buttons connect the pin to ground when pressed

    @field_validator("rating")
    @classmethod
    def _rating_count(cls, v: list) -> list:
        if v and not 3 <= len(v) <= 5:
            raise ValueError("give 3 to 5 rating buttons, or none")
        return v

    @model_validator(mode="after")
    def _distinct_pins(self) -> "KeypadConfig":
        pins = [str(p) for p in self.pins()]
        if len(set(pins)) != len(pins):
            raise ValueError("a pin is used twice")
        return self

    def pins(self) -> list:
        return [*self.keys.values(), *self.rating, *self.leds.values()]

    @classmethod
    def load(cls, path: str | Path) -> "KeypadConfig":
        """Read a TOML file such as::

            bounce_s = 0.05
            hold_s = 3
            rating = [17, 27, 22, 23]   # optional: best level first
            [keys]
            next = 5
            recall = 6
            skip = 13
            complete = 19
            pause = 26
            [leds]
            green = 16
            amber = 20
            red = 21
        """
        try:
            return cls.model_validate(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, ValidationError) as err:
            raise KeypadError(f"keypad configuration {path}: {err}") from None


@dataclass(frozen=True)
class Press:
    """One press of a key: `key` in KEYS or "rating" (then `index`, 0 = best level)."""

    key: str
    long: bool = False
    index: int | None = None


class Debouncer:
    """Counts a press only after `bounce_s` of quiet on that button (any edge resets the quiet)."""

    def __init__(self, bounce_s: float, clock: Callable[[], float] = time.monotonic):
        self.bounce_s = bounce_s
        self._clock = clock
        self._last_edge = float("-inf")
        self._lock = threading.Lock()

    def edge(self, pressed: bool) -> bool:
        """Record an edge; True when it is a press that counts."""
        with self._lock:
            now = self._clock()
            quiet = now - self._last_edge >= self.bounce_s
            self._last_edge = now
            return pressed and quiet


class Keypad(ABC):
    @abstractmethod
    def start(self, on_press: Callable[[Press], None]) -> None:
        """Begin reporting presses; `on_press` may be called from another thread."""

    @abstractmethod
    def show(self, status: str) -> None:
        """Set the status LEDs (one of STATUSES)."""

    @abstractmethod
    def close(self) -> None:
        """Release the pins."""

    @property
    def has_officer_keys(self) -> bool:
        """True when the officer's keys (next, recall, …) are physical buttons here."""
        return False

class NullKeypad(Keypad):
    """No buttons and no LEDs: the panel is used by touch (and a keyboard when one is plugged in)."""

    def __init__(self):
        self.status: str | None = None

    def start(self, on_press: Callable[[Press], None]) -> None:
        pass

    def show(self, status: str) -> None:
        self.status = status

    def close(self) -> None:
        pass


class GpioKeypad(Keypad):
    """Buttons and LEDs on GPIO pins through gpiozero (pass `pin_factory` for mock pins)."""

    def __init__(self, config: KeypadConfig, pin_factory=None, clock: Callable[[], float] = time.monotonic):
        from gpiozero import LED, Button
        from gpiozero.exc import GPIOZeroError

        self.config = config
        self.status: str | None = None
        self._factory = pin_factory
        self._on_press: Callable[[Press], None] | None = None
        self._buttons: list = []
        self._leds: dict[str, object] = {}
        try:
            for key, pin in config.keys.items():
                self._add_button(Button, pin, Press(key), clock,
                                 long_press=Press(key, long=True) if key == "pause" else None)
            for i, pin in enumerate(config.rating):
                self._add_button(Button, pin, Press("rating", index=i), clock)
            for name, pin in config.leds.items():
                self._leds[name] = LED(pin, **self._factory_kw())
        except (GPIOZeroError, ValueError) as err:
            self.close()
            raise KeypadError(f"cannot open the keypad's pins: {err}") from None

    @property
    def has_officer_keys(self) -> bool:
        return bool(self.config.keys)

    def _factory_kw(self) -> dict:
        return {"pin_factory": self._factory} if self._factory is not None else {}

    def _add_button(self, button_cls, pin, press: Press, clock, long_press: Press | None = None) -> None:
        button = button_cls(pin, pull_up=self.config.pull_up, bounce_time=self.config.bounce_s,
                            hold_time=self.config.hold_s, **self._factory_kw())
        debounce = Debouncer(self.config.bounce_s, clock)

        def pressed():
            if debounce.edge(True):
                self._emit(press)

        def released():
            debounce.edge(False)

        button.when_pressed = pressed
        button.when_released = released
        if long_press is not None:
            button.when_held = lambda: self._emit(long_press)
        self._buttons.append(button)

    def _emit(self, press: Press) -> None:
        on_press = self._on_press
        if on_press is None:
            return
        try:
            on_press(press)
        except Exception:  # never let a handler error kill the pin's callback thread
            log.exception("keypad handler failed for %s", press)

    def start(self, on_press: Callable[[Press], None]) -> None:
        self._on_press = on_press

    def show(self, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if status == self.status:
            return
        self.status = status
        on, blink = {"ready": ("green", False), "busy": ("green", True), "paused": ("amber", False),
                     "closed": (None, False), "offline": ("red", False), "error": ("red", True)}[status]
        for name, led in self._leds.items():
            if name != on:
                led.off()
            elif blink:
                led.blink(on_time=0.15, off_time=0.15)
            else:
                led.on()

    def close(self) -> None:
        self._on_press = None
        for device in [*self._buttons, *self._leds.values()]:
            try:
                device.close()
            except Exception:  # closing is best effort
                log.debug("closing %r failed", device, exc_info=True)
        self._buttons.clear()
        self._leds.clear()


def make_keypad(config: KeypadConfig | None, pin_factory=None) -> Keypad:
    """The keypad for a configuration: GPIO when pins are given, else none (touch only)."""
    if config is None or not config.pins():
        return NullKeypad()
    return GpioKeypad(config, pin_factory=pin_factory)


__all__ = ["KEYS", "LEDS", "STATUSES", "Debouncer", "GpioKeypad", "Keypad", "KeypadConfig", "KeypadError",
           "NullKeypad", "Press", "make_keypad"]
