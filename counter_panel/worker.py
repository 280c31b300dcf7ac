"""Sends the panel's requests to the server on a worker thread, so the frame loop never waits on the
network: Socket.IO commands with acknowledgements, and the rating through REST."""
from __future__ import annotations

import logging
import queue
import threading

from layso.client import ApiError, DeviceClient

from .model import Outcome, Request

log = logging.getLogger("layso.counter_panel")


class RequestWorker:
    def __init__(self, client: DeviceClient):
        self.client = client
        self.outcomes: "queue.Queue[Outcome]" = queue.Queue()
        self._requests: "queue.Queue[Request | None]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="counter-panel-requests", daemon=True)

    def start(self) -> "RequestWorker":
        self._thread.start()
        return self

    def submit(self, request: Request) -> None:
        self._requests.put(request)

    def close(self) -> None:
        self._requests.put(None)
        if self._thread.is_alive():  # a panel closed before it started has no thread to wait for
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            request = self._requests.get()
            if request is None:
                return
            self.outcomes.put(self.perform(request))

    def perform(self, request: Request) -> Outcome:
        try:
            if request.kind == "command":
                value = self.client.command(request.name, request.data)
            elif request.kind == "rating":
                value = self.client.api("POST", f"/tickets/{request.ticket_id}/rating", request.data)
            else:
                raise ValueError(f"unknown request kind {request.kind!r}")
            return Outcome(request, True, value)
        except ApiError as err:
            log.info("%s %s refused: %s", request.kind, request.name, err)
            return Outcome(request, False, code=err.code, message=err.message)
        except Exception as err:  # noqa: BLE001 - a failed request must never kill the worker
            log.exception("%s %s failed", request.kind, request.name)
            return Outcome(request, False, code="internal_error", message=str(err))
