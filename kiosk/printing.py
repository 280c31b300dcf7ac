"""Printing tickets off the frame loop, watching the printer, and telling the server about faults.

`PrintService` owns two threads: one renders and prints tickets in order; the other asks the
printer for its status now and then (more often while it is faulty) and reports every change to
the server with POST /api/v1/devices/me/status, retrying until the report gets through. A failed
job is not printed later on its own: the citizen has gone with the QR code shown on screen, and a
late ticket would be taken by the next person; staff can reprint it (`ticket.reprint`). Printing
resumes by itself with the next ticket once the printer is back.

What the app needs to know arrives on `notices` as ("printed", ticket_id), ("failed", ticket_id,
state) and ("printer", state, detail).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from layso.client import ApiError, DeviceClient
from layso.hardware.printer import PrinterError, PrinterStatus, TicketPrinter
from layso.hardware.ticket_render import TicketPrint, render_ticket

log = logging.getLogger("layso.kiosk.printing")

OK = "ok"


@dataclass(frozen=True)
class Job:
    ticket_id: int
    ticket: TicketPrint


class PrintService:
    def __init__(self, printer: TicketPrinter, client: DeviceClient | None = None,
                 poll_ok_s: float = 5.0, poll_fault_s: float = 2.0):
        self.printer = printer
        self.client = client
        self.poll_ok_s = poll_ok_s
        self.poll_fault_s = poll_fault_s
        self.notices: "queue.Queue[tuple]" = queue.Queue()
        self._jobs: "queue.Queue[Job | None]" = queue.Queue()
        self._lock = threading.Lock()
        self._status = PrinterStatus(OK, "")
        self._reported: str | None = None  # the last state the server heard
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- life ------------------------------------------------------------------------------------
    def start(self) -> "PrintService":
        for name, target in (("layso-print", self._print_loop), ("layso-printer-watch", self._watch_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=5)
        try:
            self.printer.close()
        except Exception:  # noqa: BLE001 - closing a broken device must not stop the program
            log.exception("closing the printer")

    # ---- the printer's state ---------------------------------------------------------------------
    @property
    def status(self) -> PrinterStatus:
        with self._lock:
            return self._status

    def _set_status(self, status: PrinterStatus) -> None:
        with self._lock:
            changed = status.state != self._status.state
            self._status = status
        if changed:
            log.info("printer is now %s (%s)", status.state.value, status.detail)
            self.notices.put(("printer", status.state.value, status.detail))
            self._wake.set()  # report it now

    # ---- printing ----------------------------------------------------------------------------------
    def submit(self, ticket_id: int, ticket: TicketPrint) -> None:
        """Queue a ticket for printing; returns at once."""
        self._jobs.put(Job(ticket_id, ticket))

    def _print_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                image = render_ticket(job.ticket, self.printer.width)
                self.printer.print_ticket(image)
            except PrinterError as err:
                log.warning("ticket %s not printed: %s", job.ticket_id, err)
                self._set_status(err.as_status())
                self.notices.put(("failed", job.ticket_id, err.status.value))
                continue
            except Exception as err:  # noqa: BLE001 - a bug in one job must not stop printing
                log.exception("ticket %s not printed", job.ticket_id)
                self._set_status(PrinterStatus("offline", f"{type(err).__name__}: {err}"[:200]))
                self.notices.put(("failed", job.ticket_id, "offline"))
                continue
            if not self.status.ok:
                self._set_status(PrinterStatus(OK, ""))
            self.notices.put(("printed", job.ticket_id))

    # ---- watching and reporting -------------------------------------------------------------------
    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._set_status(self.printer.status())
            except Exception:  # noqa: BLE001 - status() should not raise; stay alive if it does
                log.exception("printer status")
            self._report()
            self._wake.wait(self.poll_ok_s if self.status.ok else self.poll_fault_s)
            self._wake.clear()

    def _report(self) -> None:
        status = self.status
        if self.client is None or status.state.value == self._reported:
            return
        try:
            self.client.report_status(printer=status.state.value, detail=status.detail or "")
        except ApiError as err:  # server away: try again at the next round
            log.info("printer status not reported yet: %s", err)
            return
        self._reported = status.state.value
