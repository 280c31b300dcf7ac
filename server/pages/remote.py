"""The manager's page of the remote channel (/manage/remote): today's bookings per field (booked,
checked in, lapsed, cancelled; the lapse rate) and the notification outbox (sent, waiting, failed and
why). Read-only; the settings themselves are in the centre's configuration."""
from __future__ import annotations

from flask import Blueprint, g, render_template
from layso.server.auth import role_required
from layso.server.notify.outbox import outbox_view
from layso.server.services import services

bp = Blueprint("remote", __name__)


@bp.get("/manage/remote")
@role_required("manager")
def page():
    svc = services()
    summary = svc.engine.booking.day_summary(g.who.centre_id)
    outbox = outbox_view(svc.db, g.who.centre_id, limit=100)
    return render_template("remote.html", who=g.who, s=summary, outbox=outbox)
