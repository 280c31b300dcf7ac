"""systemd's notify protocol (sd_notify), written out: a datagram to $NOTIFY_SOCKET.

`notify("READY=1")` once a program serves; a `Watchdog` sends `WATCHDOG=1` at most every half of
`WatchdogSec` (from $WATCHDOG_USEC), and only when the caller calls `tick()` — the server from its
health loop, the device programs from their frame loops — so a hung program is restarted by systemd.
Outside systemd (no $NOTIFY_SOCKET) everything here does nothing. Uses only the standard library, so
device programs can import it.
"""
from __future__ import annotations

import os
import socket
import time


def notify(state: str) -> bool:
    """Send one notification (e.g. "READY=1", "WATCHDOG=1", "STOPPING=1"); False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """WatchdogSec in seconds when systemd expects this process to feed a watchdog, else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Feeds systemd's watchdog from a loop that proves the program is alive: call `tick()` each turn."""

    def __init__(self, clock=time.monotonic):
        self.interval = watchdog_interval()
        self._clock = clock
        self._last = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def tick(self) -> bool:
        """Send WATCHDOG=1 if half the watchdog interval has passed since the last one; True if sent."""
        if self.interval is None:
            return False
        now = self._clock()
        if now - self._last < self.interval / 2:
            return False
        self._last = now
        return notify("WATCHDOG=1")
