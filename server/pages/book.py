"""The public, phone-first booking page: GET /book (choose a field and a day, take a number) and the
booking's receipt GET /book/<token> (the number, the short code, the QR to scan at the kiosk, the
time to check in by, the link to follow the queue).

No app and no account; nothing personal is asked. The form works without JavaScript: it posts to
/book (CSRF-protected), which books through the same engine command as POST /api/v1/bookings and
counts the citizen by the browser's `layso_citizen` cookie.
"""
from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from layso.server.api.booking import citizen_of_request, public_centre, set_citizen_cookie
from layso.server.auth import base_url, limit
from layso.server.errors import QueueError
from layso.server.messages import error_text
from layso.server.services import publish, services
from markupsafe import Markup

bp = Blueprint("book", __name__)


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code (scales to any screen; nothing to download)."""
    import qrcode  # here, not at the top: a server nobody books on does not carry it (nor Pillow)
    import qrcode.image.svg
    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2,
                      error_correction=qrcode.constants.ERROR_CORRECT_M)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode()
    svg = svg[svg.index("<svg"):]
    return Markup(svg.replace("<svg ", '<svg role="img" aria-label="QR" class="b-qr-svg" ', 1))


def day_label(day: str, today: str) -> str:
    d = date.fromisoformat(day)
    if day == today:
        return _("Today, %(date)s", date=format_date(d, "dd/MM"))
    return format_date(d, "EEEE dd/MM")


def form_page(options: dict, chosen: dict | None = None, error: str | None = None, status: int = 200):
    days = sorted({d["day"] for f in options["fields"] for d in f["days"]})
    chosen = chosen or {}
    slots = None  # a field with appointments: the second step offers its slots of the chosen day
    if chosen.get("pick_slot"):
        f = next((f for f in options["fields"] if f["code"] == chosen.get("field")), None)
        d = next((d for d in (f or {}).get("days", []) if d["day"] == chosen.get("day")), None)
        slots = [s for s in (d or {}).get("slots") or [] if s["free"] > 0]
        chosen["field_name"] = f["name"] if f else ""
        chosen["free_numbers"] = d["free"] if d else 0
    return render_template("book.html", o=options, days=days, day_label=day_label, chosen=chosen,
                           slots=slots, error=error), status


@bp.get("/book")
def page():
    limit("book-page", 120)
    options = services().engine.booking.options(public_centre())
    return form_page(options)


@bp.post("/book")
def submit():
    limit("booking", 60)
    cid = public_centre()
    engine = services().engine
    field = request.form.get("field") or ""
    day = request.form.get("day") or None
    slot = request.form.get("slot") or None
    chosen = {"field": field, "day": day}
    if not field:
        return form_page(engine.booking.options(cid), chosen, _("Please choose a field."), 400)
    options = engine.booking.options(cid)
    takes_slots = any(f["code"] == field and any(d["slots"] is not None for d in f["days"]) for f in options["fields"])
    if takes_slots and "slot" not in request.form:  # second step: a time slot, or a number without one
        return form_page(options, {**chosen, "day": day or options["today"], "pick_slot": True})
    if slot == "none":
        slot = None
    try:
        key, new_cookie = citizen_of_request(None)
        res = publish(engine.booking.book(cid, field, day=day, slot=slot, citizen_key=key, base_url=base_url()))
    except QueueError as err:
        status = err.status if err.status in (400, 404, 409, 429) else 400
        return form_page(engine.booking.options(cid), chosen, error_text(err.code, err.message), status)
    token = res.value["track_url"].rsplit("/", 1)[1]
    return set_citizen_cookie(make_response(redirect(url_for("book.receipt", token=token), 303)), new_cookie)


@bp.get("/book/<token>")
def receipt(token: str):
    limit("track-page", 120)
    engine = services().engine
    cid = engine.booking.centre_of_token(token)
    b = engine.booking.by_token(cid, token, base_url=base_url()) if cid is not None else None
    if b is None:
        return render_template("track_missing.html"), 404
    scan = f"{base_url()}/book/{token}?c={b['code']}"
    return render_template("book_receipt.html", b=b, qr=qr_svg(scan), day_label=day_label, token=token,
                           today=b["today"], track=url_for("tracking.page", token=token) if b.get("ticket") else None,
                           error=error_text(request.args["error"]) if request.args.get("error") else None)


def _booking_action(token: str, action):
    limit("track-write", 30)
    engine = services().engine
    cid = engine.booking.centre_of_token(token)
    if cid is None:
        return render_template("track_missing.html"), 404
    try:
        publish(action(engine, cid))
    except QueueError as err:
        return redirect(url_for("book.receipt", token=token, error=err.code), 303)
    return redirect(url_for("book.receipt", token=token), 303)


@bp.post("/book/<token>/cancel")
def cancel(token: str):
    return _booking_action(token, lambda e, cid: e.booking.cancel(cid, token, base_url=base_url()))


@bp.post("/book/<token>/move")
def move(token: str):
    slot = request.form.get("slot") or ""
    return _booking_action(token, lambda e, cid: e.booking.reschedule(cid, token, slot=slot, base_url=base_url()))
