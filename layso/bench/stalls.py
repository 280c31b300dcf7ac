"""How late a sleeping thread of the bench wakes up during the load: a measure of the machine, printed
beside every scenario's figures.

A thread sleeps `PERIOD_S` again and again and notes how much later than asked it woke. On an idle
core it is late by a tenth of a millisecond; it is late by more when it had to wait for a core
(both cores busy with the server, the database and the bench's clients) or when the host stopped the
virtual CPU it runs on (on the team's two-vCPU machine: up to 42 ms whenever both vCPUs were busy,
docs/PERFORMANCE.md). The server's own wake-ups — a request arriving, an answer from PostgreSQL — wait
as long, so runs whose latency tails differ can be told apart: a slow server, or a stalled machine.
It costs a wake-up every 5 ms in the bench's parent process, which otherwise waits out the load."""
from __future__ import annotations

import threading
import time

PERIOD_S = 0.005
LATE_MS = 10.0  # a wake-up this late counts as a stall


class WakeProbe:
    """`start()`, then `stop()`; `late_s` holds each wake-up's lateness (seconds), `late()` counts
    those of `LATE_MS` or more."""

    def __init__(self, period_s: float = PERIOD_S, sleep=time.sleep):
        self.period_s, self._sleep = period_s, sleep
        self.late_s: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-wake-probe", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            asked = time.perf_counter()
            self._sleep(self.period_s)
            self.late_s.append(max(0.0, time.perf_counter() - asked - self.period_s))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def late(self) -> int:
        """How many wake-ups came `LATE_MS` or more late."""
        return sum(1 for x in self.late_s if x * 1000 >= LATE_MS)
