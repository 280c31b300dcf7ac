"""The counter panel program: one frame loop that drains the client's inbox, the keypad, touches and
the request worker's outcomes into the state machine, draws the screen and sets the LEDs.

Nothing in the loop waits on the network: commands and ratings go through `RequestWorker`.

The officer's actions come from, in any combination:
- a GPIO keypad (`layso.hardware.buttons`, `--keypad FILE`);
- a USB numeric keypad (any keyboard works): USB_KEYPAD below — 1 or Enter next, 2 recall, 3 skip,
  4 complete, 5 pause or resume, 0 held with 5 (or Shift+P) close the counter; letters for a desk test:
  N next, R recall, S skip, C complete, P pause or resume, Shift+P close;
- the officer's strip of touch buttons, shown when the officer has no GPIO keys (`officer_touch`).
The citizen rates on the touch screen (or GPIO rating buttons; the number row's 1–5 on a keyboard,
best first, for a desk test).
"""
from __future__ import annotations

import logging
import queue
import time
from pathlib import Path
from typing import Callable

import pygame

from layso.screenshot import ScreenshotWriter
from layso.client import DeviceClient
from layso.hardware.buttons import Keypad, NullKeypad, Press

from .model import SIGN_IN, PanelModel, Request
from .view import PanelView
from .worker import RequestWorker

log = logging.getLogger("layso.counter_panel")

FPS = 20
KEYBOARD = {pygame.K_n: "next", pygame.K_r: "recall", pygame.K_s: "skip", pygame.K_c: "complete",
            pygame.K_p: "pause"}
# A USB numeric keypad at the officer's hand (its keys are the keypad's own codes, not the number row's).
USB_KEYPAD = {pygame.K_KP1: "next", pygame.K_KP_ENTER: "next", pygame.K_KP2: "recall", pygame.K_KP3: "skip",
              pygame.K_KP4: "complete", pygame.K_KP5: "pause"}
RATING_KEYS = {pygame.K_1: 0, pygame.K_2: 1, pygame.K_3: 2, pygame.K_4: 3, pygame.K_5: 4}


class CounterPanel:
    def __init__(self, client: DeviceClient, keypad: Keypad | None = None, size: tuple[int, int] = (800, 480),
                 screenshot: str | Path | None = None, fullscreen: bool = False,
                 clock: Callable[[], float] = time.monotonic, officer_touch: bool | None = None):
        """`officer_touch`: show the officer's strip of touch buttons; None decides from the keypad
        (shown unless the keypad has the officer's keys)."""
        pygame.display.init()
        pygame.display.set_caption("layso — quầy")
        flags = pygame.FULLSCREEN if fullscreen else 0
        self.surface = pygame.display.set_mode((0, 0) if fullscreen else size, flags)
        if fullscreen:
            pygame.mouse.set_visible(False)
        self.client = client
        self.keypad = keypad or NullKeypad()
        if officer_touch is None:
            officer_touch = not self.keypad.has_officer_keys
        self.model = PanelModel(clock, officer_touch=officer_touch)
        self.view = PanelView(self.surface.get_size())
        self.worker = RequestWorker(client)
        self.presses: "queue.Queue[Press]" = queue.Queue()
        self.screenshots = ScreenshotWriter(screenshot, clock=clock) if screenshot else None
        self.hotspots: list = []
        self.running = True

    def start(self) -> "CounterPanel":
        self.keypad.start(self.presses.put)
        self.worker.start()
        self.client.start()
        return self

    # ---- one frame ---------------------------------------------------------------------------
    def step(self) -> bool:
        """Process everything that arrived, then draw one frame; False once asked to quit."""
        self._drain_inbox()
        self._drain_outcomes()
        self._drain_presses()
        self._handle_pygame_events()
        self.model.tick()
        self.keypad.show(self.model.led_status)
        self.hotspots = self.view.draw(self.surface, self.model)
        self.model.frame_drawn()
        pygame.display.flip()
        if self.screenshots is not None:
            self.screenshots.offer(self.surface)
        return self.running

    def run(self) -> None:
        from layso import systemd
        ticker = pygame.time.Clock()
        watchdog = systemd.Watchdog()  # systemd restarts a panel whose frame loop stops turning
        systemd.notify("READY=1")
        while self.step():
            watchdog.tick()
            ticker.tick(FPS)

    def close(self) -> None:
        self.keypad.close()
        self.client.close()
        self.worker.close()
        if self.screenshots is not None:
            self.screenshots.close()
        pygame.display.quit()

    # ---- inputs ------------------------------------------------------------------------------
    def _send(self, request: Request | None) -> None:
        if request is not None:
            self.worker.submit(request)

    def _drain_inbox(self) -> None:
        while True:
            try:
                kind, payload = self.client.inbox.get_nowait()
            except queue.Empty:
                return
            self.model.on_message(kind, payload)

    def _drain_outcomes(self) -> None:
        while True:
            try:
                outcome = self.worker.outcomes.get_nowait()
            except queue.Empty:
                return
            self.model.on_outcome(outcome)

    def _drain_presses(self) -> None:
        while True:
            try:
                press = self.presses.get_nowait()
            except queue.Empty:
                return
            self._send(self.model.on_press(press))

    def tap(self, pos: tuple[int, int]) -> None:
        """A touch (or click) at `pos` in window pixels."""
        for spot in reversed(self.hotspots):
            if spot.rect.collidepoint(pos):
                self._send(self.model.on_tap(spot.target))
                return

    def _handle_pygame_events(self) -> None:
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.running = False
            elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
                self.tap(event.pos)
            elif event.type == pygame.FINGERUP:
                w, h = self.surface.get_size()
                self.tap((int(event.x * w), int(event.y * h)))
            elif event.type == pygame.KEYDOWN:
                self._key(event)

    def _key(self, event) -> None:
        if self.model.screen == SIGN_IN:
            if event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                self._send(self.model.submit_sign_in())
            elif event.key == pygame.K_BACKSPACE:
                self.model.on_tap("erase:")
            elif event.key == pygame.K_TAB:
                self.model.on_tap("focus:" + ("pin" if self.model.sign_in.focus == "username" else "username"))
            elif event.key == pygame.K_ESCAPE:
                self.model.on_tap("signin:cancel")
            elif event.unicode:
                self.model.type_text(event.unicode)
            return
        if event.key in USB_KEYPAD:
            long = event.key == pygame.K_KP5 and bool(pygame.key.get_pressed()[pygame.K_KP0])
            self._send(self.model.on_press(Press(USB_KEYPAD[event.key], long=long)))
        elif event.key in KEYBOARD:
            long = event.key == pygame.K_p and bool(event.mod & pygame.KMOD_SHIFT)
            self._send(self.model.on_press(Press(KEYBOARD[event.key], long=long)))
        elif event.key in RATING_KEYS:
            self._send(self.model.on_press(Press("rating", index=RATING_KEYS[event.key])))
