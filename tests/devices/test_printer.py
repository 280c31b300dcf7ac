"""Printer URIs, ESC/POS jobs and status through a fake network printer of our own."""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from escpos.printer import Dummy
from layso.hardware.printer import (
    DummyPrinter,
    EscposPrinter,
    PrinterError,
    PrinterState,
    PrinterStatus,
    TicketPrinter,
    build_job,
    open_printer,
    parse_printer_uri,
    status_from_replies,
)
from layso.hardware.ticket_render import TicketPrint, render_ticket
from layso.kiosk.ticket import TicketContent, compose
from PIL import Image, ImageChops

ICT = timezone(timedelta(hours=7))
QUERIES = b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"  # DLE EOT 1 (printer), 2 (offline cause), 4 (paper)
RASTER = b"\x1dv0"  # GS v 0
CUT = b"\x1dV\x00"  # GS V 0: full cut

READY = {1: 0x12, 2: 0x12, 4: 0x12}
PAPER_OUT = {1: 0x1A, 2: 0x32, 4: 0x7E}  # offline; stopped by paper end; near-end + end sensors
COVER_OPEN = {1: 0x1A, 2: 0x16, 4: 0x12}
NEAR_END = {1: 0x12, 2: 0x12, 4: 0x1E}


def ticket(**changes) -> TicketPrint:
    base = dict(centre_name="Trung tâm Phục vụ hành chính công xã Tân Tiến", number="A005",
                field_name="Đất đai", destination="Quầy 3, 4",
                issued_at=datetime(2026, 11, 22, 7, 45, tzinfo=ICT), ahead=3, est_wait_s=1500,
                track_url="https://layso.example.vn/t/Zx8Kq2LmN4pR", priority_label="Người cao tuổi")
    return compose(TicketContent(**{**base, **changes}))


def raster_image(job: bytes) -> Image.Image:
    return raster_blocks(job)[0]


def raster_blocks(job: bytes) -> tuple[Image.Image, int]:
    """The GS v 0 blocks of a job as one image (black = printed), and where the last block ends."""
    blocks, pos = [], 0
    while (pos := job.find(RASTER, pos)) >= 0:
        x_bytes = job[pos + 4] | job[pos + 5] << 8
        rows = job[pos + 6] | job[pos + 7] << 8
        data = job[pos + 8:pos + 8 + x_bytes * rows]
        assert len(data) == x_bytes * rows
        blocks.append(Image.frombytes("1", (x_bytes * 8, rows), data, "raw", "1;I"))
        pos += 8 + len(data)
    assert blocks, "no raster image in the job"
    out = Image.new("1", (blocks[0].width, sum(b.height for b in blocks)))
    y = 0
    for block in blocks:
        out.paste(block, (0, y))
        y += block.height
    return out, pos_end(job)


def pos_end(job: bytes) -> int:
    pos = end = 0
    while (pos := job.find(RASTER, pos)) >= 0:
        x_bytes, rows = job[pos + 4] | job[pos + 5] << 8, job[pos + 6] | job[pos + 7] << 8
        pos = end = pos + 8 + x_bytes * rows
    return end


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None


class FakeNetworkPrinter:
    """Raw-TCP printer on 127.0.0.1: answers leading DLE EOT n queries from `replies` (None: never
    answers), records every connection's bytes. Bound at once; refuses connections until listen()."""

    def __init__(self, replies: dict[int, int] | None = READY, listen: bool = True) -> None:
        self.replies = replies
        self.connections: list[bytes] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.uri = f"tcp:127.0.0.1:{self.port}"
        if listen:
            self.listen()

    def listen(self) -> None:
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.connections) >= count, timeout)
            return list(self.connections)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data, pos, querying = bytearray(), 0, True
        conn.settimeout(10)
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
                while querying:
                    head = bytes(data[pos:pos + 3])
                    if len(head) == 3 and head[:2] == b"\x10\x04":
                        if self.replies is not None and head[2] in self.replies:
                            conn.sendall(bytes([self.replies[head[2]]]))
                        pos += 3
                    elif head and not b"\x10\x04".startswith(head[:2]):
                        querying = False  # the job itself: recorded, never answered
                    else:
                        break  # wait for the rest of the query
        with self._cond:
            self.connections.append(bytes(data))
            self._cond.notify_all()


@pytest.fixture
def fake_printer():
    printers: list[FakeNetworkPrinter] = []

    def make(replies: dict[int, int] | None = READY, listen: bool = True) -> FakeNetworkPrinter:
        printers.append(FakeNetworkPrinter(replies, listen))
        return printers[-1]

    yield make
    for p in printers:
        p.stop()


# ---- URIs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("uri, expected", [
    ("usb:0x0416:0x5011", dict(scheme="usb", vendor_id=0x0416, product_id=0x5011, width=576)),
    ("usb:0416:5011", dict(scheme="usb", vendor_id=0x0416, product_id=0x5011)),
    ("usb:04b8:0202?in_ep=0x81&out_ep=0x03", dict(vendor_id=0x04B8, in_ep=0x81, out_ep=0x03)),
    ("tcp:192.168.1.50", dict(scheme="tcp", host="192.168.1.50", port=9100)),
    ("tcp:may-in-quay.local:9101", dict(host="may-in-quay.local", port=9101)),
    ("tcp:[fd00::5]:9100", dict(host="fd00::5", port=9100)),
    ("serial:/dev/ttyUSB0", dict(scheme="serial", path="/dev/ttyUSB0", baudrate=9600)),
    ("serial:/dev/ttyS0:19200", dict(path="/dev/ttyS0", baudrate=19200)),
    ("file:/dev/usb/lp0", dict(scheme="file", path="/dev/usb/lp0")),
    ("file:///dev/usb/lp0", dict(path="/dev/usb/lp0")),
    ("dummy:", dict(scheme="dummy", width=576, profile=None)),
    ("dummy:?width=384", dict(width=384)),
    ("png:/var/lib/layso/tickets?width=384", dict(scheme="png", path="/var/lib/layso/tickets", width=384)),
    ("tcp:10.0.0.9?profile=TM-T88V", dict(profile="TM-T88V", width=512)),  # the profile's paper
    ("tcp:10.0.0.9?profile=TM-T20II&width=576", dict(profile="TM-T20II", width=576)),
    ("usb:0x0416:0x5011?profile=POS-5890", dict(profile="POS-5890", width=384)),
    ("dummy:?profile=default&width=576", dict(profile="default", width=576)),
])
def test_valid_uris(uri: str, expected: dict) -> None:
    parsed = parse_printer_uri(uri)
    for key, value in expected.items():
        assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("uri, message", [
    ("", "empty"),
    ("dummy", "scheme"),
    ("lpt:1", "unknown scheme"),
    ("usb:", "vendor"),
    ("usb:0416", "vendor"),
    ("usb:0416:5011:7", "vendor"),
    ("usb:xyz1:5011", "vendor id"),
    ("usb:0416:0", "product id"),
    ("usb:0416:5011?in_ep=zz", "in_ep"),
    ("tcp:", "host"),
    ("tcp:host:0", "port"),
    ("tcp:host:http", "port"),
    ("tcp:host:70000", "port"),
    ("tcp:host:", "port"),
    ("tcp:fd00::5:9100", "IPv6"),
    ("tcp:bad host", "host"),
    ("serial:", "serial device"),
    ("serial:/dev/ttyS0:12345", "baud"),
    ("file:", "device file"),
    ("png:", "directory"),
    ("dummy:now", "nothing"),
    ("dummy:?width=abc", "width"),
    ("dummy:?width=100", "width"),
    ("dummy:?width=576&width=384", "twice"),
    ("dummy:?profile=NOPE", "unknown printer profile"),
    ("dummy:?colour=red", "unknown option"),
    ("dummy:?in_ep=0x81", "unknown option"),
    ("dummy:?profile=OCD-100", "not a ticket printer"),  # a customer display
    ("tcp:10.0.0.9?profile=TM-T88V&width=576", "wider"),
])
def test_bad_uris_raise_value_error(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_printer(uri)


def test_open_printer_never_connects_and_reports_missing_hardware_as_offline(tmp_path: Path) -> None:
    for uri in ("usb:0xdead:0xbeef", f"serial:{tmp_path}/ttyNOPE", f"file:{tmp_path}/lp9"):
        printer = open_printer(uri)
        assert isinstance(printer, TicketPrinter)
        status = printer.status()
        assert status.state == "offline" and status.detail
        with pytest.raises(PrinterError) as caught:
            printer.print_ticket(ticket())
        assert caught.value.status == "offline"
        printer.close()


# ---- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize("replies, state", [
    ((0x12, 0x12, 0x12), "ok"),
    ((0x12, 0x12, 0x1E), "ok"),  # near end: still printing
    ((0x1A, 0x32, 0x7E), "paper_out"),
    ((0x12, 0x12, 0x72), "paper_out"),
    ((0x1A, 0x16, 0x12), "cover_open"),
    ((0x1A, 0x36, 0x7E), "cover_open"),  # cover open hides the paper sensor
    ((0x1A, 0x52, 0x12), "offline"),  # error (cutter jam)
    ((0x1A, 0x12, 0x12), "offline"),
    ((0x1A, 0x1A, 0x12), "ok"),  # paper fed by the FEED button
    ((0x12, None, None), "ok"),
])
def test_status_from_replies(replies, state: str) -> None:
    assert status_from_replies(*replies).state == state


def test_status_report_body() -> None:
    assert PrinterStatus(PrinterState.OK).as_report() == {"printer": "ok"}
    assert PrinterStatus("paper_out", "paper end").as_report() == {"printer": "paper_out",
                                                                     "detail": "paper end"}
    assert [s.value for s in PrinterState] == ["ok", "paper_out", "cover_open", "offline"]
    error = PrinterError("cover_open", "cover open")
    assert error.status == "cover_open" and error.detail == "cover open"
    assert error.as_status() == PrinterStatus(PrinterState.COVER_OPEN, "cover open")
    with pytest.raises(ValueError):
        PrinterError("on_fire")


# ---- dummy: and job bytes --------------------------------------------------------------------


@pytest.mark.parametrize("width", [576, 384])
def test_dummy_job_is_init_raster_image_and_cut(width: int) -> None:
    printer = open_printer(f"dummy:?width={width}")
    assert isinstance(printer, DummyPrinter) and printer.status().ok
    printer.print_ticket(ticket())
    job = printer.last_job
    assert job is not None and job.startswith(b"\x1b@") and RASTER in job
    assert job.endswith(CUT)
    assert job[job.index(RASTER) + 4] == width // 8  # xL: bytes per row
    # the printed dots are exactly the rendered ticket
    assert same_pixels(raster_image(job), render_ticket(ticket(), width))
    printer.print_ticket(ticket(number="A006"))
    assert len(printer.jobs) == 2 and printer.jobs[0] == job


def test_dummy_job_matches_escpos_dummy_output() -> None:
    printer = open_printer("dummy:")
    image = render_ticket(ticket(), 576)
    printer.print_ticket(image)
    reference = Dummy()
    reference.hw("INIT")
    reference.image(image, impl="bitImageRaster")
    reference.cut()
    assert printer.last_job == reference.output


def test_dummy_simulated_paper_out_raises() -> None:
    printer = open_printer("dummy:")
    printer.simulate("paper_out", "paper end")
    assert printer.status() == PrinterStatus(PrinterState.PAPER_OUT, "paper end")
    with pytest.raises(PrinterError) as caught:
        printer.print_ticket(ticket())
    assert caught.value.status == "paper_out"
    assert printer.last_job is None


def test_narrow_image_is_centred_on_the_profiles_paper() -> None:
    printer = open_printer("dummy:?profile=TM-T88V&width=384")  # 512-dot paper, 58 mm ticket
    printer.print_ticket(ticket())
    printed = raster_image(printer.last_job)
    assert printed.width == 512
    rendered = render_ticket(ticket(), 384)
    assert same_pixels(printed.crop((64, 0, 448, rendered.height)), rendered)
    assert printed.crop((0, 0, 64, printed.height)).convert("L").getextrema() == (255, 255)


def test_cutterless_profile_gets_no_cut_command() -> None:
    printer = open_printer("dummy:?profile=POS-5890")
    assert printer.width == 384
    printer.print_ticket(ticket())
    job = printer.last_job
    image, end = raster_blocks(job)
    assert image.width == 384 and b"\x1dV" not in job[end:]
    assert job[end:] == b"\x1bd\x06"  # ESC d 6: feed to the tear bar


def test_image_wider_than_the_paper_is_refused() -> None:
    printer = open_printer("dummy:?width=384")
    with pytest.raises(ValueError):
        printer.print_ticket(Image.new("1", (576, 100), 1))


# ---- png: and file: --------------------------------------------------------------------------


def test_png_backend_saves_one_file_per_ticket(tmp_path: Path) -> None:
    directory = tmp_path / "tickets"
    printer = open_printer(f"png:{directory}?width=384")
    assert printer.status().ok  # the directory is created on the first ticket
    printer.print_ticket(ticket())
    printer.print_ticket(ticket(number="A006"))
    files = sorted(directory.iterdir())
    assert [f.suffix for f in files] == [".png", ".png"]
    assert files[0].name.endswith("-A005.png") and files[1].name.endswith("-A006.png")
    with Image.open(files[0]) as saved:
        assert saved.mode == "1" and saved.width == 384
        assert same_pixels(saved, render_ticket(ticket(), 384))


def test_png_backend_that_cannot_write_is_offline(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    printer = open_printer(f"png:{blocker}/tickets")
    assert printer.status().state == "offline"
    with pytest.raises(PrinterError) as caught:
        printer.print_ticket(ticket())
    assert caught.value.status == "offline"


def test_file_backend_writes_the_job_in_one_go(tmp_path: Path) -> None:
    device = tmp_path / "lp0"
    device.touch()
    printer = open_printer(f"file:{device}")
    assert printer.status().ok
    printer.print_ticket(ticket())
    assert device.read_bytes() == build_job(render_ticket(ticket(), 576), printer.profile)


# ---- tcp: through a fake network printer -----------------------------------------------------


def test_network_print_sends_status_queries_then_exactly_the_job(fake_printer) -> None:
    fake = fake_printer(READY)
    printer = open_printer(fake.uri)
    assert printer.status() == PrinterStatus(PrinterState.OK)
    printer.print_ticket(ticket())
    job = build_job(render_ticket(ticket(), 576), printer.profile)
    assert RASTER in job and job.endswith(CUT)
    # status(): one short connection; the job: queries then exactly the job
    assert sorted(fake.wait_for(2)) == sorted([QUERIES, QUERIES + job])
    printer.close()


@pytest.mark.parametrize("replies, state", [(PAPER_OUT, "paper_out"), (COVER_OPEN, "cover_open")])
def test_network_printer_not_ready_gets_no_job(fake_printer, replies, state) -> None:
    fake = fake_printer(replies)
    printer = open_printer(fake.uri)
    assert printer.status().state == state
    with pytest.raises(PrinterError) as caught:
        printer.print_ticket(ticket())
    assert caught.value.status == state
    assert fake.wait_for(2) == [QUERIES, QUERIES]  # asked twice, never sent a job


def test_network_paper_near_end_still_prints(fake_printer) -> None:
    fake = fake_printer(NEAR_END)
    printer = open_printer(fake.uri)
    status = printer.status()
    assert status.state == "ok" and "near end" in status.detail
    printer.print_ticket(ticket())
    assert sum(c.endswith(CUT) for c in fake.wait_for(2)) == 1


def test_network_offline_then_back(fake_printer) -> None:
    fake = fake_printer(READY, listen=False)  # the port refuses connections
    printer = open_printer(fake.uri)
    assert printer.status().state == "offline"
    with pytest.raises(PrinterError) as caught:
        printer.print_ticket(ticket())
    assert caught.value.status == "offline" and caught.value.detail
    assert printer.status().state == "offline"

    fake.listen()  # switched back on: found again by the next call, nothing else to do
    assert printer.status().ok
    printer.print_ticket(ticket())
    assert sum(c.endswith(CUT) for c in fake.wait_for(2)) == 1


def test_network_printer_that_never_answers_status_still_prints(fake_printer) -> None:
    fake = fake_printer(replies=None)
    printer = open_printer(fake.uri)
    status = printer.status()  # waits one status timeout, no more
    assert status.state == "ok" and "no answer" in status.detail
    job = build_job(render_ticket(ticket(), 576), printer.profile)
    printer.print_ticket(ticket())  # not asked again before the job
    assert sorted(fake.wait_for(2)) == sorted([QUERIES[:3], job])


def test_concurrent_jobs_do_not_interleave(fake_printer) -> None:
    fake = fake_printer(READY)
    printer = open_printer(fake.uri)
    tickets = [ticket(number=f"A00{n}") for n in range(1, 4)]
    threads = [threading.Thread(target=printer.print_ticket, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    received = sorted(fake.wait_for(3))
    expected = sorted(QUERIES + build_job(render_ticket(t, 576), printer.profile) for t in tickets)
    assert received == expected


def test_status_does_not_wait_behind_a_running_job(fake_printer) -> None:
    fake = fake_printer(READY)
    printer = open_printer(fake.uri)
    printer.print_ticket(ticket())
    with printer._lock:  # as if a job were being sent right now
        assert printer.status().ok  # the last known status, without touching the device
    assert len(fake.wait_for(1)) == 1


# ---- failures inside a job -------------------------------------------------------------------


class FlakyDevice(Dummy):
    """A device that breaks while a job is written, like a printer unplugged mid-ticket."""

    fail_jobs = 1
    opened = 0

    def _raw(self, msg: bytes) -> None:
        if len(msg) > 100 and FlakyDevice.fail_jobs:
            FlakyDevice.fail_jobs -= 1
            raise OSError(5, "Input/output error")
        super()._raw(msg)

    def _read(self) -> bytes:
        return b"\x12"


class FlakyPrinter(EscposPrinter):
    persistent = True

    def _open_device(self) -> FlakyDevice:
        FlakyDevice.opened += 1
        self.device = FlakyDevice()
        return self.device


def test_failure_mid_job_is_reported_offline_then_the_device_is_reopened() -> None:
    FlakyDevice.fail_jobs, FlakyDevice.opened = 1, 0
    printer = FlakyPrinter("flaky:", parse_printer_uri("dummy:"))
    with pytest.raises(PrinterError) as caught:
        printer.print_ticket(ticket())
    assert caught.value.status == "offline" and "Input/output" in caught.value.detail
    assert printer.status().ok  # reconnects
    assert FlakyDevice.opened == 2
    printer.print_ticket(ticket())
    assert printer.device.output.endswith(QUERIES + build_job(render_ticket(ticket(), 576),
                                                              printer.profile))
    assert FlakyDevice.opened == 2  # a persistent device stays open while it works


def test_no_space_left_maps_to_paper_out() -> None:
    class NoPaper(Dummy):
        def _raw(self, msg: bytes) -> None:
            if len(msg) > 100:
                raise OSError(28, os.strerror(28))

    class NoPaperPrinter(EscposPrinter):
        def _open_device(self) -> Dummy:
            return NoPaper()

    printer = NoPaperPrinter("nopaper:", parse_printer_uri("dummy:"))
    with pytest.raises(PrinterError) as caught:
        printer.print_ticket(ticket())
    assert caught.value.status == "paper_out"
