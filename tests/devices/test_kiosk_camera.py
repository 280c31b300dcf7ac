"""Check-in by a camera at the kiosk (hardware/scanner.py), with synthetic frames: the booking's QR
drawn into noisy camera pictures between empty ones, read by OpenCV's QR detector. The camera that
is missing, unplugged and plugged back is a logged fault, never a crash, and is read again by itself.
The last test checks a booking in at the pygame kiosk against a real server through the camera."""
from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import qrcode
from layso.hardware.scanner import (
    CameraScanner,
    CameraSettings,
    CameraUnavailable,
    MockScanner,
    decode_qr,
    open_scanner,
)

pytest.importorskip("cv2")  # the optional extra layso[camera]; ./dev setup installs it

LINK = "http://127.0.0.1:5000/book/T9SdgKDHXCyHcUKHJAp_rSQK?c=ACDEF34"


def qr_frame(text: str, seed: int, size=(480, 640), scale: int = 5, at=(100, 180)) -> np.ndarray:
    """A camera picture (BGR) with the QR of `text` on a sheet in it, sensor noise all over."""
    rng = np.random.default_rng(seed)
    frame = rng.normal(90, 25, (*size, 3)).clip(0, 255).astype(np.uint8)
    qr = qrcode.QRCode(box_size=scale, border=4)
    qr.add_data(text)
    code = np.array(qr.make_image().get_image().convert("L"), dtype=np.uint8)
    h, w = code.shape
    y, x = at
    sheet = np.where(code > 128, 235, 20).astype(np.int16)
    sheet = (sheet + rng.normal(0, 12, sheet.shape)).clip(0, 255).astype(np.uint8)
    frame[y:y + h, x:x + w] = sheet[:, :, None]
    return frame


def empty_frame(seed: int, size=(480, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(90, 25, (*size, 3)).clip(0, 255).astype(np.uint8)


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeCamera:
    """Plays frames in order; None in the list means the device stopped answering."""

    def __init__(self, frames: list):
        self.frames = list(frames)
        self.closed = False

    def read(self):
        return self.frames.pop(0) if self.frames else empty_frame(0)

    def close(self) -> None:
        self.closed = True


def test_the_detector_reads_a_noisy_frame_and_nothing_from_an_empty_one():
    assert decode_qr(qr_frame(LINK, 1)) == LINK
    assert decode_qr(qr_frame(LINK, 2, at=(20, 380))[:, :, 0]) == LINK  # grey, elsewhere in the picture
    assert decode_qr(empty_frame(3)) is None
    assert decode_qr(np.zeros((480, 640, 3), np.uint8)) is None
    assert decode_qr(np.zeros((0, 0, 3), np.uint8)) is None


def test_a_code_held_up_is_read_once_and_again_after_it_was_away():
    clock = FakeClock()
    frames = [empty_frame(i) for i in range(3)] + [qr_frame(LINK, i) for i in range(10, 16)] + \
             [empty_frame(i) for i in range(20, 22)] + [qr_frame(LINK, 30)] + \
             [empty_frame(40)] * 1 + [qr_frame(LINK, 50)] + [qr_frame("other text", 60)]
    cam = FakeCamera(frames)
    scanner = CameraScanner(lambda: cam, CameraSettings(fps=10, hold_s=3.0), clock=clock)
    read = []
    for i in range(len(frames)):
        read.append(scanner.step())
        clock.t += 0.1 if i < 11 else 5.0  # 10 frames a second, then the sheet is away 5 s at a time
    # frames 3–8 hold the code: read once; back at frame 11 after 0.3 s away (a hand's wobble): not
    # again; at frame 13, 10 s later: a new scan; another code: read at once
    assert [(i, r) for i, r in enumerate(read) if r] == [(3, LINK), (13, LINK), (14, "other text")]
    assert [scanner.poll() for _ in range(4)] == [LINK, LINK, "other text", None]
    assert scanner.fault is None


def test_missing_camera_is_a_logged_fault_retried_until_it_comes(caplog):
    clock = FakeClock()
    plugged = {"now": False}
    cams = []

    def open_camera():
        if not plugged["now"]:
            raise CameraUnavailable("no camera at /dev/video0")
        cams.append(FakeCamera([qr_frame(LINK, 1), None, qr_frame(LINK, 2)]))
        return cams[-1]

    scanner = CameraScanner(open_camera, CameraSettings(retry_s=3.0), clock=clock, name="camera /dev/video0")
    with caplog.at_level(logging.INFO, logger="layso.scanner"):
        for _ in range(5):  # missing: one fault logged, tried once per retry period
            assert scanner.step() is None
            clock.t += 1.0
        assert scanner.fault == "camera /dev/video0: no camera at /dev/video0"
        faults = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(faults) == 1 and "retrying every 3 s" in faults[0].getMessage()
        plugged["now"] = True
        clock.t += 3.0
        assert scanner.step() == LINK and scanner.fault is None  # plugged in: read at once
        clock.t += 0.1
        assert scanner.step() is None  # unplugged mid-way: a fault, the device released
        assert cams[0].closed and "stopped sending pictures" in scanner.fault
        clock.t += 1.0
        assert scanner.step() is None and len(cams) == 1  # not before the retry period
        clock.t += 2.5
        scanner.step()  # back by itself: a new camera object, reading again
        assert len(cams) == 2 and scanner.fault is None
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["camera /dev/video0: reading again"] * 2


def test_a_broken_driver_does_not_end_the_thread(caplog):
    calls = {"n": 0}

    def open_camera():
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("VIDIOC_STREAMON: No space left on device")
        return FakeCamera([qr_frame(LINK, 5)])

    scanner = CameraScanner(open_camera, CameraSettings(fps=50, retry_s=0.1)).start()
    try:
        from conftest import wait_for
        assert wait_for(lambda: calls["n"] >= 2 and scanner.fault is None, 10)
        assert wait_for(lambda: scanner.poll() == LINK, 10)
    finally:
        scanner.close()
    assert "OSError" in caplog.text


def test_scanner_specs():
    assert open_scanner(None) is None and open_scanner("keyboard") is None
    assert isinstance(open_scanner("mock:"), MockScanner)
    cam = open_scanner("camera:/dev/video2?fps=5&hold=2")
    assert cam.name == "camera /dev/video2" and cam.settings == CameraSettings(5.0, 2.0, 3.0)
    assert open_scanner("camera").name == "camera 0" and open_scanner("camera:1").name == "camera 1"
    for bad in ("camera:video0", "camera:0?fps=0", "camera:0?zoom=2", "camera:0?fps=x", "laser", "keyboard:1"):
        with pytest.raises(ValueError):
            open_scanner(bad)
    missing = open_scanner("camera:/dev/video99?retry=0.1")  # no such device: a fault, no exception
    assert missing.step() is None and missing.fault.startswith("camera /dev/video99: ")


@pytest.mark.slow
def test_camera_check_in_at_the_kiosk_prints_the_ticket(tmp_path, artifacts):
    """The booking's QR (as the booking page shows it) in front of the kiosk's camera: the same
    check-in as the keyboard scanner's, the ticket printed and shown."""
    import pygame
    from conftest import small_config_data, start_server, wait_for
    from layso.hardware.printer import open_printer
    from layso.kiosk.app import KioskApp, Timing
    from layso.kiosk.printing import PrintService

    from layso.client import DeviceClient
    sp = start_server(tmp_path, config=small_config_data())
    try:
        b = sp.post("/api/v1/bookings", json={"field": "bhxh"}).json()
        link = f"{sp.url}/book/{b['track_url'].rsplit('/', 1)[1]}?c={b['code']}"
        cam = FakeCamera([empty_frame(1), empty_frame(2)] + [qr_frame(link, i) for i in range(3, 9)])
        scanner = CameraScanner(lambda: cam, CameraSettings(fps=30))  # started once the kiosk is online
        pygame.font.init()
        client = DeviceClient(sp.url, sp.add_device("kiosk", "Kiosk camera")).start()
        printer = open_printer("dummy:")
        printing = PrintService(printer, client, poll_ok_s=0.1, poll_fault_s=0.1).start()
        app = KioskApp(client, pygame.Surface((1080, 1920)), printing, scanner=scanner,
                       timing=Timing(touch_guard_s=0.0, late_tap_guard_s=0.0))
        try:
            # a code read before the kiosk is online is dropped (the citizen shows it again): the
            # eight frames would be gone in 0.3 s, before a loaded box has connected
            assert wait_for(lambda: app.tick() is not None and app.screen == "home" and app._online(), 30, 0.02)
            scanner.start()
            assert wait_for(lambda: app.tick() is not None and app.screen in ("ticket", "refused"), 20, 0.02)
            assert app.screen == "ticket", app.refused_code
            assert app.ticket["number"] == b["number"] and app.ticket["booking"]["status"] == "checked_in"
            assert wait_for(lambda: app.tick() is not None and len(printer.jobs) == 1, 15, 0.02)
            time.sleep(0.5)  # the same code still in sight: no second check-in
            app.tick()
            assert app.screen == "ticket" and len(printer.jobs) == 1
            app.draw()
            pygame.image.save(app.surface, str(artifacts / "kiosk_camera_checkin.png"))
        finally:
            scanner.close()
            printing.close()
            client.close()
    finally:
        sp.stop()
