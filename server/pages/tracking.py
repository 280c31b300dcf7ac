"""The public tracking page a citizen opens from the QR code on the ticket: GET /t/<track_token>.

Light for a cheap phone on a slow connection: the page is complete as served (number, field, how
many are ahead, estimated wait, the counter when called, the rating form after service); a small
script then keeps it live through the vendored Socket.IO client (auth {track: token}, public and
stripped events) by re-reading GET /api/v1/track/<token>, and falls back to reading it every 15 s
while the socket is away. The rating scale is the centre's, read from its settings.
"""
from __future__ import annotations

import math

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import gettext as _
from layso.server.auth import base_url, limit
from layso.server.domain.statuses import TicketStatus
from layso.server.engine import Settings
from layso.server.errors import NotFound
from layso.server.queries import centre as centre_queries
from layso.server.services import services

bp = Blueprint("tracking", __name__)

POLL_S = 15
ENDED = (TicketStatus.DONE, TicketStatus.NO_SHOW, TicketStatus.CANCELLED)


@bp.get("/t/<token>")
def page(token: str):
    limit("track-page", 120)
    svc = services()
    cid = svc.engine.centre_of_track(token)
    if cid is None:
        return render_template("track_missing.html"), 404
    try:
        ticket = svc.engine.track(cid, token, base_url=base_url())
    except NotFound:
        return render_template("track_missing.html"), 404
    scale = rating_scale(cid)
    config = {
        "token": token,
        "api": url_for("api.track", token=token),
        "cancel": url_for("api.track_cancel", token=token),
        "rate": url_for("api.track_rating", token=token),
        "socket": url_for("static", filename="vendor/socket.io.min.js"),
        "poll_s": POLL_S,
        "reason_max": scale["reason_max"],
        "timezone": scale.get("timezone", "Asia/Ho_Chi_Minh"),
        "ticket": ticket,
        "texts": js_texts(),
        **_notify_config(cid, token),
    }
    return render_template("track.html", t=ticket, scale=scale, config=config, wait_text=wait_text,
                           status_text=status_text, ended=ENDED)


def _notify_config(centre_id: int, token: str) -> dict:
    """The notification choices of the page (server/notify): channels configured at this centre, and
    for Web Push the service worker and the server's public VAPID key."""
    from layso.server.notify.outbox import page_options
    opts = page_options(services().db, centre_id)
    out = {"notify": opts["channels"], "notify_ahead": opts["ahead"],
           "notify_url": url_for("booking_api.notify", token=token)}
    if "webpush" in opts["channels"]:
        out.update(push_key=services().vapid.public_key, service_worker=url_for("tracking.service_worker"))
    return out


@bp.get("/sw.js")
def service_worker():
    """The service worker that shows Web Push notifications (at the root, so its scope covers the
    tracking pages `/t/…` and the booking pages `/book/…`)."""
    resp = current_app.send_static_file("track/sw.js")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Content-Type"] = "text/javascript; charset=utf-8"
    return resp


def rating_scale(centre_id: int) -> dict:
    """The centre's rating scale: levels best first, the reasons offered for a low score."""
    centre = centre_queries.centre(services().db, centre_id)
    rating = Settings.of(centre).rating
    levels = [lv.model_dump() for lv in sorted(rating.levels, key=lambda lv: -lv.score)]
    return {"levels": levels, "reasons": list(rating.reasons), "reason_max": rating.reason_max,
            "timezone": centre.timezone}


def wait_text(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 60:
        return _("under a minute")
    minutes = int(math.floor(seconds / 60 + 0.5))
    if minutes < 60:
        return _("about %(m)s min", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if minutes:
        return _("about %(h)s h %(m)s min", h=hours, m=minutes)
    return _("about %(h)s h", h=hours)


def status_text(ticket: dict) -> str:
    """The line under the number for a ticket that is no longer waiting."""
    status = ticket.get("status")
    if status == "called":
        return _("Your number has been called.")
    if status == "done":
        return _("Your service is complete. Thank you!")
    if status == "no_show":
        return _("You were not at the counter when your number was called. Please ask the staff.")
    if status == "cancelled":
        return _("This number has been cancelled.")
    return ""


def js_texts() -> dict:
    """The texts the page's script puts together itself ({n}, {m}, {h}, {counter}… are filled in
    by the script)."""
    return {
        "ahead": _("People waiting ahead of you: %(n)s", n="{n}"),
        "nobody_ahead": _("Nobody is waiting ahead of you."),
        "wait": _("Estimated wait: %(wait)s", wait="{wait}"),
        "under_minute": _("under a minute"),
        "minutes": _("about %(m)s min", m="{m}"),
        "hours_minutes": _("about %(h)s h %(m)s min", h="{h}", m="{m}"),
        "hours": _("about %(h)s h", h="{h}"),
        "counters": _("Counters serving this field: %(counters)s", counters="{counters}"),
        "go_to": _("Please go to counter %(counter)s", counter="{counter}"),
        "called_title": _("It is your turn — please go to counter %(counter)s", counter="{counter}"),
        "called": status_text({"status": "called"}),
        "done": status_text({"status": "done"}),
        "no_show": status_text({"status": "no_show"}),
        "cancelled": status_text({"status": "cancelled"}),
        "live": _("Live updates"),
        "polling": _("Updating every %(s)s seconds", s=POLL_S),
        "updated": _("Updated at %(time)s", time="{time}"),
        "offline": _("No connection. Trying again…"),
        "reason_needed": _("Please choose a reason or write a comment."),
        "choose_score": _("Please choose how satisfied you are."),
        "rated": _("Thank you for your rating."),
        "error": _("Something went wrong. Please try again."),
        "notify_done": _("We will send you a message when %(n)s people are ahead of you, and when you are called.", n="{n}"),
        "push_done": _("This phone will show a notification when %(n)s people are ahead of you, and when you are called.", n="{n}"),
        "push_denied": _("Notifications are blocked for this page. Allow them in the browser's settings, or choose SMS."),
        "push_failed": _("This browser could not subscribe to notifications. Please choose another way."),
    }
