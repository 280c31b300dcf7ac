"""The device side of the connection: Socket.IO with reconnect-forever and resync, plus REST calls.

Device programs (kiosk, display, counter panel) use `DeviceClient`; it holds no business rules.
Everything it learns is put on `inbox` (a thread-safe queue) so a pygame frame loop can drain it
without blocking: ("state", snapshot), ("event", (type, payload)), ("connection", status).

No Flask or SQLAlchemy imports.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
import socketio

from .protocol import API_PREFIX, EVENTS, SeqBuffer

log = logging.getLogger("layso.client")

CONNECTING, ONLINE, OFFLINE, UNAUTHORIZED = "connecting", "online", "offline", "unauthorized"


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def read_token(token: str | None, token_file: str | None) -> str:
    if token:
        return token.strip()
    if token_file:
        return Path(token_file).read_text(encoding="utf-8").strip()
    raise ValueError("a device token is needed: --token, --token-file or LAYSO_TOKEN")


class DeviceClient:
    def __init__(self, server: str, token: str, timeout: float = 5.0, gap_timeout: float = 1.0):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.inbox: "queue.Queue[tuple[str, object]]" = queue.Queue()
        self.status = CONNECTING
        self.state: dict | None = None
        self._stop = threading.Event()
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"Bearer {token}"
        # Reconnection is ours (`_run`), so that a first connection that fails is retried too and a
        # refused token is retried slowly; python-socketio's own would race with it.
        self.sio = socketio.Client(reconnection=False, logger=False, engineio_logger=False)
        self._refused = False
        self.buffer = SeqBuffer(self._deliver, self._request_sync, gap_timeout=gap_timeout)
        self._thread: threading.Thread | None = None
        self._connected_at: float | None = None  # when the current connection was made
        self._got_state = False  # the current connection brought a `state`
        self._state_asked = False
        self._wire()

    # ---- socket -----------------------------------------------------------------------------
    def _wire(self) -> None:
        sio = self.sio

        @sio.event
        def connect():
            self._refused = False
            self._connected_at = time.monotonic()
            self._set_status(ONLINE)

        @sio.event
        def connect_error(data):
            msg = data.get("message") if isinstance(data, dict) else data
            self._refused = "unauthorized" in str(msg)

        @sio.event
        def disconnect(*_args):
            self._got_state = self._state_asked = False  # the next connection owes a state
            if not self._stop.is_set():
                self._set_status(OFFLINE)

        @sio.on("state")
        def on_state(data):
            # The server sends `state` while accepting the connection, so it may come before the
            # `connect` callback: a snapshot proves we are online, and says so first.
            self._refused = False
            self._got_state = True
            self._set_status(ONLINE)
            self.state = data
            # the snapshot goes into the inbox before the events held back for it: the other way
            # round, a newer event would be overwritten by the older snapshot and stay lost
            self.buffer.reset(data.get("seq", 0), first=lambda: self.inbox.put(("state", data)))

        for name in EVENTS:
            sio.on(name, self._make_handler(name))

    def _make_handler(self, name: str):
        def handler(data):
            self.buffer.push(name, data)
        return handler

    def _deliver(self, type_: str, payload: dict) -> None:
        self.inbox.put(("event", (type_, payload)))

    def _request_sync(self) -> None:
        try:
            self.sio.emit("sync")
        except Exception:  # not connected: the reconnect will bring a fresh state anyway
            pass

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.inbox.put(("connection", status))

    def start(self) -> "DeviceClient":
        """Connect in the background and keep connected until `close()`."""
        self._thread = threading.Thread(target=self._run, name="layso-client", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            if not self.sio.connected:
                try:
                    self.sio.connect(self.server, auth={"token": self.token}, transports=["websocket"],
                                     wait_timeout=self.timeout)
                    delay = 0.5
                except Exception as err:  # noqa: BLE001 - any failure: stay alive and retry
                    if self._refused:
                        self._set_status(UNAUTHORIZED)
                        wait = 30.0  # a revoked or wrong token: do not hammer the server
                    else:
                        self._set_status(OFFLINE)
                        wait = delay
                        delay = min(delay * 2, 5.0)
                    log.debug("connect to %s failed: %s", self.server, err)
                    self._stop.wait(wait)
                    continue
            self.buffer.check()
            self._check_state_arrived()
            self._stop.wait(0.2)

    STATE_TIMEOUT_S = 3.0

    def _check_state_arrived(self) -> None:
        """A connection that brought no `state` within STATE_TIMEOUT_S asks for one (`sync`); after
        twice that it is dropped, and `_run` connects again: never online and frozen."""
        since = self._connected_at
        if self._got_state or since is None or not self.sio.connected:
            return
        waited = time.monotonic() - since
        if waited > 2 * self.STATE_TIMEOUT_S:
            log.warning("no state from %s %.0f s after connecting: reconnecting", self.server, waited)
            self._connected_at = None
            self._set_status(OFFLINE)
            try:
                self.sio.disconnect()
            except Exception:  # noqa: BLE001 - already gone: `_run` reconnects either way
                pass
        elif waited > self.STATE_TIMEOUT_S and not self._state_asked:
            self._state_asked = True
            log.info("no state from %s yet: asking for one", self.server)
            self._request_sync()

    def close(self) -> None:
        self._stop.set()
        try:
            ws = getattr(self.sio.eio, "ws", None)
            if ws is not None:
                ws.shutdown()  # skip the WebSocket close handshake (up to 3 s): a program exits at once
            self.sio.eio.disconnect(abort=True)
        except Exception:  # noqa: BLE001 - closing must never fail
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_online(self, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.status == ONLINE and self.state is not None:
                return True
            time.sleep(0.05)
        return False

    # ---- commands -------------------------------------------------------------------------------
    def command(self, name: str, data: dict | None = None, timeout: float | None = None) -> dict:
        """A Socket.IO command with acknowledgement (e.g. "counter.next"); raises ApiError on refusal."""
        deadline = time.monotonic() + min(1.0, timeout or self.timeout)
        while not self.sio.connected:  # e.g. `state` arrived, the connect handshake is finishing
            if time.monotonic() >= deadline or self._stop.is_set():
                raise ApiError(0, "offline", "not connected to the server")
            time.sleep(0.02)
        try:
            ack = self.sio.call(name, data or {}, timeout=timeout or self.timeout)
        except socketio.exceptions.TimeoutError:
            raise ApiError(0, "timeout", "the server did not answer in time") from None
        except socketio.exceptions.BadNamespaceError:
            raise ApiError(0, "offline", "not connected to the server") from None
        if isinstance(ack, dict) and "error" in ack:
            err = ack["error"]
            raise ApiError(err.get("status", 400), err.get("code", "error"), err.get("message", ""))
        return ack

    def api(self, method: str, path: str, json: dict | None = None, timeout: float | None = None,
            headers: dict | None = None):
        """A REST call under /api/v1; returns the decoded body (None for 204); raises ApiError."""
        try:
            r = self._http.request(method, f"{self.server}{API_PREFIX}{path}", json=json,
                                   timeout=timeout or self.timeout, headers=headers)
        except requests.RequestException as err:
            raise ApiError(0, "offline", str(err)) from None
        if r.status_code == 204:
            return None
        try:
            body = r.json()
        except ValueError:
            raise ApiError(r.status_code, "bad_response", r.text[:200]) from None
        if r.status_code >= 400:
            err = body.get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(r.status_code, err.get("code", "error"), err.get("message", ""))
        return body

    def issue(self, field: str, priority: str | None = None, request_id: str | None = None,
              retries: int = 3, language: str = "vi") -> dict:
        """Issue a ticket with a request_id, retrying on network errors: never two tickets."""
        request_id = request_id or uuid.uuid4().hex
        body = {"field": field, "request_id": request_id}
        if priority:
            body["priority"] = priority
        last: ApiError | None = None
        for attempt in range(retries):
            try:
                return self.api("POST", "/tickets", body, headers={"Accept-Language": language})
            except ApiError as err:
                if err.status != 0:
                    raise
                last = err
                time.sleep(0.3 * (attempt + 1))
        assert last is not None
        raise last

    def report_status(self, printer: str | None = None, detail: str | None = None) -> None:
        body = {}
        if printer is not None:
            body["printer"] = printer
        if detail is not None:
            body["detail"] = detail[:300]
        self.api("POST", "/devices/me/status", body)
