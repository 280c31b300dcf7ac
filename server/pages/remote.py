"""The remote channel's staff pages: the manager's view (/manage/remote: today's bookings per field —
booked, checked in, lapsed, cancelled, the lapse rate — and the notification outbox: sent, waiting,
failed and why) and the administrator's booking settings (/admin/booking)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from layso.server.auth import role_required
from layso.server.errors import QueueError
from layso.server.notify.outbox import outbox_view
from layso.server.pages import wording
from layso.server.pages.province_wording import delivery_reason
from layso.server.queries import centre as centre_queries
from layso.server.services import services
from pydantic import ValidationError

from layso.config import BookingConfig

bp = Blueprint("remote", __name__)
for _table, _name in ((wording.NOTIFY_KINDS, "notify_kind"), (wording.NOTIFY_STATUSES, "notify_status"),
                      (wording.NOTIFY_CHANNELS, "notify_channel")):
    bp.add_app_template_filter(lambda code, table=_table: wording.named(table, code), _name)


@bp.app_template_global()
def bookings_today() -> dict:
    """For the manager's live view: today's bookings per field code → {booked, checked_in, lapsed, total}."""
    who = g.get("who")
    if who is None:
        return {}
    out = {}
    for f in services().engine.booking.day_summary(who.centre_id)["fields"]:
        both = {k: f["number"][k] + f["appointment"][k] for k in f["number"]}
        out[f["code"]] = {**both, "total": sum(both.values()) - both["cancelled"]}
    return out


@bp.get("/manage/remote")
@role_required("manager")
def page():
    svc = services()
    summary = svc.engine.booking.day_summary(g.who.centre_id)
    outbox = outbox_view(svc.db, g.who.centre_id, limit=100)
    return render_template("remote.html", who=g.who, s=summary, outbox=outbox, delivery_reason=delivery_reason)


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


def _numbers(text: str) -> dict[str, int]:
    """"code=number" lines → {code: number}; ValueError on a bad line."""
    out = {}
    for line in _lines(text):
        code, _sep, n = line.partition("=")
        out[code.strip()] = int(n)
    return out


@bp.route("/admin/booking", methods=["GET", "POST"])
@role_required("admin")
def settings():
    from layso.server.pages.admin import SECTIONS
    svc = services()
    errors: list[str] = []
    form = request.form
    if request.method == "POST":
        try:
            data = {"enabled": form.get("enabled") == "on", "hours": _lines(form.get("hours", "")),
                    "horizon_days": int(form.get("horizon_days") or 0),
                    "online_share": float(form.get("online_share") or 0),
                    "field_caps": _numbers(form.get("field_caps", "")), "closed_fields": _lines(form.get("closed_fields", "")),
                    "per_citizen_daily": int(form.get("per_citizen_daily") or 0),
                    "lapse_at": form.get("lapse_at", "").strip() or None,
                    "lapse_after_call_min": int(form["lapse_after_call_min"]) if form.get("lapse_after_call_min") else None,
                    "appointment_fields": _lines(form.get("appointment_fields", "")),
                    "slot_minutes": int(form.get("slot_minutes") or 0),
                    "slot_capacity": _numbers(form.get("slot_capacity", "")),
                    "check_in_before_min": int(form.get("check_in_before_min") or 0),
                    "check_in_after_min": int(form.get("check_in_after_min") or 0)}
            cfg = BookingConfig.model_validate(data)
            svc.engine.booking.save_settings(g.who.centre_id, cfg.model_dump(mode="json"), user_id=g.who.user_id)
            flash(_("Online booking settings saved."), "ok")
            return redirect(url_for("remote.settings"))
        except ValueError as err:  # pydantic's ValidationError is a ValueError too
            errors = [_("Please check the values: %(detail)s", detail=_detail(err))]
        except QueueError as err:
            errors = [_("Please check the values: %(detail)s", detail=err.message)]
    current = BookingConfig.model_validate(centre_queries.centre(svc.db, g.who.centre_id).settings.get("booking", {}))
    fields = centre_queries.field_choices(svc.db, g.who.centre_id)
    values = form.to_dict() if request.method == "POST" else {
        "enabled": current.enabled, "hours": ", ".join(current.hours), "horizon_days": current.horizon_days,
        "online_share": current.online_share, "field_caps": "\n".join(f"{k}={v}" for k, v in current.field_caps.items()),
        "closed_fields": ", ".join(current.closed_fields), "per_citizen_daily": current.per_citizen_daily,
        "lapse_at": current.lapse_at or "", "lapse_after_call_min": current.lapse_after_call_min or "",
        "appointment_fields": ", ".join(current.appointment_fields), "slot_minutes": current.slot_minutes,
        "slot_capacity": "\n".join(f"{k}={v}" for k, v in current.slot_capacity.items()),
        "check_in_before_min": current.check_in_before_min, "check_in_after_min": current.check_in_after_min}
    if request.method == "POST":
        values["enabled"] = form.get("enabled") == "on"
    return render_template("admin_booking.html", who=g.who, sections=SECTIONS, form=values, errors=errors,
                           fields=fields), 400 if errors else 200


def _detail(err: ValueError) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"].removeprefix("Value error, ")
                         for e in err.errors())
    return str(err)
