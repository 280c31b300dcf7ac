"""A local HTTP server standing in for what the notifier posts to — an SMS or Zalo gateway, a browser's
push service, a webhook receiver — shared by the notification tests: it answers each POST by the next
planned mode ("ok" when the plan is empty: `codes` says the status; "slow" first sleeps longer than a
channel's timeout) and keeps every request as its subclass shapes it (`keep`)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpReceiver:
    codes = {"ok": 200, "fail": 500}
    reply = b"{}"
    slow_s = 4.0  # longer than any channel's timeout in the tests

    def __init__(self, port: int = 0):
        self.plan: list[str] = []
        self.received: list[dict] = []
        self.port = port
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def mode_for(self, path: str) -> str:
        return self.plan.pop(0) if self.plan else "ok"

    def keep(self, path: str, body: bytes, headers, mode: str) -> dict | None:
        """The record of one request (None: not kept)."""
        return {"path": path, "body": json.loads(body), "raw": body, "mode": mode, "headers": dict(headers),
                "at": time.monotonic()}

    def start(self) -> None:
        """Listen (again: on the same port after `stop`)."""
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = rx.mode_for(self.path)
                record = rx.keep(self.path, body, self.headers, mode)
                if record is not None:
                    rx.received.append(record)
                if mode == "slow":
                    time.sleep(rx.slow_s)
                try:
                    self.send_response(rx.codes.get(mode, rx.codes["ok"]))
                    self.end_headers()
                    if rx.reply:
                        self.wfile.write(rx.reply)
                except OSError:  # the client gave up (its timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Nothing listens on the port until `start` (connection refused)."""
        self.server.shutdown()
        self.server.server_close()
