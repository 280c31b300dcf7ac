"""Check-in at the pygame kiosk against a real server: a USB barcode scanner "types" the booking's QR
link as keyboard events and presses Enter; the touch keypad takes the short code. Either way the
server's ticket is printed and shown; refusals say why. Screens saved to tests/artifacts."""
from __future__ import annotations

import time

import pygame
import pytest
from conftest import small_config_data, start_server
from layso.hardware.printer import open_printer
from layso.kiosk import checkin
from layso.kiosk.app import KioskApp, Timing
from layso.kiosk.printing import PrintService

from layso.client import DeviceClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("kiosk-checkin"), config=small_config_data())
    yield server
    server.stop()


@pytest.fixture
def kiosk(sp):
    client = DeviceClient(sp.url, sp.add_device("kiosk", "Kiosk check-in")).start()
    printer = open_printer("dummy:")
    printing = PrintService(printer, client, poll_ok_s=0.1, poll_fault_s=0.1).start()
    app = KioskApp(client, pygame.Surface((1080, 1920)), printing, timing=Timing(touch_guard_s=0.0, late_tap_guard_s=0.0))
    app.printer = printer
    pump(app, lambda: app.screen == "home" and app._drawn_screen == "home")
    yield app
    printing.close()
    client.close()


def pump(app, until, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.tick()
        if until():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out; screen={app.screen} refused={app.refused_code}")


def type_keys(app, text: str, enter: bool = True) -> None:
    """What a keyboard-wedge scanner sends: one KEYDOWN per character, then Enter."""
    for ch in text:
        app.handle(pygame.event.Event(pygame.KEYDOWN, key=ord(ch.lower()) if ch.isalnum() else 0, unicode=ch, mod=0))
    if enter:
        app.handle(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, unicode="\r", mod=0))


def tap(app, action: tuple) -> None:
    rect = next(r for r, a in app._targets if a == action)
    app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1))


def book(sp, field: str = "bhxh") -> dict:
    r = sp.post("/api/v1/bookings", json={"field": field})
    assert r.status_code == 201, r.text
    return r.json()


def test_scanner_typing_the_qr_link_checks_in_and_prints(sp, kiosk, artifacts):
    b = book(sp)
    token = b["track_url"].rsplit("/", 1)[1]
    type_keys(kiosk, f"{sp.url}/book/{token}?c={b['code']}")
    pump(kiosk, lambda: kiosk.screen in ("ticket", "refused"))
    assert kiosk.screen == "ticket", kiosk.refused_code
    assert kiosk.ticket["number"] == b["number"] and kiosk.ticket["booking"]["status"] == "checked_in"
    pump(kiosk, lambda: kiosk.print_state == "printed")
    assert len(kiosk.printer.jobs) == 1
    kiosk.draw()
    pygame.image.save(kiosk.surface, str(artifacts / "kiosk_checkin_ticket.png"))
    # the same scan again: already checked in, said in Vietnamese
    kiosk._deadline = kiosk.clock()
    kiosk.tick()
    type_keys(kiosk, b["code"])
    pump(kiosk, lambda: kiosk.screen == "refused")
    assert kiosk.refused_code == "already_checked_in"


def test_touch_keypad_takes_the_code(sp, kiosk, artifacts):
    b = book(sp, "dat-dai")
    kiosk.draw()
    pygame.image.save(kiosk.surface, str(artifacts / "kiosk_checkin_home.png"))
    tap(kiosk, ("checkin",))
    pump(kiosk, lambda: kiosk._drawn_screen == checkin.CHECKIN)
    assert ("submit",) not in [a for _r, a in kiosk._targets]  # nothing typed: confirm is off
    for ch in b["code"][:-1] + "A":
        tap(kiosk, ("key", ch))
        kiosk.tick()
    tap(kiosk, ("erase",))
    tap(kiosk, ("key", b["code"][-1]))
    kiosk.tick()
    assert kiosk.code == b["code"]
    pygame.image.save(kiosk.surface, str(artifacts / "kiosk_checkin_keypad.png"))
    tap(kiosk, ("submit",))
    pump(kiosk, lambda: kiosk.screen in ("ticket", "refused"))
    assert kiosk.screen == "ticket" and kiosk.ticket["number"] == b["number"], kiosk.refused_code


def test_unknown_and_garbled_scans_are_refused(sp, kiosk):
    type_keys(kiosk, "ACDEFHJ")
    pump(kiosk, lambda: kiosk.screen == "refused")
    assert kiosk.refused_code == "booking_not_found"
    kiosk._deadline = kiosk.clock()
    kiosk.tick()
    type_keys(kiosk, "hello world")  # not a code at all: refused without asking the server
    kiosk.tick()
    assert kiosk.screen == "refused" and kiosk.refused_code == "booking_not_found"


def test_scan_reader_splits_scans_by_enter_and_pauses():
    r = checkin.ScanReader(gap_s=1.0)
    key = lambda ch: pygame.event.Event(pygame.KEYDOWN, key=0, unicode=ch, mod=0)  # noqa: E731
    enter = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, unicode="\r", mod=0)
    for i, ch in enumerate("XY"):
        assert r.feed(key(ch), 0.0 + i * 0.01) is None
    assert r.feed(key("A"), 5.0) is None  # a long pause: a new scan
    assert r.feed(key("B"), 5.01) is None
    assert r.feed(enter, 5.02) == "AB"
    assert r.feed(enter, 5.03) is None
    assert checkin.add_key("ACD", ("key", "0")) == "ACD"  # not in the alphabet
    assert checkin.add_key("ACDEFHJK", ("key", "M")) == "ACDEFHJK"  # 8 at most
    assert checkin.add_key("ACD", ("erase",)) == "AC"


def test_a_scan_while_the_server_is_away_is_answered_not_dropped(artifacts):
    """A citizen scans a booking's QR while the kiosk cannot reach its server: the kiosk says the
    server is away (it does not ignore the scan, leaving the citizen scanning again and again), then
    goes back to its "server away" screen; nothing is sent."""
    from conftest import free_port
    client = DeviceClient(f"http://127.0.0.1:{free_port()}", "no-server-token").start()  # nothing listens there
    app = KioskApp(client, pygame.Surface((1080, 1920)), None,
                   timing=Timing(touch_guard_s=0.0, late_tap_guard_s=0.0, refused_s=0.5))
    try:
        pump(app, lambda: app.screen == "server_away" and app._drawn_screen == "server_away")
        type_keys(app, "http://127.0.0.1/b/ABCD2345")
        pump(app, lambda: app.screen == "refused" and app._drawn_screen == "refused")
        assert app.refused_code == "offline"
        pygame.image.save(app.surface, str(artifacts / "kiosk-scan-server-away.png"))
        pump(app, lambda: app.screen == "server_away")
    finally:
        client.close()
