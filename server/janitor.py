"""The janitor: every 15 s lapse online bookings past their rule, close days on time (waiting
tickets cancelled at closing), tell devices when fields open or close by the clock, raise and clear
the province's alerts (`notify.alerts`), keep this process's device connections fresh (and clear
those of dead processes), forget citizens' phone numbers after their day, and cut off connections
whose token or account was revoked."""
from __future__ import annotations

import logging
import threading

from flask import Flask
from layso.server import clock
from layso.server.engine.sweep import sweep
from layso.server.notify.alerts import track as track_alerts
from layso.server.notify.outbox import forget_phones
from layso.server.realtime import presence
from layso.server.realtime.events import disconnect_revoked
from layso.server.services import Services

log = logging.getLogger("layso.janitor")

EVERY_S = 15.0


def init_app(app: Flask, start: bool = True, every_s: float = EVERY_S) -> None:
    """Register the janitor on `app`; start its loop (a thread, a greenlet under gevent) if asked."""
    if start:
        start_janitor(app, every_s)


def start_janitor(app: Flask, every_s: float = EVERY_S) -> threading.Thread:
    svc: Services = app.extensions["layso"]
    stop = threading.Event()

    def loop():
        run_janitor(svc)
        while not stop.wait(every_s):
            run_janitor(svc)

    t = threading.Thread(target=loop, name="layso-janitor", daemon=True)
    t.start()
    app.extensions["layso_janitor_stop"] = stop
    return t


def run_janitor(svc: Services) -> None:
    """One round of the janitor's work; a failure is logged, never raised. A fixed number of queries
    whatever the number of centres (`engine.sweep`): commands run only where they have work."""
    try:
        plan = sweep(svc.db, clock.now())
        for cid in plan.lapse:  # before closing: lapses come first
            svc.publish(svc.engine.booking.lapse(cid).events)
        for cid in plan.close:
            svc.publish(svc.engine.close_days(cid).events)
        for cid, openness in plan.openness.items():
            previous = svc.field_openness.get(cid)
            svc.field_openness[cid] = openness
            if previous is not None and previous != openness:
                svc.publish(svc.engine.announce_fields(cid).events)
        if track_alerts(svc.db)["messages"] and getattr(svc, "notifier", None) is not None:
            svc.notifier.wake()  # alerts raised or cleared: their messages are in the outbox
        forget_phones(svc.db)  # citizens' phone numbers are kept no longer than their ticket's day
        presence.refresh(svc)
        disconnect_revoked(svc.db)
    except Exception:
        log.exception("janitor run failed")
