"""The lobby display program: a pygame frame loop over the board state machine.

Each `tick()` drains the device client's inbox into the board, hands new calls to the announcer
(which speaks on its own thread: the screen never waits for speech), redraws what changed and
updates the screenshot. Network, speech and PNG encoding all run on other threads.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import time
from collections import deque
from typing import Callable

import pygame

from layso.display import texts
from layso.display.board import Announcement, Board
from layso.display.screens import BoardScreen
from layso.screenshot import ScreenshotWriter
from layso.voice import make_voice
from layso.hardware.audio import Announcer

log = logging.getLogger("layso.display")

FPS = 30
MAX_ITEMS_PER_FRAME = 500


def open_window(size: tuple[int, int] | None, fullscreen: bool) -> pygame.Surface:
    pygame.display.init()
    pygame.display.set_caption(texts.WINDOW_TITLE)
    if fullscreen:
        surface = pygame.display.set_mode(size or (0, 0), pygame.FULLSCREEN)
        pygame.mouse.set_visible(False)
    else:
        surface = pygame.display.set_mode(size or (1920, 1080))
    pygame.event.set_allowed(None)
    pygame.event.set_allowed([pygame.QUIT, pygame.KEYDOWN, pygame.WINDOWEXPOSED])
    return surface


class Speaker:
    """The announcer, with a voice kept at the centre's configured speed."""

    def __init__(self, announcer: Announcer, voice_spec: str | None):
        self.announcer = announcer
        self.voice_spec = voice_spec
        self.speed: int | None = None

    def use_speed(self, speed: int) -> None:
        if self.voice_spec is None or speed == self.speed:
            return
        try:
            self.announcer.voice = make_voice(self.voice_spec, speed=speed)
            self.speed = speed
        except ValueError as err:
            log.error("voice %s unusable: %s", self.voice_spec, err)

    def say(self, a: Announcement) -> None:
        self.announcer.announce(a.text, repeat=a.repeat, recall=a.recall)

    def close(self) -> None:
        self.announcer.close()


class DisplayApp:
    def __init__(self, inbox: "queue.Queue[tuple[str, object]]", surface: pygame.Surface,
                 speaker: Speaker | None = None, screenshot: str | os.PathLike | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.inbox = inbox
        self.surface = surface
        self.speaker = speaker
        self.clock = clock
        self.board = Board(clock=clock)
        self.screen = BoardScreen(surface.get_size())
        self.screenshots = ScreenshotWriter(screenshot, clock=clock) if screenshot else None
        self.spoken: deque[Announcement] = deque(maxlen=100)  # the latest announcements, in order
        self.running = True

    def tick(self) -> list[pygame.Rect]:
        """One frame: apply what arrived, announce new calls, redraw what changed."""
        for _ in range(MAX_ITEMS_PER_FRAME):
            try:
                kind, item = self.inbox.get_nowait()
            except queue.Empty:
                break
            for announcement in self.board.apply(kind, item):
                self.spoken.append(announcement)
                if self.speaker is not None:
                    self.speaker.say(announcement)
            if kind == "state" and self.speaker is not None:
                self.speaker.use_speed(self.board.voice.speed)
        exposed = False
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                self.running = False
            exposed = exposed or event.type == pygame.WINDOWEXPOSED
        changed = self.screen.draw(self.surface, self.board, self.clock())
        if exposed:  # the window was covered or restored: show the whole frame again
            pygame.display.flip()
        if changed:
            pygame.display.update(changed)
            if self.screenshots is not None:
                self.screenshots.offer(self.surface)
        return changed

    def run(self, fps: int = FPS) -> None:
        from layso import systemd
        frames = pygame.time.Clock()
        watchdog = systemd.Watchdog()  # systemd restarts a display whose frame loop stops turning
        systemd.notify("READY=1")
        while self.running:
            self.tick()
            watchdog.tick()
            frames.tick(fps)

    def stop(self, *_args) -> None:
        self.running = False

    def close(self) -> None:
        if self.screenshots is not None:
            self.screenshots.close()
        if self.speaker is not None:
            self.speaker.close()


def run_display(server: str, token: str, size: tuple[int, int] | None = None, fullscreen: bool = False,
                voice: str = "espeak", screenshot: str | None = None) -> int:
    """`layso display`: connect, show and announce until interrupted."""
    from layso.client import DeviceClient
    from layso.hardware.audio import PygameMixerAudio

    # "off" keeps the chime (OffVoice renders nothing); a bad clip pack fails here, before the window opens
    speaker = Speaker(Announcer(make_voice(voice), PygameMixerAudio()), None if voice == "off" else voice)
    surface = open_window(size, fullscreen)
    client = DeviceClient(server, token).start()
    app = DisplayApp(client.inbox, surface, speaker, screenshot)
    signal.signal(signal.SIGTERM, app.stop)
    signal.signal(signal.SIGINT, app.stop)
    log.info("display on %s (%dx%d), voice %s", server, *surface.get_size(), voice)
    try:
        app.run()
    finally:
        client.close()
        app.close()
        pygame.quit()
    return 0


__all__ = ["DisplayApp", "Speaker", "run_display", "open_window"]
