"""Ticket printers behind one small interface, chosen by the kiosk's ``--printer`` URI.

Public API::

    open_printer(uri: str) -> TicketPrinter            # ValueError on a bad URI; never connects
    printer.print_ticket(ticket)                        # TicketPrint (rendered at printer.width)
                                                        # or a ready PIL image; PrinterError on failure
    printer.status() -> PrinterStatus                   # state "ok" | "paper_out" | "cover_open" | "offline"
    printer.close()
    PrinterStatus(state, detail="").as_report()         # {"printer": "ok", "detail": ...} for
                                                        # POST /api/v1/devices/me/status
    PrinterError(status, detail)                        # .status (a PrinterState), .detail
    parse_printer_uri(uri) -> PrinterURI                # the parsed URI (ValueError when bad)
    status_from_replies(printer, cause, paper)          # DLE EOT 1/2/4 answer bytes -> PrinterStatus

URIs (CONTRACT.md), each optionally followed by ``?profile=NAME&width=PX``::

    usb:VID:PID            hex ids, "usb:0x0416:0x5011" or "usb:0416:5011"
                           (also ?in_ep=0x81&out_ep=0x03 when the printer's endpoints differ
                           from python-escpos's defaults 0x82 / 0x01)
    tcp:HOST[:PORT]        raw TCP, port 9100 by default; "[::1]:9100" for IPv6
    serial:/dev/ttyX[:BAUD]  9600 baud by default (python-escpos's and most printers' factory
                           setting), 8N1, DSR/DTR flow control
    file:/dev/usb/lp0      a device file (usblp / parallel port)
    dummy:                 writes nothing; keeps the last jobs' bytes in memory (.jobs,
                           .last_job, .last_image); .simulate("paper_out") for demos and tests
    png:DIR                saves each ticket as DIR/YYYYMMDD-HHMMSS-ffffff-NUMBER.png

``profile`` is a python-escpos printer profile ("default", "TM-T88V", "TM-T20II", "POS-5890"…,
unknown names are a ValueError). ``width`` is the paper width in dots: by default the profile's
own (TM-T88V: 512, POS-5890: 384) or else 576 (80 mm); a width wider than the profile's paper is
a ValueError. A ticket image narrower than the profile's paper is centred.

How a job is printed (ESC/POS backends): the ticket is rendered, then the whole job (ESC @, the
image as ``GS v 0`` raster blocks — python-escpos's "bitImageRaster", the command the most
printers understand, Epson and the cheap Xprinter/ZJ clones alike —, feed and ``GS V`` cut) is
built in memory with ``escpos.printer.Dummy`` and written to the device in one call, so a failure
is seen as one failed job. Before the job the printer's real-time status is asked (``DLE EOT 1``,
``2``, ``4``); a printer that is out of paper or has its cover open gets no job and the call raises
``PrinterError("paper_out" | "cover_open")`` instead of leaving a stale ticket in its buffer. A
printer that never answers status queries (some clones, socat forwarders) is then printed to
without asking.

Connections: ``tcp:`` and ``file:`` open a fresh connection for every job or status query, so a
printer that went away and came back is simply found again. ``usb:`` and ``serial:`` keep their
device open and drop it on the first error. Either way, after "offline" the next ``status()`` or
``print_ticket()`` reconnects: the kiosk only has to keep calling ``status()`` periodically.

Time limits: TCP connect 2 s, each status answer 1 s, sending a job 10 s (TCP, USB, serial).
``status()`` never waits behind a running job: it returns the last known status instead. Call
``print_ticket`` from a worker thread, never from the UI thread (a device file write can block
for as long as the kernel driver does). Printers are thread-safe.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import stat
import struct
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from escpos.capabilities import CAPABILITIES, get_profile
from escpos.constants import RT_STATUS
from escpos.escpos import Escpos
from escpos.printer import Dummy, File, Network, Serial, Usb
from PIL import Image

from layso.hardware.ticket_render import MAX_WIDTH, MIN_WIDTH, TicketPrint, render_ticket

__all__ = [
    "PrinterState",
    "PrinterStatus",
    "PrinterError",
    "TicketPrinter",
    "PrinterURI",
    "open_printer",
    "parse_printer_uri",
    "status_from_replies",
    "build_job",
    "EscposPrinter",
    "NetworkPrinter",
    "UsbPrinter",
    "SerialPrinter",
    "FilePrinter",
    "DummyPrinter",
    "PngPrinter",
    "DEFAULT_WIDTH",
    "DEFAULT_TCP_PORT",
    "DEFAULT_BAUDRATE",
]

DEFAULT_WIDTH = 576
DEFAULT_TCP_PORT = 9100
DEFAULT_BAUDRATE = 9600
CONNECT_TIMEOUT_S = 2.0
STATUS_TIMEOUT_S = 1.0
JOB_TIMEOUT_S = 10.0
STATUS_LOCK_WAIT_S = 0.2  # status() waits this long for a running job before answering from memory
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
QUERY_KEYS = {"profile", "width", "in_ep", "out_ep"}


class PrinterState(StrEnum):
    """The printer states the kiosk reports to the server (exact strings)."""

    OK = "ok"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"


@dataclass(frozen=True)
class PrinterStatus:
    state: PrinterState
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", PrinterState(self.state))

    @property
    def ok(self) -> bool:
        return self.state is PrinterState.OK

    def as_report(self) -> dict[str, str]:
        """The body of POST /api/v1/devices/me/status."""
        return {"printer": self.state.value, **({"detail": self.detail} if self.detail else {})}


class PrinterError(Exception):
    """A print job failed; `status` says why ("paper_out", "cover_open", "offline")."""

    def __init__(self, status: PrinterState | str, detail: str = "") -> None:
        self.status = PrinterState(status)
        self.detail = detail
        super().__init__(f"{self.status.value}: {detail}" if detail else self.status.value)

    def as_status(self) -> PrinterStatus:
        return PrinterStatus(self.status, self.detail)


@runtime_checkable
class TicketPrinter(Protocol):
    uri: str
    width: int

    def print_ticket(self, ticket: TicketPrint | Image.Image) -> None: ...

    def status(self) -> PrinterStatus: ...

    def close(self) -> None: ...


# ---- URIs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterURI:
    scheme: str  # usb, tcp, serial, file, dummy, png
    width: int
    profile: str | None = None
    host: str | None = None
    port: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    in_ep: int | None = None
    out_ep: int | None = None
    path: str | None = None  # serial device, device file or PNG directory
    baudrate: int | None = None


_HEX_ID = re.compile(r"^(?:0[xX])?([0-9a-fA-F]{1,4})$")


def _bad(uri: str, why: str) -> ValueError:
    return ValueError(
        f"bad printer URI {uri!r}: {why}. Expected usb:VID:PID, tcp:HOST[:PORT], "
        "serial:/dev/ttyX[:BAUD], file:/dev/usb/lp0, dummy: or png:DIR, optionally followed by "
        "?profile=NAME&width=576"
    )


def _usb_id(uri: str, text: str, what: str) -> int:
    match = _HEX_ID.match(text)
    if not match or int(match.group(1), 16) == 0:
        raise _bad(uri, f"{what} must be a non-zero hex number such as 0x0416, not {text!r}")
    return int(match.group(1), 16)


def _path(uri: str, rest: str, what: str) -> str:
    if rest.startswith("///"):  # file:///dev/usb/lp0
        rest = rest[2:]
    if not rest.strip():
        raise _bad(uri, f"{what} is missing")
    return rest


def _profile_pixels(name: str) -> int | None:
    pixels = CAPABILITIES["profiles"][name].get("media", {}).get("width", {}).get("pixels")
    return pixels if isinstance(pixels, int) else None


def parse_printer_uri(uri: str) -> PrinterURI:
    """Parse a ``--printer`` URI; a ValueError says what is wrong with a bad one."""
    if not isinstance(uri, str) or not uri.strip():
        raise _bad(str(uri), "it is empty")
    uri = uri.strip()
    base, _, query = uri.partition("?")
    scheme, colon, rest = base.partition(":")
    scheme = scheme.lower()
    if not colon:
        raise _bad(uri, "no scheme (the part before ':')")

    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _bad(uri, f"cannot read the options {query!r}") from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in QUERY_KEYS or (key in ("in_ep", "out_ep") and scheme != "usb"):
            raise _bad(uri, f"unknown option {key!r}")
        if key in options:
            raise _bad(uri, f"option {key!r} given twice")
        options[key] = value

    profile = options.get("profile")
    if profile is not None and profile not in CAPABILITIES["profiles"]:
        names = ", ".join(sorted(CAPABILITIES["profiles"]))
        raise _bad(uri, f"unknown printer profile {profile!r} (known: {names})")
    profile_px = _profile_pixels(profile) if profile else None
    if profile_px is not None and profile_px < MIN_WIDTH:
        raise _bad(uri, f"profile {profile} is not a ticket printer (paper of {profile_px} dots)")
    if "width" in options:
        if not options["width"].isdigit() or not MIN_WIDTH <= int(options["width"]) <= MAX_WIDTH:
            raise _bad(uri, f"width must be a number of dots from {MIN_WIDTH} to {MAX_WIDTH}, "
                            f"e.g. 576 (80 mm) or 384 (58 mm), not {options['width']!r}")
        width = int(options["width"])
        if profile_px is not None and width > profile_px:
            raise _bad(uri, f"width {width} is wider than the {profile_px} dots of profile {profile}")
    else:
        width = profile_px if profile_px is not None else DEFAULT_WIDTH
    common: dict[str, Any] = {"scheme": scheme, "width": width, "profile": profile}

    if scheme == "usb":
        ids = rest.split(":")
        if len(ids) != 2:
            raise _bad(uri, "USB needs a vendor and a product id, e.g. usb:0x0416:0x5011")
        eps = {}
        for key in ("in_ep", "out_ep"):
            if key in options:
                eps[key] = _usb_id(uri, options[key], key)
        return PrinterURI(**common, vendor_id=_usb_id(uri, ids[0], "the vendor id"),
                          product_id=_usb_id(uri, ids[1], "the product id"), **eps)
    if scheme == "tcp":
        rest = rest.removeprefix("//")
        if rest.startswith("["):  # [IPv6]:port
            host, bracket, tail = rest[1:].partition("]")
            if not bracket or (tail and not tail.startswith(":")):
                raise _bad(uri, "an IPv6 host must be written [addr] or [addr]:port")
            port_text = tail[1:] if tail else ""
        else:
            host, _, port_text = rest.partition(":")
            if ":" in port_text:
                raise _bad(uri, "write an IPv6 host in brackets, e.g. tcp:[fd00::5]:9100")
        if not host or not re.fullmatch(r"[A-Za-z0-9._:%-]+", host):
            raise _bad(uri, f"the host {host!r} is not a host name or address")
        port = DEFAULT_TCP_PORT
        if port_text or rest.endswith(":"):
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise _bad(uri, f"the port must be 1..65535, not {port_text!r}")
            port = int(port_text)
        return PrinterURI(**common, host=host, port=port)
    if scheme == "serial":
        path, baudrate = _path(uri, rest, "the serial device"), DEFAULT_BAUDRATE
        head, sep, tail = path.rpartition(":")
        if sep and tail.isdigit():
            path, baudrate = head, int(tail)
            if baudrate not in BAUDRATES:
                raise _bad(uri, f"baud rate {baudrate} is not one of {', '.join(map(str, BAUDRATES))}")
        if not path:
            raise _bad(uri, "the serial device is missing")
        return PrinterURI(**common, path=path, baudrate=baudrate)
    if scheme == "file":
        return PrinterURI(**common, path=_path(uri, rest, "the device file"))
    if scheme == "png":
        return PrinterURI(**common, path=_path(uri, rest, "the directory"))
    if scheme == "dummy":
        if rest:
            raise _bad(uri, "dummy: takes nothing after the colon")
        return PrinterURI(**common)
    raise _bad(uri, f"unknown scheme {scheme!r}")


def open_printer(uri: str) -> TicketPrinter:
    """The printer for a ``--printer`` URI. Does not connect: a printer that is off at start-up
    shows as "offline" in status() and is found as soon as it is switched on."""
    parsed = parse_printer_uri(uri)
    backends: dict[str, type] = {
        "usb": UsbPrinter, "tcp": NetworkPrinter, "serial": SerialPrinter, "file": FilePrinter,
        "dummy": DummyPrinter, "png": PngPrinter,
    }
    return backends[parsed.scheme](uri, parsed)


# ---- status bytes ----------------------------------------------------------------------------

# DLE EOT n answers (Epson ESC/POS): bits 1 and 4 always set, bits 0 and 7 clear.
OFFLINE_BIT = 0x08  # n=1 printer status: offline
COVER_OPEN_BIT = 0x04  # n=2 offline cause: cover open
FEED_BUTTON_BIT = 0x08  # n=2: paper being fed by the FEED button
PAPER_STOP_BIT = 0x20  # n=2: printing stopped by paper end
ERROR_BIT = 0x40  # n=2: an error (cutter jam, head temperature...)
PAPER_NEAR_END_BITS = 0x0C  # n=4 roll paper near-end sensor
PAPER_END_BITS = 0x60  # n=4 roll paper end sensor


def _status_byte(reply: bytes | None) -> int | None:
    """The last byte of `reply` shaped like a DLE EOT answer (stale or ASB bytes are skipped)."""
    for value in reversed(reply or b""):
        if value & 0x93 == 0x12:
            return value
    return None


def status_from_replies(printer: int | None, cause: int | None, paper: int | None) -> PrinterStatus:
    """Map the answers to DLE EOT 1 (printer), 2 (offline cause) and 4 (paper sensor)."""
    cause_bits = cause or 0
    paper_bits = paper or 0
    if cause_bits & COVER_OPEN_BIT:
        return PrinterStatus(PrinterState.COVER_OPEN, "cover open")
    if cause_bits & PAPER_STOP_BIT or paper_bits & PAPER_END_BITS:
        return PrinterStatus(PrinterState.PAPER_OUT, "paper end")
    if cause_bits & ERROR_BIT:
        return PrinterStatus(PrinterState.OFFLINE, "printer error (cutter jam or overheated head?)")
    if printer is not None and printer & OFFLINE_BIT:
        if cause_bits & FEED_BUTTON_BIT:
            return PrinterStatus(PrinterState.OK, "paper feed button pressed")
        return PrinterStatus(PrinterState.OFFLINE, "printer reports offline")
    if paper_bits & PAPER_NEAR_END_BITS:
        return PrinterStatus(PrinterState.OK, "paper near end")
    return PrinterStatus(PrinterState.OK)


# ---- jobs ------------------------------------------------------------------------------------


def _make_profile(name: str | None, width: int) -> Any:
    """A python-escpos profile; an unknown paper width becomes ours (no warning, no centring)."""
    profile = get_profile(name or "default")
    media = dict(profile.profile_data.get("media", {}))
    pixels = media.get("width", {}).get("pixels")
    if not isinstance(pixels, int):
        media["width"] = {**media.get("width", {}), "pixels": width}
        profile.profile_data = {**profile.profile_data, "media": media}  # this instance only
    return profile


def _paper_pixels(profile: Any) -> int:
    return int(profile.profile_data["media"]["width"]["pixels"])


def _ticket_image(ticket: TicketPrint | Image.Image, width: int) -> tuple[Image.Image, str | None]:
    """(image, ticket number or None) for what print_ticket was given."""
    if isinstance(ticket, TicketPrint):
        return render_ticket(ticket, width), ticket.number
    if isinstance(ticket, Image.Image):
        if ticket.width > width:
            raise ValueError(f"image is {ticket.width} px wide, the paper {width} px")
        return ticket, None
    raise TypeError(f"print_ticket takes a TicketPrint or a PIL image, not {type(ticket).__name__}")


def build_job(image: Image.Image, profile: Any) -> bytes:
    """The ESC/POS bytes of one ticket: init, raster image (GS v 0), feed and cut."""
    paper = _paper_pixels(profile)
    if image.width < paper:  # centre by hand: python-escpos forgets `center` on split fragments
        padded = Image.new("1", (paper, image.height), 1)
        padded.paste(image.convert("1"), ((paper - image.width) // 2, 0))
        image = padded
    job = Dummy()
    job.profile = profile  # an adjusted instance; python-escpos' constructor only takes a name
    job.hw("INIT")
    job.image(image, impl="bitImageRaster")
    job.cut()
    return job.output


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


# ---- ESC/POS devices -------------------------------------------------------------------------


class EscposPrinter:
    """Shared logic of the python-escpos backends; subclasses open the device."""

    persistent = False  # keep the device open between calls

    def __init__(self, uri: str, parsed: PrinterURI) -> None:
        self.uri = uri
        self.width = parsed.width
        self.parsed = parsed
        self.profile = _make_profile(parsed.profile, parsed.width)
        self._lock = threading.Lock()
        self._device: Escpos | None = None
        self._last = PrinterStatus(PrinterState.OK, "not checked yet")
        self._answers_status: bool | None = None  # unknown until asked

    # -- hooks
    def _open_device(self) -> Escpos:
        raise NotImplementedError

    def _is_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, TimeoutError)

    def _empty_reply_means_closed(self) -> bool:
        return False

    def _send(self, device: Escpos, job: bytes) -> None:
        device._raw(job)

    def _query_device(self, device: Escpos) -> PrinterStatus | None:
        """Real-time status, or None when the printer does not answer status queries."""
        printer = self._ask(device, 1)
        if printer is None:
            self._answers_status = False
            return None
        self._answers_status = True
        return status_from_replies(printer, self._ask(device, 2), self._ask(device, 4))

    # -- plumbing
    def _ask(self, device: Escpos, n: int) -> int | None:
        try:
            reply = device.query_status(RT_STATUS + bytes((n,)))
        except NotImplementedError:
            return None
        except Exception as exc:
            if self._is_timeout(exc):
                return None
            raise
        if not reply and self._empty_reply_means_closed():
            raise ConnectionError("the printer closed the connection")
        return _status_byte(bytes(reply))

    def _connect(self) -> Escpos:
        if self._device is None:
            try:
                self._device = self._open_device()
            except OSError as exc:
                status = _os_error_status(exc)
                raise PrinterError(status.state, status.detail) from exc
            except Exception as exc:
                raise PrinterError(PrinterState.OFFLINE, _describe(exc)) from exc
        return self._device

    def _release(self, failed: bool) -> None:
        if self._device is not None and (failed or not self.persistent):
            device, self._device = self._device, None
            try:
                device.close()
            except Exception:
                pass

    # -- TicketPrinter
    def print_ticket(self, ticket: TicketPrint | Image.Image) -> None:
        image, _ = _ticket_image(ticket, self.width)
        job = build_job(image, self.profile)
        with self._lock:
            failed = True
            try:
                device = self._connect()
                if self._answers_status is not False:
                    status = self._query_device(device)
                    if status is not None and not status.ok:
                        raise PrinterError(status.state, status.detail)
                self._send(device, job)
                failed = False
                if not self._last.ok:
                    self._last = PrinterStatus(PrinterState.OK)
            except PrinterError as exc:
                failed = exc.status is PrinterState.OFFLINE
                self._last = exc.as_status()
                raise
            except OSError as exc:
                self._last = _os_error_status(exc)
                raise PrinterError(self._last.state, self._last.detail) from exc
            except Exception as exc:
                self._last = PrinterStatus(PrinterState.OFFLINE, _describe(exc))
                raise PrinterError(self._last.state, self._last.detail) from exc
            finally:
                self._release(failed)

    def status(self) -> PrinterStatus:
        if not self._lock.acquire(timeout=STATUS_LOCK_WAIT_S):
            return self._last  # a job is being sent right now
        try:
            failed = True
            try:
                status = self._query_device(self._connect())
                failed = False
                if status is None:
                    status = PrinterStatus(PrinterState.OK, "connected; no answer to status queries")
            except PrinterError as exc:
                status = exc.as_status()
            except OSError as exc:
                status = _os_error_status(exc)
            except Exception as exc:
                status = PrinterStatus(PrinterState.OFFLINE, _describe(exc))
            finally:
                self._release(failed)
            self._last = status
            return status
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._release(failed=True)

    def __enter__(self) -> "EscposPrinter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri!r} width={self.width}>"


def _os_error_status(exc: OSError) -> PrinterStatus:
    if exc.errno == errno.ENOSPC:  # usblp / lp: "out of paper"
        return PrinterStatus(PrinterState.PAPER_OUT, _describe(exc))
    return PrinterStatus(PrinterState.OFFLINE, _describe(exc))


class NetworkPrinter(EscposPrinter):
    """tcp:HOST[:PORT] — raw TCP (JetDirect style); one connection per job or status query."""

    def _open_device(self) -> Escpos:
        device = Network(self.parsed.host, self.parsed.port, timeout=CONNECT_TIMEOUT_S)
        device.profile = self.profile
        # Connected here rather than by Network.open(), which only knows IPv4.
        sock = socket.create_connection((self.parsed.host, self.parsed.port), CONNECT_TIMEOUT_S)
        sock.settimeout(STATUS_TIMEOUT_S)
        device.device = sock
        return device

    def _empty_reply_means_closed(self) -> bool:
        return True

    def _send(self, device: Escpos, job: bytes) -> None:
        sock: socket.socket = device.device
        sock.settimeout(JOB_TIMEOUT_S)
        sock.sendall(job)
        # End the job cleanly: half-close, then wait (briefly) for the printer to close its side,
        # so nothing unread on our side turns close() into a reset that could drop the job's tail.
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv(256):
                    break
        except OSError:
            pass


class UsbPrinter(EscposPrinter):
    """usb:VID:PID — via pyusb (python-escpos Usb); the device stays open between jobs."""

    persistent = True

    def _open_device(self) -> Escpos:
        if not Usb.is_usable():
            raise RuntimeError("USB printing needs pyusb and libusb (pip install pyusb)")
        endpoints = {k: v for k, v in (("in_ep", self.parsed.in_ep), ("out_ep", self.parsed.out_ep))
                     if v is not None}
        device = Usb(self.parsed.vendor_id, self.parsed.product_id,
                     timeout=int(JOB_TIMEOUT_S * 1000), **endpoints)
        device.profile = self.profile
        device.open()
        return device

    def _is_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, TimeoutError) or type(exc).__name__ == "USBTimeoutError"


class SerialPrinter(EscposPrinter):
    """serial:/dev/ttyX[:BAUD] — via pyserial (python-escpos Serial); stays open between jobs."""

    persistent = True

    def _open_device(self) -> Escpos:
        if not Serial.is_usable():
            raise RuntimeError("serial printing needs pyserial (pip install pyserial)")
        device = Serial(devfile=self.parsed.path, baudrate=self.parsed.baudrate,
                        timeout=STATUS_TIMEOUT_S)
        device.profile = self.profile
        device.open()
        port = device.device
        port.write_timeout = JOB_TIMEOUT_S  # flow control held by a stuck printer must not hang us
        port.inter_byte_timeout = 0.05  # a status answer is one byte: do not wait for 16
        return device


class FilePrinter(EscposPrinter):
    """file:/dev/usb/lp0 — a device file, opened for each job (never created: a missing device is
    "offline"); status through the kernel's LPGETSTATUS (usblp, lp), "ok" when it has none."""

    LPGETSTATUS = 0x060B
    LP_PERRORP = 0x08  # IEEE 1284 "not error"
    LP_POUTPA = 0x20  # IEEE 1284 "paper empty"

    def _open_device(self) -> Escpos:
        device = File(devfile=self.parsed.path, auto_flush=True)
        device.profile = self.profile
        # Not File.open(): "wb" would create a plain file where the unplugged printer's node was.
        # O_APPEND: a plain file (debugging) collects the jobs one after another.
        device.device = os.fdopen(os.open(self.parsed.path or "", os.O_WRONLY | os.O_APPEND), "wb")
        return device

    def _query_device(self, device: Escpos) -> PrinterStatus | None:
        return self._port_status(device.device.fileno())

    def _port_status(self, fd: int) -> PrinterStatus | None:
        try:
            if not stat.S_ISCHR(os.fstat(fd).st_mode):
                return None  # a plain file
            raw = fcntl.ioctl(fd, self.LPGETSTATUS, struct.pack("i", 0))
        except OSError:
            self._answers_status = False
            return None
        self._answers_status = True
        value = struct.unpack("i", raw)[0]
        if value & self.LP_POUTPA:
            return PrinterStatus(PrinterState.PAPER_OUT, "paper end (port status)")
        if not value & self.LP_PERRORP:
            return PrinterStatus(PrinterState.OK, "port reports an error (cover open?)")
        return PrinterStatus(PrinterState.OK)

    def status(self) -> PrinterStatus:
        """Opens the device without writing (no job needs the lock for that)."""
        try:
            fd = os.open(self.parsed.path or "", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            self._last = _os_error_status(exc)
            return self._last
        try:
            self._last = self._port_status(fd) or PrinterStatus(PrinterState.OK)
        finally:
            os.close(fd)
        return self._last


# ---- stand-ins -------------------------------------------------------------------------------


class DummyPrinter:
    """dummy: — builds each job with escpos.printer.Dummy and keeps the bytes, prints nothing.

    `simulate(state, detail)` makes it report another status (print_ticket then raises it), for
    kiosk demos and tests.
    """

    def __init__(self, uri: str = "dummy:", parsed: PrinterURI | None = None) -> None:
        parsed = parsed or parse_printer_uri(uri)
        self.uri = uri
        self.width = parsed.width
        self.profile = _make_profile(parsed.profile, parsed.width)
        self.jobs: deque[bytes] = deque(maxlen=20)
        self.last_image: Image.Image | None = None
        self._status = PrinterStatus(PrinterState.OK)
        self._lock = threading.Lock()

    @property
    def last_job(self) -> bytes | None:
        return self.jobs[-1] if self.jobs else None

    def simulate(self, state: PrinterState | str, detail: str = "") -> None:
        self._status = PrinterStatus(PrinterState(state), detail)

    def print_ticket(self, ticket: TicketPrint | Image.Image) -> None:
        if not self._status.ok:
            raise PrinterError(self._status.state, self._status.detail)
        image, _ = _ticket_image(ticket, self.width)
        job = build_job(image, self.profile)
        with self._lock:
            self.jobs.append(job)
            self.last_image = image

    def status(self) -> PrinterStatus:
        return self._status

    def close(self) -> None:
        pass


class PngPrinter:
    """png:DIR — saves each ticket as DIR/YYYYMMDD-HHMMSS-ffffff-NUMBER.png (written atomically)."""

    def __init__(self, uri: str, parsed: PrinterURI) -> None:
        self.uri = uri
        self.width = parsed.width
        self.directory = parsed.path or "."
        self.last_path: str | None = None
        self._lock = threading.Lock()

    def print_ticket(self, ticket: TicketPrint | Image.Image) -> None:
        image, number = _ticket_image(ticket, self.width)
        safe = re.sub(r"[^0-9A-Za-z_-]+", "_", number or "ticket")
        name = f"{datetime.now().astimezone():%Y%m%d-%H%M%S-%f}-{safe}.png"
        with self._lock:
            try:
                os.makedirs(self.directory, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".ticket-", suffix=".png", dir=self.directory)
                try:
                    with os.fdopen(fd, "wb") as out:
                        image.save(out, format="PNG")
                    path = os.path.join(self.directory, name)
                    os.replace(tmp, path)
                except BaseException:
                    os.unlink(tmp)
                    raise
            except OSError as exc:
                raise PrinterError(PrinterState.OFFLINE, _describe(exc)) from exc
            self.last_path = path

    def status(self) -> PrinterStatus:
        directory = os.path.abspath(self.directory)
        while not os.path.exists(directory) and os.path.dirname(directory) != directory:
            directory = os.path.dirname(directory)  # DIR itself is created on the first ticket
        if os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK):
            return PrinterStatus(PrinterState.OK)
        return PrinterStatus(PrinterState.OFFLINE, f"cannot write to {self.directory}")

    def close(self) -> None:
        pass
