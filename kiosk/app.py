"""The kiosk program: a small state machine fed by the server (through DeviceClient's inbox), the
citizen's touches, the issue worker and the print service; drawn by `screens`.

Screens: home (one button per field) → issue → ticket (number and QR code for a few seconds) →
home; home → priority (pick a category) → priority_fields → issue; refused (the server said no or
could not be reached); server_away (buttons disabled until the server is back). Nothing here ever
blocks the frame loop: issuing and the field refresh run in short-lived threads, printing in the
print service's threads. A number is only ever shown when the server's answer carried it.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import pygame

from layso.screenshot import ScreenshotWriter
from layso.client import ONLINE, UNAUTHORIZED, ApiError, DeviceClient
from layso.text import local_now

from . import checkin
from .printing import PrintService
from .ticket import compose, destination_of, ticket_content
from .screens import (HOME, ISSUING, PRIORITY, PRIORITY_FIELDS, REFUSED, SERVER_AWAY, TICKET, Target, View,
                      draw)

log = logging.getLogger("layso.kiosk")

# waits between tries to report a reprint's outcome while the server is away (None: the last try)
REPORT_RETRY_WAITS_S = (1, 2, 4, 8, 15, 30, None)
# Screens where a touch picks something and the inactivity timeout leads back to the first page.
CHOOSING = (HOME, PRIORITY, PRIORITY_FIELDS, checkin.CHECKIN)


@dataclass(frozen=True)
class Request:
    """One touch on a field: its request_id makes a retry return the same ticket."""

    field: str
    priority: str | None
    request_id: str
    at: float


@dataclass(frozen=True)
class Timing:
    ticket_s: float = 10.0  # the ticket stays on screen this long
    fault_ticket_s: float = 45.0  # ... or this long when it could not be printed (time to photograph the QR)
    refused_s: float = 8.0
    idle_s: float = 30.0  # back to the first home page after this long without a touch
    retry_window_s: float = 120.0  # a touch on the same field within this reuses an unanswered request_id
    touch_guard_s: float = 0.35  # touches this soon after a screen change are ignored (double taps)
    # ... and this long after a screen that came by itself (a ticket, a timeout, the connection) or
    # after leaving a ticket or a refusal: the home screen's buttons must not take a late tap meant
    # for "Xong" or "Quay lại"
    late_tap_guard_s: float = 1.0
    fields_refresh_s: float = 60.0  # re-read the fields (opening hours change without an event)
    screenshot_s: float = 1.0


class KioskApp:
    def __init__(self, client: DeviceClient, surface: pygame.Surface, printing: PrintService | None = None,
                 screenshot: str | os.PathLike | None = None, fullscreen: bool = False,
                 timing: Timing = Timing(), clock: Callable[[], float] = time.monotonic, scanner=None):
        self.client = client
        self.surface = surface
        self.printing = printing
        self.screenshots = ScreenshotWriter(screenshot, every_s=timing.screenshot_s, clock=clock) if screenshot else None
        self.fullscreen = fullscreen
        self.timing = timing
        self.clock = clock
        self.running = True

        self.screen = SERVER_AWAY
        self.connection = client.status
        self.fresh_state = False  # a state snapshot arrived since the connection was last lost
        self.centre: dict = {}
        self.fields: list[dict] = []
        self.page = 0
        self.priority: dict | None = None
        self.ticket: dict | None = None
        self.print_state = "none"
        self.refused_code = ""
        self.printer_fault: str | None = None
        self.device_id: int | None = None

        self._results: "queue.Queue[tuple]" = queue.Queue()
        self._request: Request | None = None  # the last request whose answer never came
        self._issued: deque[int] = deque(maxlen=5000)
        self._issued_set: set[int] = set()
        self._issued_by: dict[int, int] = {}  # recent ticket.issued events: ticket id -> device id
        self._targets: list[Target] = []
        self._drawn_screen: str | None = None
        self._screen_since = clock()
        self._guard_s = timing.late_tap_guard_s
        self._last_touch = clock()
        self._deadline: float | None = None
        self._dirty = True
        self._drawn_minute = ""
        self._shot_pending = False
        self._refreshing = False
        self._fields_version = 0  # counts snapshots and queue.changed events; a refresh older than one is dropped
        self._last_refresh = clock()
        self.scan = checkin.ScanReader()  # a barcode scanner types the booking's QR, then Enter
        self.scanner = scanner  # hardware.scanner: a camera reading the QR, where one is fitted
        self.code = ""  # a booking code typed on the check-in screen
        self._reprints: set[int] = set()  # tickets reprinted for staff: their outcome goes back to the server
        self._reprints_seen: dict[int, None] = {}  # the seqs of reprint requests handled (live or from `state`)

    # ---- the loop ---------------------------------------------------------------------------------
    def run(self, fps: int = 30) -> None:
        from layso import systemd
        ticker = pygame.time.Clock()
        watchdog = systemd.Watchdog()  # systemd restarts a kiosk whose frame loop stops turning
        systemd.notify("READY=1")
        while self.running:
            for event in pygame.event.get():
                self.handle(event)
            self.tick()
            watchdog.tick()
            ticker.tick(fps)
        if self.screenshots is not None:
            self.screenshots.close()

    def tick(self) -> bool:
        """One frame's work: take in what arrived, run the timers, redraw when needed; True when
        it drew."""
        self._drain()
        self._scanned()
        self._timers()
        drawn = self.draw() if self._dirty or self._minute() != self._drawn_minute else False
        self._write_screenshot()
        return drawn

    def draw(self) -> bool:
        view = self.view()
        self._targets = checkin.draw(self.surface, view, self.code) if self.screen == checkin.CHECKIN \
            else draw(self.surface, view)
        self._drawn_screen = self.screen
        self._drawn_minute = self._minute()
        self._dirty = False
        self._shot_pending = True
        if self.surface is pygame.display.get_surface():
            pygame.display.flip()
        return True

    def view(self) -> View:
        return View(screen=self.screen, centre_name=self.centre.get("name", ""), now=self._now(),
                    fields=self.fields, categories=self.centre.get("priority_categories", []), page=self.page,
                    priority=self.priority, connection=self.connection, printer_fault=self.printer_fault,
                    has_printer=self.printing is not None, ticket=self.ticket,
                    destination=destination_of(self.ticket) if self.ticket else "",
                    print_state=self.print_state, refused_code=self.refused_code,
                    checkin=bool((self.centre.get("booking") or {}).get("enabled")))

    # ---- input --------------------------------------------------------------------------------------
    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            if not self.fullscreen:  # a passer-by has no way out of a fullscreen kiosk
                self.running = False
        elif event.type == pygame.KEYDOWN:
            if event.key == pygame.K_ESCAPE and not self.fullscreen:
                self.running = False
            scanned = self.scan.feed(event, self.clock())
            if scanned is not None:
                self._scan_read(scanned)
        elif event.type == pygame.MOUSEBUTTONDOWN:
            if event.button == 1 and not getattr(event, "touch", False):  # touches come as FINGERDOWN
                self.touch(event.pos)
        elif event.type == pygame.FINGERDOWN:
            w, h = self.surface.get_size()
            self.touch((round(event.x * w), round(event.y * h)))
        elif event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE, pygame.WINDOWSIZECHANGED):
            self._dirty = True

    def touch(self, pos: tuple[int, int]) -> None:
        now = self.clock()
        self._last_touch = now
        if self._drawn_screen != self.screen or now - self._screen_since < self._guard_s:
            return  # the citizen touched what is no longer on screen
        for rect, action in self._targets:
            if rect.collidepoint(pos):
                self.act(action)
                return

    def act(self, action: tuple) -> None:
        kind = action[0]
        if kind == "field" and self.screen in (HOME, PRIORITY_FIELDS) and self._online():
            self._issue(action[1])
        elif kind == "priority" and self.screen == HOME:
            self._go(PRIORITY, by_hand=True)
        elif kind == "category" and self.screen == PRIORITY:
            self.priority = next((c for c in self.centre.get("priority_categories", []) if c["code"] == action[1]),
                                 None)
            if self.priority is not None:
                self.page = 0
                self._go(PRIORITY_FIELDS, by_hand=True)
        elif kind == "page":
            self.page = max(0, action[1])
            self._screen_since = self.clock()  # a double tap turns one page, not two
            self._guard_s = self.timing.touch_guard_s
            self._dirty = True
        elif kind == "checkin" and self.screen == HOME:
            self.code = ""
            self._go(checkin.CHECKIN, by_hand=True)
        elif kind in ("key", "erase") and self.screen == checkin.CHECKIN:
            self.code = checkin.add_key(self.code, action)
            self._dirty = True
        elif kind == "submit" and self.screen == checkin.CHECKIN and self._online():
            self._check_in(self.code)
        elif kind == "back" and self.screen == PRIORITY_FIELDS:
            self.priority = None
            self._go(PRIORITY, by_hand=True)
        elif kind in ("back", "done"):
            self._home()  # the long guard: "Xong" and "Quay lại" never pass a second tap to the home screen

    # ---- screens ------------------------------------------------------------------------------------
    def _go(self, screen: str, for_s: float | None = None, by_hand: bool = False) -> None:
        """Show `screen` (for `for_s` seconds); `by_hand` when the citizen's touch on the screen before
        opened it (a short guard against double taps), else a longer one against late taps."""
        if screen != self.screen:
            log.debug("screen %s -> %s", self.screen, screen)
        self.screen = screen
        self._screen_since = self.clock()
        self._guard_s = self.timing.touch_guard_s if by_hand else self.timing.late_tap_guard_s
        self._deadline = self._screen_since + for_s if for_s is not None else None
        self._dirty = True

    def _home(self) -> None:
        self.page = 0
        self.priority = None
        self.ticket = None
        self._go(HOME if self._online() else SERVER_AWAY)

    def _online(self) -> bool:
        return self.connection == ONLINE and self.fresh_state

    def _timers(self) -> None:
        now = self.clock()
        if self._deadline is not None and now >= self._deadline:
            self._home()
        elif self.screen in CHOOSING and (self.page or self.screen != HOME) \
                and now - self._last_touch >= self.timing.idle_s:
            self._home()
        elif self.screen == SERVER_AWAY and self.page and now - self._last_touch >= self.timing.idle_s:
            self.page = 0
            self._dirty = True
        if self._online() and not self._refreshing and now - self._last_refresh >= self.timing.fields_refresh_s:
            self._refreshing = True
            self._last_refresh = now
            threading.Thread(target=self._refresh_fields, args=(self._fields_version,), name="layso-kiosk-fields",
                             daemon=True).start()

    def _minute(self) -> str:
        now = self._now()
        return now.strftime("%Y%m%d%H%M") if now else ""

    def _now(self) -> datetime | None:
        return local_now(self.centre.get("timezone"))

    # ---- issuing ------------------------------------------------------------------------------------
    def _issue(self, field: str) -> None:
        priority = self.priority["code"] if self.screen == PRIORITY_FIELDS and self.priority else None
        now = self.clock()
        last = self._request
        if last and (last.field, last.priority) == (field, priority) and now - last.at <= self.timing.retry_window_s:
            request_id = last.request_id  # the same citizen trying again: never a second ticket
        else:
            request_id = uuid.uuid4().hex
        request = Request(field, priority, request_id, now)
        self._request = request
        self._go(ISSUING, by_hand=True)
        threading.Thread(target=self._issue_worker, args=(request,), name="layso-kiosk-issue", daemon=True).start()

    def _issue_worker(self, request: Request) -> None:
        try:
            ticket = self.client.issue(request.field, request.priority, request_id=request.request_id)
        except ApiError as err:
            log.warning("issue %s refused: %s", request.field, err)
            self._results.put(("refused", request, _refusal(err)))
            return
        except Exception:  # noqa: BLE001 - never leave the citizen on "issuing"
            log.exception("issue %s failed", request.field)
            self._results.put(("refused", request, "offline"))
            return
        if self.printing is not None:  # straight to the printer: no waiting for the next frame
            try:
                self.printing.submit(ticket["id"], compose(ticket_content(ticket, self.centre)))
            except Exception:  # noqa: BLE001 - the ticket is issued: show it even if it cannot print
                log.exception("ticket %s could not be prepared for printing", ticket.get("number"))
        self._results.put(("issued", request, ticket))

    def _scanned(self) -> None:
        """A QR read by the camera: the same check-in as a keyboard scanner's line."""
        text = self.scanner.poll() if self.scanner is not None else None
        if text is not None:
            self._scan_read(text)

    def _scan_read(self, text: str) -> None:
        """A booking's QR, scanned: checked in while the kiosk is choosing; while the server is away the
        citizen is told so (it is not silently dropped), and the kiosk goes back to waiting for it."""
        if self.screen in CHOOSING and self._online():
            self._check_in(text)
        elif self.screen == SERVER_AWAY:
            self._refused(None, "offline")

    def _check_in(self, text: str) -> None:
        """A scanned or typed booking code: check it in; its ticket is printed and shown like any other."""
        code = checkin.code_of(text)
        self.code = ""
        if code is None:
            self._refused(None, "booking_not_found")
            return
        self._go(ISSUING)
        threading.Thread(target=self._check_in_worker, args=(code,), name="layso-kiosk-checkin", daemon=True).start()

    def _check_in_worker(self, code: str) -> None:
        try:
            ticket = self.client.api("POST", f"/bookings/{code}/check-in", {}, headers={"Accept-Language": "vi"})
        except ApiError as err:
            log.info("check-in %s refused: %s", code, err)
            self._results.put(("refused", None, _refusal(err)))
            return
        except Exception:  # noqa: BLE001 - never leave the citizen on "issuing"
            log.exception("check-in %s failed", code)
            self._results.put(("refused", None, "offline"))
            return
        if self.printing is not None:
            try:
                self.printing.submit(ticket["id"], compose(ticket_content(ticket, self.centre)))
            except Exception:  # noqa: BLE001 - checked in: show it even if it cannot print
                log.exception("ticket %s could not be prepared for printing", ticket.get("number"))
        self._results.put(("issued", None, ticket))

    def _issued_ticket(self, request: Request, ticket: dict) -> None:
        self._request = None
        self._remember(ticket["id"])
        if ticket["id"] in self._issued_by:  # its ticket.issued event came before the answer
            self.device_id = self._issued_by[ticket["id"]]
        self.ticket = ticket
        self.print_state = "printing" if self.printing is not None else "none"
        self._go(TICKET, self.timing.ticket_s if self.printing is not None else self.timing.fault_ticket_s)

    def _refused(self, request: Request, code: str) -> None:
        if code != "offline":
            self._request = None  # the server answered: a new touch is a new request
        self.refused_code = code
        self._go(REFUSED, self.timing.refused_s)

    def _remember(self, ticket_id: int) -> None:
        if len(self._issued) == self._issued.maxlen:
            self._issued_set.discard(self._issued[0])
        self._issued.append(ticket_id)
        self._issued_set.add(ticket_id)

    # ---- what arrives -------------------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            try:
                kind, body = self.client.inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "connection":
                self._connection(body)
            elif kind == "state":
                self._state(body)
            elif kind == "event":
                self._event(*body)
        while True:
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                break
            if item[0] == "issued":
                self._issued_ticket(item[1], item[2])
            elif item[0] == "refused":
                self._refused(item[1], item[2])
            elif item[0] == "fields" and item[2] == self._fields_version:
                self._merge_fields(item[1])  # else an event came after the request: it is newer
        if self.printing is not None:
            while True:
                try:
                    notice = self.printing.notices.get_nowait()
                except queue.Empty:
                    break
                self._print_notice(notice)

    def _connection(self, status: str) -> None:
        self.connection = status
        if status != ONLINE:
            self.fresh_state = False
        self._after_connection_change()

    def _state(self, snapshot: dict) -> None:
        self.centre = snapshot.get("centre") or {}
        self.fields = list(snapshot.get("fields") or [])
        self._fields_version += 1
        if isinstance(snapshot.get("device"), dict):  # the server tells a device who it is
            self.device_id = snapshot["device"].get("id") or self.device_id
        for request in snapshot.get("reprints") or ():  # asked while we were away
            if isinstance(request, dict):
                self._reprint(request)
        self.fresh_state = True
        self._last_refresh = self.clock()
        self._after_connection_change()

    def _after_connection_change(self) -> None:
        self._dirty = True
        if self._online() and self.screen == SERVER_AWAY:
            self._go(HOME)
        elif not self._online() and self.screen in CHOOSING:
            self.priority = None
            self._go(SERVER_AWAY)

    def _event(self, type_: str, payload: dict) -> None:
        if type_ == "queue.changed":
            self._fields_version += 1
            self._merge_fields(payload.get("fields") or [])
        elif type_ == "ticket.issued":
            ticket_id, device_id = (payload.get("ticket") or {}).get("id"), payload.get("device_id")
            if device_id is not None:  # learn which device we are from our own tickets' events
                if ticket_id in self._issued_set:
                    self.device_id = device_id
                self._issued_by[ticket_id] = device_id
                if len(self._issued_by) > 100:
                    del self._issued_by[next(iter(self._issued_by))]
        elif type_ == "ticket.reprint":
            self._reprint(payload)

    def _merge_fields(self, changed: list[dict]) -> None:
        by_code = {f["code"]: f for f in changed}
        self.fields = [by_code.get(f["code"], f) for f in self.fields]
        self._dirty = True

    def _reprint(self, payload: dict) -> None:
        ticket = payload.get("ticket") or {}
        ours = (self.device_id is not None and payload.get("device_id") == self.device_id) \
            or ticket.get("id") in self._issued_set
        seq = payload.get("seq")
        if not ours or self.printing is None or (seq is not None and seq in self._reprints_seen):
            return  # another kiosk's, or already printed: live and again in the `state` after a reconnect
        if seq is not None:
            self._reprints_seen[seq] = None
            if len(self._reprints_seen) > 100:
                del self._reprints_seen[next(iter(self._reprints_seen))]
        log.info("reprinting ticket %s", ticket.get("number"))
        self._reprints.add(ticket["id"])
        self.printing.submit(ticket["id"], compose(ticket_content(ticket, self.centre)))

    def _report_reprint(self, ticket_id: int, printed: bool, printer: str | None) -> None:
        """Tell the server whether a reprint came out, so the officer who asked for it knows (off the frame loop)."""
        body = {"printed": printed, **({} if printed or printer is None else {"printer": printer})}

        def send():
            for wait in REPORT_RETRY_WAITS_S:  # the server away or busy: try again for about a minute
                try:
                    self.client.api("POST", f"/tickets/{ticket_id}/reprint/outcome", body)
                    return
                except ApiError as err:
                    if 0 < err.status < 500 or wait is None:
                        log.warning("the outcome of reprint %s was not reported: %s", ticket_id, err)
                        return
                time.sleep(wait)

        threading.Thread(target=send, name="layso-kiosk-reprint", daemon=True).start()

    def _print_notice(self, notice: tuple) -> None:
        kind = notice[0]
        if kind in ("printed", "failed") and notice[1] in self._reprints:
            self._reprints.discard(notice[1])
            self._report_reprint(notice[1], kind == "printed", notice[2] if kind == "failed" else None)
        if kind == "printer":
            self.printer_fault = None if notice[1] == "ok" else notice[1]
            self._dirty = True
        elif self.ticket is not None and notice[1] == self.ticket.get("id") and self.screen == TICKET:
            if kind == "printed":
                self.print_state = "printed"
            else:
                self.print_state = "failed"
                self.printer_fault = notice[2]
                self._deadline = self._screen_since + self.timing.fault_ticket_s
            self._dirty = True

    def _refresh_fields(self, version: int) -> None:
        """Re-read the fields (off the frame loop); `version` is the frame loop's when it asked."""
        try:
            fields = self.client.api("GET", "/fields")
            if isinstance(fields, list):
                self._results.put(("fields", fields, version))
        except ApiError as err:
            log.info("fields not refreshed: %s", err)
        finally:
            self._refreshing = False

    # ---- remote support -------------------------------------------------------------------------------
    def _write_screenshot(self) -> None:
        """The last drawn frame goes to the screenshot writer (which encodes it off the frame loop)."""
        if self.screenshots is not None and self._shot_pending and self.screenshots.offer(self.surface):
            self._shot_pending = False


def _refusal(err: ApiError) -> str:
    if err.status == 0:
        return "offline"
    if err.status == 401:
        return UNAUTHORIZED
    if err.status == 429:
        return "too_many_requests"
    return err.code
