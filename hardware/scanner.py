"""Readers of the booking's QR at the kiosk, chosen by the kiosk's ``--scanner`` option.

Public API::

    open_scanner(spec: str) -> Scanner | None   # ValueError on a bad spec; never opens a device
    scanner.start() / scanner.close()           # a thread reads the device (camera backends)
    scanner.poll() -> str | None                # the next line read (a QR's text), at most one a call
    scanner.fault -> str | None                 # why the device cannot be read now (None: it can)

Specs::

    keyboard               (the default) a USB or serial barcode scanner acting as a keyboard: it
                           "types" the QR and presses Enter; the kiosk reads those key presses
                           itself (kiosk/checkin.ScanReader), so open_scanner returns None
    camera[:DEVICE]        a camera, read with OpenCV (the optional extra ``layso[camera]``:
                           opencv-python-headless); DEVICE is an index ("0", the default) or a path
                           ("/dev/video0"); ``?fps=N`` frames read a second (default 10),
                           ``?hold=S`` seconds a code must be out of sight before it is read again
                           (default 3), ``?retry=S`` seconds between tries to open the camera (3)
    mock:                  MockScanner: tests push lines with .feed(text)

A camera that is missing, unplugged or busy is a fault that is logged (once per change) and retried
every ``retry`` seconds, never a crash: a camera plugged in later, or back after a glitch, is read
again by itself. A QR held in front of the camera is read once, not once a frame.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol
from urllib.parse import parse_qs

log = logging.getLogger("layso.scanner")


class CameraUnavailable(Exception):
    """The camera cannot be opened or read; `str(err)` says why."""


class FrameSource(Protocol):
    def read(self):
        """The next frame (an image array), or None when the device stopped answering."""

    def close(self) -> None: ...


def decode_qr(frame) -> str | None:
    """The text of a QR code in `frame` (BGR or grey image array), or None when there is none."""
    import cv2
    if frame is None or getattr(frame, "size", 0) == 0:
        return None
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    try:
        text, _points, _straight = _detector().detectAndDecode(grey)
    except cv2.error:
        return None
    return text or None


_local = threading.local()


def _detector():
    import cv2
    if not hasattr(_local, "detector"):
        _local.detector = cv2.QRCodeDetector()
    return _local.detector


class OpenCVCamera:
    """A camera through OpenCV's VideoCapture (V4L2 on a Raspberry Pi or a mini-PC)."""

    def __init__(self, device: int | str):
        try:
            import cv2
        except ImportError:
            raise CameraUnavailable("OpenCV is not installed (pip install 'layso[camera]')") from None
        self.device = device
        self.cap = cv2.VideoCapture(device)
        if not self.cap.isOpened():
            self.cap.release()
            raise CameraUnavailable(f"no camera at {device}")

    def read(self):
        ok, frame = self.cap.read()
        return frame if ok else None

    def close(self) -> None:
        self.cap.release()


@dataclass
class CameraSettings:
    fps: float = 10.0
    hold_s: float = 3.0
    retry_s: float = 3.0


class CameraScanner:
    """Reads QR codes from frames of a camera on a thread of its own; `step()` is one round of it
    (tests drive it frame by frame with their own clock and frame source)."""

    def __init__(self, open_source: Callable[[], FrameSource], settings: CameraSettings = CameraSettings(),
                 decode: Callable = decode_qr, clock: Callable[[], float] = time.monotonic, name: str = "camera"):
        self.open_source = open_source
        self.settings = settings
        self.decode = decode
        self.clock = clock
        self.name = name
        self.fault: str | None = None
        self._source: FrameSource | None = None
        self._next_try = float("-inf")
        self._last_text: str | None = None
        self._last_seen = float("-inf")
        self._lines: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "CameraScanner":
        self._thread = threading.Thread(target=self._run, name="layso-camera", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._release()

    def poll(self) -> str | None:
        try:
            return self._lines.get_nowait()
        except queue.Empty:
            return None

    def _run(self) -> None:
        period = 1.0 / self.settings.fps
        while not self._stop.is_set():
            started = self.clock()
            try:
                self.step()
            except Exception:  # noqa: BLE001 - a reader's bug must not end check-in by camera for good
                log.exception("%s: reading failed", self.name)
                self._release()
            self._stop.wait(max(0.0, period - (self.clock() - started)) if self._source else self.settings.retry_s)

    def step(self) -> str | None:
        """Open the camera if needed (at most every `retry_s`), read one frame, decode it; the line
        queued for `poll` (None when nothing new was read)."""
        now = self.clock()
        if self._source is None:
            if now < self._next_try:
                return None
            self._next_try = now + self.settings.retry_s
            try:
                self._source = self.open_source()
            except CameraUnavailable as err:
                return self._set_fault(f"{self.name}: {err}")
            except Exception as err:  # noqa: BLE001 - whatever the driver raises, try again later
                return self._set_fault(f"{self.name}: cannot be opened ({type(err).__name__}: {err})")
            self._set_fault(None)
        frame = self._source.read()
        if frame is None:
            self._release()
            self._next_try = now + self.settings.retry_s
            return self._set_fault(f"{self.name}: stopped sending pictures (unplugged?)")
        return self._seen(self.decode(frame), now)

    def _seen(self, text: str | None, now: float) -> str | None:
        if text is None:
            return None
        fresh = text != self._last_text or now - self._last_seen > self.settings.hold_s
        self._last_text, self._last_seen = text, now
        if not fresh:
            return None  # the same code still held in front of the camera
        self._lines.put(text)
        return text

    def _set_fault(self, fault: str | None) -> None:
        if fault != self.fault:
            if fault is None:
                log.info("%s: reading again", self.name)
            else:
                log.error("%s — retrying every %g s", fault, self.settings.retry_s)
            self.fault = fault
        return None

    def _release(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception:  # noqa: BLE001
                pass


class MockScanner:
    """Lines pushed by a test come out of `poll` in order."""

    fault = None

    def __init__(self):
        self._lines: queue.Queue[str] = queue.Queue()

    def feed(self, text: str) -> None:
        self._lines.put(text)

    def poll(self) -> str | None:
        try:
            return self._lines.get_nowait()
        except queue.Empty:
            return None

    def start(self) -> "MockScanner":
        return self

    def close(self) -> None:
        pass


def _device(text: str) -> int | str:
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    if text.startswith("/dev/"):
        return text
    raise ValueError(f"camera device must be an index or a /dev path, not {text!r}")


def _camera_settings(query: str) -> CameraSettings:
    opts = {k: v[-1] for k, v in parse_qs(query, strict_parsing=bool(query)).items()}
    unknown = set(opts) - {"fps", "hold", "retry"}
    if unknown:
        raise ValueError(f"unknown camera option(s): {', '.join(sorted(unknown))}")
    try:
        s = CameraSettings(float(opts.get("fps", 10)), float(opts.get("hold", 3)), float(opts.get("retry", 3)))
    except ValueError:
        raise ValueError("camera options fps, hold and retry are numbers") from None
    if not (0 < s.fps <= 60 and 0 <= s.hold_s <= 600 and 0.1 <= s.retry_s <= 600):
        raise ValueError("camera options: 0 < fps ≤ 60, 0 ≤ hold ≤ 600, 0.1 ≤ retry ≤ 600")
    return s


def open_scanner(spec: str | None):
    """The reader for a ``--scanner`` spec (None: the keyboard scanner the kiosk reads itself)."""
    spec = (spec or "keyboard").strip()
    base, _, query = spec.partition("?")
    kind, _, arg = base.partition(":")
    if kind == "keyboard" and not arg and not query:
        return None
    if kind == "mock" and not arg and not query:
        return MockScanner()
    if kind == "camera":
        device, settings = _device(arg), _camera_settings(query)
        return CameraScanner(lambda: OpenCVCamera(device), settings, name=f"camera {device}")
    raise ValueError(f"--scanner must be keyboard, camera[:DEVICE][?fps=N&hold=S&retry=S] or mock:, not {spec!r}")
