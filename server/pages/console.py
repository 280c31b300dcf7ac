"""The staff console: an officer at a PC works one counter from the browser.

GET /console shows the counter picker until the officer has a counter (chosen at /login, or here
through POST /console/counter, which signs the officer in at that counter like the login form
does), then the console: the current citizen and the commands (next, recall, skip, complete with
the dossier code, pause with a reason, resume, transfer to a field or a counter, call a given
number, grant priority, close the counter), the live queue of the counter's fields and today's
figures at the counter. The page sends its commands to the REST API with the session cookie and
the X-CSRFToken header, listens to Socket.IO with the same cookie, and reloads GET /console/data
when something changes.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.auth import Principal, base_url, current_principal
from layso.server.errors import QueueError
from layso.server.messages import error_body
from layso.server.pages.signin import add_page_link
from layso.server.queries.console import console_options, console_snapshot
from layso.server.services import publish, services

bp = Blueprint("console", __name__)
add_page_link("staff", "console.page", _l("Counter console"))


def _officer() -> Principal | None:
    who = current_principal()
    return who if who is not None and who.is_user else None


def _to_login():
    return redirect(url_for("web.login", next=url_for("console.page")))


@bp.get("/console")
def page():
    who = _officer()
    if who is None:
        return _to_login()
    options = console_options(services().db, who.centre_id)
    if who.counter is None or request.args.get("pick"):
        return render_template("console_pick.html", who=who, options=options, error=None)
    return render_template("console.html", who=who, options=options, texts=page_texts())


@bp.post("/console/counter")
def choose_counter():
    who = _officer()
    if who is None:
        return _to_login()
    svc = services()
    text = request.form.get("counter", "").strip()
    error = None
    if not text.isdigit() or len(text) > 6:
        error = _("The counter must be a number.")
    else:
        try:
            publish(svc.engine.sign_in(who.centre_id, int(text), who.user_id, base_url=base_url()))
            session["counter"] = int(text)
        except QueueError:
            error = _("This counter does not exist.")
    if error:
        options = console_options(svc.db, who.centre_id)
        return render_template("console_pick.html", who=who, options=options, error=error), 400
    return redirect(url_for("console.page"))


@bp.get("/console/data")
def data():
    who = _officer()
    if who is None:
        return jsonify(error_body("unauthorized")), 401
    if who.counter is None:
        return jsonify(error_body("forbidden")), 403
    snapshot = console_snapshot(services().engine, who.centre_id, who.counter)
    if snapshot is None:
        return jsonify(error_body("counter_not_found")), 404
    return jsonify(snapshot)


# The texts the page's script shows (placeholders %(name)s), translated for each request.
PAGE_TEXTS = {
    "next": _l("Called number %(number)s."),
    "next_empty": _l("Nobody is waiting for this counter."),
    "recall": _l("Called number %(number)s again."),
    "skip": _l("Number %(number)s was absent and goes back to the queue."),
    "skip_no_show": _l("Number %(number)s was absent: marked as no-show."),
    "complete": _l("Number %(number)s completed."),
    "complete_dossier": _l("Number %(number)s completed, dossier %(dossier)s."),
    "pause": _l("The counter is paused."),
    "resume": _l("The counter serves again."),
    "transfer_field": _l("Number %(number)s transferred to %(target)s."),
    "transfer_counter": _l("Number %(number)s transferred to counter %(target)s."),
    "call": _l("Called number %(number)s."),
    "priority": _l("Number %(number)s now has priority."),
    "close": _l("The counter is closed. Good work today!"),
    "failed": _l("The server could not do this. Please try again."),
    "offline": _l("Connection lost. Reconnecting…"),
    "live": _l("Live"),
    "status_open": _l("Open"),
    "status_paused": _l("Paused"),
    "status_closed": _l("Closed"),
    "paused_because": _l("Paused: %(reason)s"),
    "nobody": _l("Nobody at the counter"),
    "no_officer": _l("No officer signed in"),
    "called_at": _l("called at %(time)s"),
    "calls": _l("called %(count)s times"),
    "waiting_total": _l("%(count)s waiting"),
    "queue_empty": _l("Nobody is waiting."),
    "to_counter": _l("Transferred to this counter"),
    "transferred": _l("Transferred"),
    "call_this": _l("Call"),
    "give_priority": _l("Priority"),
    "seconds": _l("%(n)s s"),
    "minutes": _l("%(n)s min"),
    "score_mean": _l("mean score %(score)s"),
    "choose_target": _l("Choose a field or a counter."),
    "enter_number": _l("Enter a ticket number."),
    "enter_code": _l("Enter the booking code (6 to 8 letters and digits)."),
    "checked_in": _l("Booking checked in: number %(number)s is in the queue."),
    "confirm_close": _l("Close the counter and end your shift?"),
    "reprint": _l("Reprint"),
    "reprint_sent": _l("Number %(number)s was sent to the kiosk that issued it; waiting for the kiosk to print it…"),
    "reprint_done": _l("Number %(number)s was printed again at kiosk %(name)s."),
    "reprint_failed": _l("Number %(number)s was NOT printed again: kiosk %(name)s reports %(problem)s. "
                         "Write the number down for the citizen, or reprint once the printer is fixed."),
    "reprint_silent": _l("Kiosk has not confirmed printing number %(number)s: it may be off or disconnected. "
                         "Please check the kiosk."),
    "fault_unknown": _l("a printer fault"),
    "kiosk_fault": _l("Kiosk %(name)s: %(problem)s"),
    "fault_paper_out": _l("printer out of paper"),
    "fault_cover_open": _l("printer cover open"),
    "fault_offline": _l("printer not connected"),
    "fault_away": _l("not connected to the server"),
}
# errors the page words itself; other errors come in the page's language from the server
PAGE_ERRORS = {
    "server_away": _l("The server cannot be reached. Check the network connection, then try again."),
    "no_officer": _l("Nobody is signed in at this counter, so it cannot call. Choose your counter again "
                     "(Change counter) to serve from it."),
}


def page_texts() -> dict:
    """The texts the page's script shows, in the request's language."""
    return {**{key: str(text) for key, text in PAGE_TEXTS.items()},
            "errors": {key: str(text) for key, text in PAGE_ERRORS.items()}}
