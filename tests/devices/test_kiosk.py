"""The kiosk program against real server processes: the app object is built with a real
DeviceClient and driven with synthetic pygame events and its tick function (never the endless loop).

Every screen is saved to tests/artifacts/kiosk_*.png and checked for its content."""
from __future__ import annotations

import argparse
import os
import re
import socket
import threading
import time
from pathlib import Path

import pygame
import pytest
import requests
from conftest import config_data, small_config_data, start_server, wait_for
from layso.hardware.printer import open_printer
from layso.kiosk import screens
from layso.kiosk.app import KioskApp, Timing
from layso.kiosk.layout import Metrics
from layso.kiosk.printing import PrintService
from sqlalchemy import select

from layso.client import DeviceClient

pytestmark = pytest.mark.slow

PORTRAIT, LANDSCAPE = (1080, 1920), (1920, 1080)
FAST = Timing(touch_guard_s=0.0, late_tap_guard_s=0.0)


def four_field_config() -> dict:
    data = small_config_data()
    extra = next(f for f in config_data()["fields"] if f["code"] == "chung-thuc")
    data["fields"].append(extra)
    data["counters"][2]["fields"].append("chung-thuc")
    return data


@pytest.fixture(scope="module")
def kiosk_server(tmp_path_factory):
    sp = start_server(tmp_path_factory.mktemp("kiosk"), config=four_field_config())
    yield sp
    sp.stop()


class Kiosk:
    """One kiosk: client, printer, print service and app; closed at the end of the test."""

    def __init__(self, server_url: str, token: str, size=PORTRAIT, printer_uri: str | None = "dummy:",
                 timing: Timing = FAST, clock=time.monotonic, fullscreen: bool = False,
                 screenshot: Path | None = None, poll_s: float = 0.1):
        self.client = DeviceClient(server_url, token).start()
        self.printer = open_printer(printer_uri) if printer_uri else None
        self.printing = PrintService(self.printer, self.client, poll_ok_s=poll_s, poll_fault_s=poll_s).start() \
            if self.printer else None
        self.app = KioskApp(self.client, pygame.Surface(size), self.printing, screenshot=screenshot,
                            fullscreen=fullscreen, timing=timing, clock=clock)

    def close(self) -> None:
        if self.printing:
            self.printing.close()
        self.client.close()

    def pump(self, until, timeout: float = 30.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.app.tick()
            if until():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what or until}; screen={self.app.screen}")

    def targets(self, kind: str) -> list:
        return [(rect, action) for rect, action in self.app._targets if action[0] == kind]

    def tap(self, action: tuple) -> None:
        rect = next(r for r, a in self.app._targets if a == action)
        self.app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1))

    def shot(self, artifacts: Path, name: str) -> Path:
        self.app.draw()
        path = artifacts / f"kiosk_{name}.png"
        pygame.image.save(self.app.surface, str(path))
        return path


@pytest.fixture(scope="module")
def _closing():
    """Kiosks close in the background (a Socket.IO disconnect takes seconds); all are closed by the
    end of the module."""
    closers: list[threading.Thread] = []
    yield closers
    for t in closers:
        t.join(15)


@pytest.fixture
def kiosks(_closing):
    made: list[Kiosk] = []

    def make(*args, **kw) -> Kiosk:
        made.append(Kiosk(*args, **kw))
        return made[-1]

    yield make
    for k in made:
        t = threading.Thread(target=k.close, daemon=True)
        t.start()
        _closing.append(t)


def count_color(surface: pygame.Surface, color: tuple, rect: pygame.Rect | None = None, step: int = 3) -> int:
    rect = rect or surface.get_rect()
    n = 0
    for y in range(rect.top, rect.bottom, step):
        for x in range(rect.left, rect.right, step):
            if tuple(surface.get_at((x, y)))[:3] == color:
                n += 1
    return n


def home(k: Kiosk) -> None:
    k.pump(lambda: k.app.screen == "home" and k.app._drawn_screen == "home", what="home")


def issue_by_touch(k: Kiosk, field: str) -> dict:
    k.tap(("field", field))
    assert k.app.screen == "issuing"
    k.pump(lambda: k.app.screen in ("ticket", "refused"), what="the server's answer")
    assert k.app.screen == "ticket", k.app.refused_code
    return k.app.ticket


# ---- home screens --------------------------------------------------------------------------------
@pytest.mark.parametrize("size,name", [(PORTRAIT, "portrait"), (LANDSCAPE, "landscape")])
def test_home_with_four_fields(kiosk_server, kiosks, artifacts, size, name):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", f"Kiosk {name}"), size=size)
    home(k)
    fields = [a[1] for _r, a in k.targets("field")]
    assert sorted(fields) == sorted(["tu-phap-ho-tich", "dat-dai", "bhxh", "chung-thuc"])
    assert k.targets("priority") and not k.targets("page")
    path = k.shot(artifacts, f"home_4_{name}")
    img = pygame.image.load(str(path))
    assert img.get_size() == size
    for rect, _ in k.targets("field"):  # white buttons with dark names on them
        assert count_color(img, screens.WHITE, rect) > rect.width * rect.height / 9 * 0.5
        assert count_color(img, screens.INK, rect, step=1) > 200
    priority_rect = k.targets("priority")[0][0]
    assert count_color(img, screens.PRIORITY_BG, priority_rect) > priority_rect.width * priority_rect.height / 9 * 0.5
    header = pygame.Rect(0, 0, size[0], 60)
    assert count_color(img, screens.WHITE, header, step=1) > 100  # the centre's name is drawn


@pytest.mark.parametrize("size,name", [(PORTRAIT, "portrait"), (LANDSCAPE, "landscape")])
def test_home_with_province_fields_is_grouped_and_paged(tmp_path, kiosks, artifacts, size, name):
    data = config_data("province")
    sp = start_server(tmp_path, config=data)
    try:
        k = kiosks(sp.url, sp.add_device("kiosk", "Kiosk tỉnh"), size=size)
        home(k)
        assert len(data["fields"]) >= 20
        seen: list[str] = []
        page = 0
        while True:
            seen += [a[1] for _r, a in k.targets("field")]
            k.shot(artifacts, f"home_province_{name}_page{page + 1}")
            nxt = [a for _r, a in k.targets("page") if a[1] == page + 1]
            if not nxt:
                break
            k.tap(nxt[0])
            k.app.tick()
            page += 1
        assert page >= 1, "25 fields must be paged"
        assert sorted(seen) == sorted(f["code"] for f in data["fields"])
        assert len(seen) == len(set(seen))
        # back on page one after a while without a touch
        k.app._last_touch -= FAST.idle_s + 1
        k.app.tick()
        assert k.app.page == 0
    finally:
        sp.stop()


# ---- taking a number ---------------------------------------------------------------------------------
def test_touch_issues_prints_and_shows_the_ticket(kiosk_server, kiosks, artifacts):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk in"))
    home(k)
    before = {f["code"]: f["waiting"] for f in k.app.fields}
    ticket = issue_by_touch(k, "dat-dai")
    assert ticket["field"] == "dat-dai" and ticket["number"].startswith("2")
    k.pump(lambda: k.app.print_state == "printed", what="the printed ticket")
    assert len(k.printer.jobs) == 1 and k.printer.last_image.width == 576
    # the number shown is the server's
    track = requests.get(ticket["track_url"].replace("/t/", "/api/v1/track/"), timeout=5).json()
    assert track["number"] == ticket["number"] and track["status"] == "waiting"
    path = k.shot(artifacts, "ticket_portrait")
    img = pygame.image.load(str(path))
    number_band = pygame.Rect(0, 250, 1080, 400)
    assert count_color(img, screens.WHITE, number_band) > 3000  # the very large number
    assert count_color(img, (0, 0, 0)) > 2000  # the QR code's dark modules
    assert count_color(img, screens.OK_BG) > 1000  # "Mời nhận vé ở khe bên dưới"
    # the queue figures follow the server's events
    k.pump(lambda: {f["code"]: f["waiting"] for f in k.app.fields}["dat-dai"] == before["dat-dai"] + 1,
           what="queue.changed")
    # a few seconds later: home again
    k.app._deadline = k.app.clock()
    k.app.tick()
    assert k.app.screen == "home" and k.app.ticket is None


def test_ticket_in_landscape(kiosk_server, kiosks, artifacts):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk ngang"), size=LANDSCAPE)
    home(k)
    issue_by_touch(k, "bhxh")
    k.pump(lambda: k.app.print_state == "printed", what="printed")
    img = pygame.image.load(str(k.shot(artifacts, "ticket_landscape")))
    assert count_color(img, (0, 0, 0), pygame.Rect(1200, 100, 720, 800)) > 1000  # QR on the right


def test_priority_path(kiosk_server, kiosks, artifacts):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk ưu tiên"))
    home(k)
    k.tap(("priority",))
    k.app.tick()
    assert k.app.screen == "priority"
    categories = [a[1] for _r, a in k.targets("category")]
    assert categories == [c["code"] for c in k.app.centre["priority_categories"]]
    img = pygame.image.load(str(k.shot(artifacts, "priority_choice")))
    assert count_color(img, screens.PRIORITY_BG) > 2000
    k.tap(("category", "pregnant"))
    k.app.tick()
    assert k.app.screen == "priority_fields"
    k.shot(artifacts, "priority_fields")
    ticket = issue_by_touch(k, "tu-phap-ho-tich")
    assert ticket["priority"] == "pregnant" and ticket["priority_name"] == "Phụ nữ mang thai"
    assert "4" in k.app.view().destination  # the priority counter serves it too
    k.shot(artifacts, "ticket_priority")
    k.tap(("done",))
    k.app.tick()
    assert k.app.screen == "home" and k.app.priority is None
    # back out of the priority path without a ticket
    k.tap(("priority",))
    k.app.tick()
    k.tap(("category", "elderly"))
    k.app.tick()
    k.tap(("back",))
    k.app.tick()
    assert k.app.screen == "priority" and k.app.priority is None
    k.tap(("back",))
    k.app.tick()
    assert k.app.screen == "home"


def test_closed_field_is_greyed_and_refused_says_why(tmp_path, kiosks, artifacts):
    data = small_config_data()
    next(f for f in data["fields"] if f["code"] == "bhxh")["daily_cap"] = 1
    sp = start_server(tmp_path, config=data)
    try:
        k = kiosks(sp.url, sp.add_device("kiosk", "Kiosk hết số"))
        home(k)
        issue_by_touch(k, "bhxh")
        k.tap(("done",))
        k.pump(lambda: not next(f for f in k.app.fields if f["code"] == "bhxh")["accepting"], what="cap")
        k.app.draw()
        assert ("field", "bhxh") not in [a for _r, a in k.app._targets]
        rect = next(s.rect for p in screens.home_pages(k.app.view(), screens.Metrics(*PORTRAIT))[1]
                    for s in p.buttons if s.code == "bhxh")
        img = pygame.image.load(str(k.shot(artifacts, "home_field_closed")))
        assert count_color(img, screens.CLOSED_BG, rect) > rect.width * rect.height / 9 * 0.5
        # a touch that races the closing is refused by the server, and said so in Vietnamese
        k.app.act(("field", "bhxh"))
        k.pump(lambda: k.app.screen == "refused", what="refused")
        assert k.app.refused_code == "daily_cap_reached"
        k.shot(artifacts, "refused")
        assert requests.get(f"{sp.url}/api/v1/fields", timeout=5,
                            headers={"Authorization": f"Bearer {k.client.token}"}).status_code == 200
    finally:
        sp.stop()


# ---- a retry never makes two tickets ---------------------------------------------------------------------
class LosingProxy:
    """A TCP forwarder to the server that, when armed, passes one POST /api/v1/tickets on to the
    server and then drops the connection instead of returning the answer (a lost reply)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.armed = threading.Event()
        self.lost = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                at = data.find(b"POST /api/v1/tickets") if self.armed.is_set() else -1
                if at >= 0:  # keep-alive: the end of the previous request may share the chunk
                    self.armed.clear()
                    upstream.settimeout(5)
                    if at:
                        upstream.sendall(data[:at])
                        data = data[at:]
                    while b"\r\n\r\n" not in data:  # the whole request: headers …
                        data += client.recv(65536)
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                    while len(body) < length:  # … and body, however TCP cut them
                        body += client.recv(65536)
                    upstream.sendall(head + b"\r\n\r\n" + body)  # the server gets the whole request …
                    client.shutdown(socket.SHUT_RDWR)  # … but its answer can never reach the kiosk
                    self.lost += 1
                    time.sleep(1.0)  # let the server finish before its side closes too
                    break
                upstream.sendall(data)
        except OSError:
            pass
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def count_tickets(db_url: str) -> int:
    from layso.server.storage.database import Database
    from layso.server.storage.models import Ticket
    db = Database(db_url)
    try:
        with db.read() as s:
            return len(s.execute(select(Ticket.id)).all())
    finally:
        db.dispose()


def test_a_lost_answer_is_retried_without_a_second_ticket(tmp_path, kiosks, artifacts):
    sp = start_server(tmp_path)
    proxy = LosingProxy(sp.port)
    try:
        k = kiosks(f"http://127.0.0.1:{proxy.port}", sp.add_device("kiosk", "Kiosk mạng chập chờn"))
        home(k)
        proxy.armed.set()
        ticket = issue_by_touch(k, "dat-dai")  # DeviceClient retries with the same request_id
        assert proxy.lost == 1
        assert count_tickets(sp.db_url) == 1
        assert ticket["number"] == "2001"
        # the same request_id again is the same ticket (201 then 200); a new one is a new ticket
        headers = {"Authorization": f"Bearer {k.client.token}"}
        first = requests.post(f"{sp.url}/api/v1/tickets", json={"field": "bhxh", "request_id": "same-touch"},
                              headers=headers, timeout=5)
        second = requests.post(f"{sp.url}/api/v1/tickets", json={"field": "bhxh", "request_id": "same-touch"},
                               headers=headers, timeout=5)
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json()["id"] == second.json()["id"]
        assert count_tickets(sp.db_url) == 2
    finally:
        proxy.close()
        sp.stop()


def test_a_touch_after_an_unanswered_request_reuses_its_request_id(kiosk_server, kiosks):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk thử lại"))
    home(k)
    k.client.server = "http://127.0.0.1:9"  # REST calls fail (the socket stays up): no answer at all
    k.tap(("field", "dat-dai"))
    k.pump(lambda: k.app.screen == "refused", what="refused")
    assert k.app.refused_code == "offline" and k.app.ticket is None, "never a number not from the server"
    lost = k.app._request
    assert lost is not None and lost.field == "dat-dai"
    # the request had in fact reached the server before the answer was lost
    k.client.server = kiosk_server.url
    r = requests.post(f"{kiosk_server.url}/api/v1/tickets", json={"field": "dat-dai", "request_id": lost.request_id},
                      headers={"Authorization": f"Bearer {k.client.token}"}, timeout=5)
    assert r.status_code == 201
    k.tap(("back",))
    k.app.tick()
    ticket = issue_by_touch(k, "dat-dai")  # the citizen touches the same field again
    assert ticket["id"] == r.json()["id"], "the retry returned the ticket already made"
    assert k.app._request is None


# ---- printer faults ---------------------------------------------------------------------------------------
def device_printer_state(db_url: str, name: str) -> str | None:
    from layso.server.storage.database import Database
    from layso.server.storage.models import Device
    db = Database(db_url)
    try:
        with db.read() as s:
            return s.execute(select(Device.printer).where(Device.name == name)).scalar_one()
    finally:
        db.dispose()


def test_paper_out_still_issues_shows_qr_reports_and_recovers(kiosk_server, kiosks, artifacts):
    name = "Kiosk hết giấy"
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", name))
    home(k)
    k.printer.simulate("paper_out", "paper end")
    k.pump(lambda: k.app.printer_fault == "paper_out", what="the fault seen")
    img = pygame.image.load(str(k.shot(artifacts, "home_printer_fault")))
    assert count_color(img, screens.WARN_BG) > 3000  # the amber banner on the home screen
    assert k.targets("field"), "numbers are still issued"
    assert wait_for(lambda: device_printer_state(kiosk_server.db_url, name) == "paper_out")
    ticket = issue_by_touch(k, "tu-phap-ho-tich")
    k.pump(lambda: k.app.print_state == "failed", what="the failed print")
    assert not k.printer.jobs
    assert k.app._deadline - k.app._screen_since == pytest.approx(FAST.fault_ticket_s)
    img = pygame.image.load(str(k.shot(artifacts, "ticket_printer_fault")))
    assert count_color(img, (0, 0, 0)) > 2000  # the QR code to photograph
    assert count_color(img, screens.WARN_BG) > 3000  # "Máy in hết giấy — vui lòng chụp mã QR…"
    assert ticket["number"]
    # paper is back: reported, and the next ticket prints by itself
    k.printer.simulate("ok")
    k.pump(lambda: k.app.printer_fault is None, what="recovery")
    assert wait_for(lambda: device_printer_state(kiosk_server.db_url, name) == "ok")
    k.tap(("done",))
    k.app.tick()
    issue_by_touch(k, "tu-phap-ho-tich")
    k.pump(lambda: k.app.print_state == "printed", what="printing again")
    assert len(k.printer.jobs) == 1


class FakeTcpPrinter:
    """A network printer on 127.0.0.1 answering DLE EOT status queries from `replies`."""

    READY = {1: 0x12, 2: 0x12, 4: 0x12}
    PAPER_OUT = {1: 0x1A, 2: 0x32, 4: 0x72}

    def __init__(self):
        self.replies = dict(self.PAPER_OUT)
        self.jobs: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = bytearray()
        conn.settimeout(5)
        with conn:
            try:
                while chunk := conn.recv(65536):
                    data += chunk
                    while data[:2] == b"\x10\x04" and len(data) >= 3:
                        conn.sendall(bytes([self.replies[data[2]]]))
                        del data[:3]
            except OSError:
                pass
        if data:
            self.jobs.append(bytes(data))

    def close(self) -> None:
        self.sock.close()


def test_network_printer_paper_out_then_back(kiosk_server, kiosks, artifacts):
    printer = FakeTcpPrinter()
    try:
        k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk máy in mạng"),
                   printer_uri=f"tcp:127.0.0.1:{printer.port}")
        home(k)
        k.pump(lambda: k.app.printer_fault == "paper_out", what="paper out over TCP")
        issue_by_touch(k, "bhxh")
        k.pump(lambda: k.app.print_state == "failed", what="failed print")
        assert not printer.jobs
        printer.replies = dict(FakeTcpPrinter.READY)
        k.pump(lambda: k.app.printer_fault is None, what="printer back")
        k.tap(("done",))
        k.app.tick()
        issue_by_touch(k, "bhxh")
        k.pump(lambda: k.app.print_state == "printed", what="printed over TCP")
        assert wait_for(lambda: printer.jobs)
        assert printer.jobs and printer.jobs[-1].startswith(b"\x1b@")  # ESC @, then the raster image
        assert b"\x1dv0" in printer.jobs[-1]
    finally:
        printer.close()


# ---- server away ---------------------------------------------------------------------------------------------
def test_server_restart(tmp_path, kiosks, artifacts):
    sp = start_server(tmp_path)
    try:
        k = kiosks(sp.url, sp.add_device("kiosk", "Kiosk mất mạng"))
        home(k)
        first = issue_by_touch(k, "dat-dai")
        k.tap(("done",))
        sp.kill()
        k.pump(lambda: k.app.screen == "server_away", what="server away")
        k.app.draw()
        assert not k.targets("field") and not k.targets("priority"), "buttons are disabled"
        img = pygame.image.load(str(k.shot(artifacts, "server_away")))
        assert count_color(img, screens.DANGER_BG) > 3000  # "Mất kết nối máy chủ — đang kết nối lại"
        # a touch where a field was does nothing, and no number appears
        k.app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(300, 700), button=1))
        k.app.tick()
        assert k.app.screen == "server_away" and k.app.ticket is None
        sp.start()  # the same port
        k.pump(lambda: k.app.screen == "home", timeout=30, what="reconnected")
        second = issue_by_touch(k, "dat-dai")
        assert int(second["number"]) == int(first["number"]) + 1
    finally:
        sp.stop()


def test_a_kiosk_with_a_bad_token_offers_nothing(kiosk_server, kiosks, artifacts):
    k = kiosks(kiosk_server.url, "not-a-token")
    k.pump(lambda: k.app.connection in ("offline", "unauthorized"), what="refused connection")
    k.app.draw()
    assert k.app.screen == "server_away" and not k.app._targets
    k.client.inbox.put(("connection", "unauthorized"))  # what DeviceClient reports for a refused token
    k.app.tick()
    assert k.app.screen == "server_away" and not k.app._targets
    img = pygame.image.load(str(k.shot(artifacts, "unauthorized")))
    assert count_color(img, screens.DANGER_BG) > 3000


# ---- reprint, input, timeouts, screenshots ---------------------------------------------------------------
def test_staff_reprint_prints_again_on_the_issuing_kiosk(kiosk_server, kiosks):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk in lại"))
    other = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk khác"))
    home(k)
    home(other)
    ticket = issue_by_touch(k, "dat-dai")
    k.pump(lambda: k.app.print_state == "printed" and k.app.device_id is not None, what="printed, own id")
    ask_reprint = reprint_asker(kiosk_server, "canbo-reprint", ticket["id"])
    ask_reprint()
    k.pump(lambda: len(k.printer.jobs) == 2, what="the reprint")
    for _ in range(10):
        other.app.tick()
        time.sleep(0.05)
    assert not other.printer.jobs, "only the issuing kiosk reprints"
    # the kiosk tells the server how each reprint went: printed, then not printed while out of paper
    outcomes = reprint_outcomes(kiosk_server, ticket["id"])
    k.pump(lambda: len(outcomes) == 1, what="the reprint's outcome")
    assert outcomes[0]["printed"] is True
    k.printer.simulate("paper_out")
    ask_reprint()
    k.pump(lambda: len(outcomes) == 2, what="the failed reprint's outcome")
    assert outcomes[1]["printed"] is False and outcomes[1]["printer"] == "paper_out"
    assert len(k.printer.jobs) == 2


def test_a_reprint_asked_while_the_kiosk_was_away_prints_when_it_is_back(kiosk_server, kiosks):
    """A reprint asked while the kiosk's connection is down (a dropped link, a restart) comes in its
    next `state`, prints once, and is reported; one the kiosk got live is not printed again when the
    same request comes again in a `state`."""
    token = kiosk_server.add_device("kiosk", "Kiosk vắng mặt")
    k = kiosks(kiosk_server.url, token)
    home(k)
    ticket = issue_by_touch(k, "chung-thuc")
    k.pump(lambda: k.app.print_state == "printed" and k.app.device_id is not None, what="printed, own id")
    first_paper = k.printer.jobs[0]
    k.close()  # the kiosk goes away
    reprint_asker(kiosk_server, "canbo-vang", ticket["id"])()
    back = kiosks(kiosk_server.url, token)  # the same kiosk, back
    back.pump(lambda: len(back.printer.jobs) == 1, what="the reprint asked while away")
    assert back.printer.jobs[0] == first_paper  # the same ticket, the same paper
    outcomes = reprint_outcomes(kiosk_server, ticket["id"])
    back.pump(lambda: len(outcomes) == 1, what="the reprint's outcome")
    assert outcomes[0]["printed"] is True
    # the same request again in a snapshot (as after a reconnect before the outcome landed): no second paper
    request = {"seq": reprint_seq(kiosk_server, ticket["id"]), "ticket": ticket, "device_id": back.app.device_id}
    back.client.inbox.put(("state", {**back.client.state, "reprints": [request]}))
    for _ in range(10):
        back.app.tick()
        time.sleep(0.05)
    assert len(back.printer.jobs) == 1
    back.close()
    # answered: the next connection finds nothing to print
    again = kiosks(kiosk_server.url, token)
    home(again)
    again.pump(lambda: again.client.state is not None and "reprints" in again.client.state, what="a state")
    assert again.client.state["reprints"] == []
    assert not again.printer.jobs


def reprint_asker(server, username: str, ticket_id: int):
    """A staff member signed in to the console; calling the result asks for a reprint of the ticket."""
    server.add_user(username, "staff")
    staff = requests.Session()
    csrf = staff.post(f"{server.url}/api/v1/session", json={"username": username, "password": "password-123"},
                      timeout=5).json()["csrf_token"]

    def ask() -> None:
        r = staff.post(f"{server.url}/api/v1/tickets/{ticket_id}/reprint", headers={"X-CSRFToken": csrf}, timeout=5)
        assert r.status_code == 202, r.text

    return ask


def reprint_seq(server, ticket_id: int) -> int:
    """The seq of the (one) reprint request of a ticket, from the ticket log."""
    from layso.server.storage.database import Database
    from layso.server.storage.models import TicketEvent
    db = Database(server.db_url)
    try:
        with db.read() as s:
            return s.execute(select(TicketEvent.seq).where(TicketEvent.ticket_id == ticket_id,
                                                          TicketEvent.type == "ticket.reprint")).scalar_one()
    finally:
        db.dispose()


def reprint_outcomes(server, ticket_id: int) -> list[dict]:
    """The kiosk's reports of reprints (what the server logged), read again on each call."""
    from layso.server.storage.database import Database
    from layso.server.storage.models import TicketEvent

    class Outcomes(list):
        def __len__(self):
            db = Database(server.db_url)
            try:
                with db.read() as s:
                    rows = s.execute(select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id,
                                                                    TicketEvent.type == "ticket.reprinted")
                                     .order_by(TicketEvent.seq)).scalars().all()
            finally:
                db.dispose()
            self[:] = rows
            return super().__len__()

    return Outcomes()


def test_touch_input_and_no_way_out(kiosk_server, kiosks):
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk cảm ứng"), fullscreen=True)
    home(k)
    rect = next(r for r, a in k.app._targets if a == ("priority",))
    w, h = k.app.surface.get_size()
    # the mouse event SDL makes from a touch is ignored (the finger event counts once)
    k.app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1, touch=True))
    assert k.app.screen == "home"
    k.app.handle(pygame.event.Event(pygame.FINGERDOWN, x=rect.centerx / w, y=rect.centery / h, touch_id=1,
                                    finger_id=0, dx=0, dy=0, pressure=1))
    assert k.app.screen == "priority"
    for event in (pygame.event.Event(pygame.QUIT), pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE)):
        k.app.handle(event)
    assert k.app.running, "a passer-by cannot leave a fullscreen kiosk"
    k.app.fullscreen = False
    k.app.handle(pygame.event.Event(pygame.QUIT))
    assert not k.app.running


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_inactivity_timeouts_and_double_taps(kiosk_server, kiosks):
    clock = FakeClock()
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk chờ"), timing=Timing(), clock=clock)
    home(k)
    clock.t += 1
    k.tap(("priority",))
    k.tap(("priority",))  # a double tap lands on the next screen's first frame: ignored
    k.app.tick()
    assert k.app.screen == "priority"
    clock.t += Timing().idle_s + 1
    k.app.tick()
    assert k.app.screen == "home"
    clock.t += 1
    issue_by_touch(k, "bhxh")
    clock.t += Timing().ticket_s - 0.5
    k.app.tick()
    assert k.app.screen == "ticket"
    clock.t += 1
    k.app.tick()
    assert k.app.screen == "home"


def test_a_late_tap_after_the_ticket_never_opens_the_priority_screen(kiosk_server, kiosks, artifacts):
    """"Xong" sits in the header, where the home screen has nothing to touch; and the home screen that
    follows a ticket (by "Xong" or by itself) ignores taps for a second, wherever they land."""
    clock = FakeClock()
    for size in (PORTRAIT, LANDSCAPE):
        k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", f"Kiosk {size}"), size=size,
                   timing=Timing(), clock=clock)
        home(k)
        clock.t += 2
        k.app.tick()
        priority = next(r for r, a in k.app._targets if a == ("priority",))
        fields = [r for r, a in k.app._targets if a[0] == "field"]
        issue_by_touch(k, "bhxh")
        k.app.tick()
        done = next(r for r, a in k.app._targets if a == ("done",))
        assert done.bottom <= Metrics(*size).header_h, "Xong is in the header"
        assert not done.colliderect(priority) and done.collidelist(fields) == -1
        clock.t += 2
        k.tap(("done",))
        k.app.tick()
        assert k.app.screen == "home"
        for pos in (done.center, priority.center):  # a second tap on "Xong", or anywhere on the home screen
            clock.t += 0.4
            k.app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
            k.app.tick()
            assert k.app.screen == "home"
        # the ticket's time runs out while the citizen reaches for "Xong": the same
        issue_by_touch_after(k, clock, "bhxh")
        clock.t += Timing().ticket_s + 0.01
        k.app.tick()
        assert k.app.screen == "home"
        k.app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=priority.center, button=1))
        assert k.app.screen == "home"
        clock.t += Timing().late_tap_guard_s
        k.app.handle(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=priority.center, button=1))
        assert k.app.screen == "priority"  # a deliberate tap a moment later works
        k.shot(artifacts, f"priority_after_ticket_{size[0]}x{size[1]}")


def issue_by_touch_after(k: Kiosk, clock: FakeClock, field: str) -> dict:
    clock.t += Timing().late_tap_guard_s
    k.app.tick()
    return issue_by_touch(k, field)


def test_screenshot_is_written_atomically_at_most_once_a_second(kiosk_server, kiosks, tmp_path):
    clock = FakeClock()
    path = tmp_path / "remote" / "kiosk.png"
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk ảnh"), clock=clock, screenshot=path)
    home(k)
    assert k.app.screenshots.wait_idle(10)
    assert pygame.image.load(str(path)).get_size() == PORTRAIT
    first = path.stat().st_mtime_ns
    k.app._dirty = True
    time.sleep(0.01)
    k.app.tick()
    assert k.app.screenshots.wait_idle(10)
    assert path.stat().st_mtime_ns == first, "not twice within a second"
    clock.t += 1.1
    k.app.tick()
    assert k.app.screenshots.wait_idle(10)
    assert path.stat().st_mtime_ns != first
    assert [p.name for p in path.parent.iterdir()] == ["kiosk.png"], "no temporary file left behind"


def test_cli_registers_the_contract_flags(tmp_path):
    from layso.cli import build_parser
    from layso.device_cli import parse_size
    args = build_parser().parse_args(["kiosk", "--server", "http://127.0.0.1:5000", "--token", "t",
                                      "--printer", "dummy:", "--fullscreen", "--size", "1920x1080",
                                      "--screenshot", str(tmp_path / "k.png")])
    assert (args.server, args.token, args.printer, args.fullscreen, args.size) == \
        ("http://127.0.0.1:5000", "t", "dummy:", True, (1920, 1080))
    args = build_parser().parse_args(["kiosk", "--server", "http://x", "--token-file", "/tmp/tok"])
    assert args.token_file == "/tmp/tok" and args.printer is None
    assert parse_size("1080x1920") == (1080, 1920)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("big")


def test_cli_refuses_a_bad_printer_uri(capsys):
    from layso.cli import main
    os.environ.pop("LAYSO_TOKEN", None)
    assert main(["kiosk", "--server", "http://127.0.0.1:9", "--token", "t", "--printer", "lpt:1"]) == 2
    assert "bad printer URI" in capsys.readouterr().err


def test_the_kiosk_program_runs_and_keeps_a_screenshot(kiosk_server, tmp_path):
    import signal
    import subprocess
    import sys
    shot = tmp_path / "screen.png"
    tickets = tmp_path / "tickets"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy",
           "LAYSO_TOKEN": kiosk_server.add_device("kiosk", "Kiosk chương trình")}
    proc = subprocess.Popen([sys.executable, "-m", "layso.cli", "kiosk", "--server", kiosk_server.url,
                             "--printer", f"png:{tickets}", "--size", "540x960", "--screenshot", str(shot)],
                            env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: shot.exists() and count_color(pygame.image.load(str(shot)), screens.PRIORITY_BG) > 300,
                 timeout=60)
        img = pygame.image.load(str(shot))
        assert img.get_size() == (540, 960)
        assert count_color(img, screens.PRIORITY_BG) > 300, "the home screen, online"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(15) == 0, proc.stderr.read().decode()[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()


def test_a_periodic_refresh_older_than_an_event_does_not_undo_it(kiosk_server, kiosks):
    """The kiosk re-reads the fields every minute; when a queue.changed event arrives while that
    request is under way, the answer may be older than the event, and is dropped."""
    clock = FakeClock()
    k = kiosks(kiosk_server.url, kiosk_server.add_device("kiosk", "Kiosk làm mới"), timing=Timing(), clock=clock)
    home(k)
    asked, answer = threading.Event(), threading.Event()
    real_api = k.app.client.api

    def slow_api(method, path, *args, **kw):
        if (method, path) == ("GET", "/fields"):
            fields = real_api(method, path, *args, **kw)  # read before the ticket below
            asked.set()
            answer.wait(10)
            return fields
        return real_api(method, path, *args, **kw)

    k.app.client.api = slow_api
    before = {f["code"]: f["waiting"] for f in k.app.fields}["dat-dai"]
    deadline = time.monotonic() + 30
    while not asked.is_set() and time.monotonic() < deadline:  # a `state` (a reconnection under load)
        clock.t += Timing().fields_refresh_s                    # restarts the minute: advance again
        k.app.tick()
        asked.wait(0.5)
    assert asked.is_set(), "no refresh was asked for"
    issue_by_touch(k, "dat-dai")
    k.pump(lambda: {f["code"]: f["waiting"] for f in k.app.fields}["dat-dai"] == before + 1, what="queue.changed")
    answer.set()
    k.pump(lambda: not k.app._refreshing and k.app._results.empty(), what="the refresh's answer")
    k.app.tick()
    assert {f["code"]: f["waiting"] for f in k.app.fields}["dat-dai"] == before + 1
    clock.t += Timing().fields_refresh_s  # the next refresh, with no event in between, is taken
    k.app.client.api = real_api
    k.app.tick()
    k.pump(lambda: not k.app._refreshing and k.app._results.empty(), what="the next refresh")
    assert {f["code"]: f["waiting"] for f in k.app.fields}["dat-dai"] == before + 1
