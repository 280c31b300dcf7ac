"""`--screenshot PATH`: keep PATH updated with a PNG of the screen, at most once a second.

The frame loop only copies the screen into a buffer (a few milliseconds even at 3840×2160); a
worker thread encodes the PNG straight from that buffer with Pillow, which releases the GIL while
it compresses, and replaces PATH atomically (temporary file in the same folder, then os.replace).
The screen is opaque, so the PNG's alpha is 255 everywhere.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pygame
from PIL import Image

log = logging.getLogger("layso.screenshot")

# bytes in R, G, B, A order, so Pillow encodes the buffer in place (no 25 MB copy at 3840×2160)
MASKS = (0xFF, 0xFF00, 0xFF0000, 0xFF000000) if sys.byteorder == "little" else \
    (0xFF000000, 0xFF0000, 0xFF00, 0xFF)


class ScreenshotWriter:
    def __init__(self, path: str | os.PathLike, every_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.every_s = every_s
        self._clock = clock
        self._buffer: pygame.Surface | None = None
        self._last: float | None = None
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="layso-screenshot", daemon=True)
        self._thread.start()

    def offer(self, screen: pygame.Surface) -> bool:
        """Take a copy of `screen` to write if a second has passed and the last write is done."""
        now = self._clock()
        if (self._last is not None and now - self._last < self.every_s) or not self._idle.is_set():
            return False
        if self._buffer is None or self._buffer.get_size() != screen.get_size():
            self._buffer = pygame.Surface(screen.get_size(), pygame.SRCALPHA, 32, MASKS)
        self._buffer.blit(screen, (0, 0))
        self._last = now
        self._idle.clear()
        self._wake.set()
        return True

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                self._write()
            except Exception:  # a full disk or a bad path must never stop the program
                log.exception("could not write the screenshot %s", self.path)
            finally:
                self._idle.set()

    def _write(self) -> None:
        buf = self._buffer
        assert buf is not None
        image = Image.frombuffer("RGBA", buf.get_size(), buf.get_buffer(), "raw", "RGBA", buf.get_pitch(), 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        image.save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, self.path)
        self.written += 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self._idle.wait(timeout)

    def close(self) -> None:
        self.wait_idle()
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
