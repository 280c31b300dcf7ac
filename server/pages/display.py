"""The lobby display as a web page (`/display`) for smart TVs with a browser.

A TV opens `/display?token=DEVICE_TOKEN` (a display device's token, checked here and passed to
Socket.IO as auth) or is signed in as staff. The page draws the same board as the pygame display
from the `state` snapshot and events, and plays each call's announcement after a chime: the
server renders the sentence with the espeak-ng voice (cached on disk) at `/display/audio.wav`.
"""
from __future__ import annotations

import re
import threading
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.voice import TICKET_NUMBER, Voice, announcement_text, chime_wav, make_voice, voice_settings
from layso.server.auth import (
    DISPLAY_SESSION_KEY,
    Principal,
    current_principal,
    device_principal,
    display_of_session,
)
from layso.server.domain.accounts import hash_token
from layso.server.messages import error_body
from layso.server.pages.signin import add_page_link
from layso.server.queries import centre as centre_queries
from layso.server.services import services

bp = Blueprint("display_page", __name__)
add_page_link("staff", "display_page.page", _l("Lobby display (web)"))

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_voices: dict[int, Voice] = {}
_render_lock = threading.Lock()  # one espeak-ng at a time: several TVs ask for the same call at once


def viewer() -> Principal | None:
    """A display device (its token in the query, or remembered by this browser's session since the
    page was opened with it) or a signed-in user; None otherwise."""
    token = request.args.get("token")
    if token is not None:
        who = device_principal(services().db, token)
        return who if who is not None and who.role == "display" else None
    who = display_of_session()
    if who is not None:
        return who
    who = current_principal()
    return who if who is not None and (who.is_user or who.role == "display") else None


def _zone(who: Principal) -> dict:
    return {"fields": list(who.zone_fields) if who.zone_fields else None,
            "counters": list(who.zone_counters) if who.zone_counters else None}


@bp.get("/display")
def page():
    who = viewer()
    if who is None:
        if "token" in request.args:
            return render_template("display_refused.html"), 401
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    if "token" in request.args:
        # Remember the display in this browser's session and show a clean URL: the token (which
        # receives every event of the centre) stays out of the address bar, history and referrers.
        session[DISPLAY_SESSION_KEY] = hash_token(request.args["token"])
        resp = redirect(url_for("display_page.page"))
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp
    config = {
        "zone": _zone(who),
        "chime": url_for("display_page.chime"),
        "audio": url_for("display_page.audio"),
        "locale": "en-GB" if str(get_locale()) == "en" else "vi-VN",
        "texts": {
            "call": _("NOW CALLING NUMBER"), "recall": _("RECALL — NOW CALLING NUMBER"),
            "callLine": _("%(number)s — COUNTER %(counter)s", number="{number}", counter="{counter}"),
            "noCall": _("NO CALL YET"), "noCallHint": _("Please take a number at the ticket machine"),
            "recentCounter": _("Counter %(counter)s", counter="{counter}"), "none": _("None yet"),
            "idle": _("Waiting for the next call"), "paused": _("Paused"), "closed": _("Closed"),
            "priority": _("Priority"), "page": _("Page %(page)s/%(pages)s", page="{page}", pages="{pages}"),
            "field_closed": _("Not accepting now"), "outside_hours": _("Outside working hours"),
            "daily_cap_reached": _("No numbers left today"), "noCounters": _("No counters yet"),
            "noFields": _("No fields yet"),
            "appointmentRule": _("Citizens with an appointment who check in within their time slot are served "
                                 "before walk-in numbers taken after the slot began."),
        },
    }
    return render_template("display.html", config=config)


@bp.get("/display/chime.wav")
def chime():
    resp = Response(chime_wav(), mimetype="audio/wav")
    resp.cache_control.public = True
    resp.cache_control.max_age = 86400
    return resp


def _voice(speed: int) -> Voice:
    voice = _voices.get(speed)
    if voice is None:
        voice = _voices[speed] = make_voice("espeak", speed=speed)
    return voice


@bp.get("/display/audio.wav")
def audio():
    """The announcement of one call as WAV: ?number=1005&counter=3[&field=CODE] (token or session)."""
    who = viewer()
    if who is None:
        return jsonify(error_body("unauthorized")), 401
    services().limiter.hit(("display-audio", request.remote_addr), 600)
    number = request.args.get("number", "").strip().upper()
    counter = request.args.get("counter", "")
    field = request.args.get("field", "")
    if not TICKET_NUMBER.match(number) or not counter.isdigit() or not 1 <= int(counter) <= 9999 \
            or (field and not CODE.match(field)):
        return jsonify(error_body("bad_request")), 400
    db = services().db
    settings = centre_queries.centre(db, who.centre_id).settings
    field_name = centre_queries.field_name(db, who.centre_id, field) if field else None
    v = voice_settings((settings or {}).get("voice"))
    text = announcement_text(number, int(counter), v.template, v.read_digits, field=field_name, use_tu=v.use_tu,
                             odd_word=v.odd_word, thousand_word=v.thousand_word)
    voice = _voice(v.speed)
    if not voice.enabled:
        return jsonify(error_body("voice_unavailable", _("No voice on this server (espeak-ng is missing)."))), 503
    with _render_lock:
        path = voice.render(text)
    resp = send_file(path, mimetype="audio/wav", max_age=3600)
    resp.headers["X-Announcement"] = quote(text)
    return resp
