"""The province administrator's alerts page (/province/alerts): who is told of the overview's alerts
(mobile numbers through an SMS or Zalo gateway, a signed webhook), which alerts, after how long,
with which texts — and what was sent: the alert messages' sent / waiting / failed counts and why,
and the latest alerts with when they started, were raised and ended (`notify.alerts`).

GET  /province/alerts    the settings, the messages and the alerts
POST /province/alerts    save the settings (a blank secret or token keeps the saved one)
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.auth import PROVINCE_ROLE, role_required
from layso.server.notify.alerts import alerts_config, alerts_view, save_alerts_config
from layso.server.pages import wording
from layso.server.pages.province_wording import delivery_reason
from layso.server.services import services
from pydantic import ValidationError

from layso.config import ALERT_KINDS, AlertsConfig

bp = Blueprint("province_alerts", __name__, url_prefix="/province/alerts")

KIND_NAMES = {"wait_over_target": _l("A wait past the target"), "paper_out": _l("A kiosk out of paper"),
              "display_offline": _l("A lobby screen offline")}
MESSAGE_KINDS, STATUS_NAMES = wording.NOTIFY_KINDS, wording.NOTIFY_STATUSES
# what was wrong with the form, by the setting's name
PROBLEMS = {
    "webhook.url": _l("The webhook's address must start with http:// or https://."),
    "webhook.secret": _l("The webhook's secret needs 16 to 500 characters."),
    "gateway.url": _l("The gateway's address must start with http:// or https://."),
    "gateway.token": _l("The gateway's token is too long."),
    "to": _l("A mobile number is not a Vietnamese mobile number (10 digits from 03, 05, 07, 08 or 09)."),
    "grace_s": _l("The time to wait before telling is 0 to 3600 seconds."),
    "templates": _l("A text may use only {centre}, {area}, {field}, {wait}, {target}, {device}, {since} and {alert}."),
    "recipients": _l("Mobile numbers need a gateway to be sent through."),
}


bp.add_app_template_filter(delivery_reason, "delivery_reason")


@bp.app_template_filter("province_time")
def province_time(at) -> str:
    """An instant as the province reads it: dd/mm/yyyy HH:MM in Vietnam's time."""
    from zoneinfo import ZoneInfo
    return at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M") if at else ""


def _problems(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not isinstance(p, int))
        key = "templates" if loc.endswith("_template") else ("recipients" if not loc else loc)
        text = str(PROBLEMS.get(key, _("The setting %(name)s is not valid.", name=loc)))
        if text not in out:
            out.append(text)
    return out


def _form_config(form, saved: AlertsConfig) -> dict:
    """The settings as the form sent them (a blank secret or token keeps the saved one)."""
    data: dict = {"gateway_channel": form.get("gateway_channel", "sms"), "on_clear": form.get("on_clear") == "1",
                  "kinds": [k for k in form.getlist("kinds") if k in ALERT_KINDS],
                  "to": [x.strip() for x in form.get("to", "").replace(",", "\n").splitlines() if x.strip()],
                  "max_attempts": saved.max_attempts}
    grace = form.get("grace_s", "").strip()
    data["grace_s"] = int(grace) if grace.isdigit() else -1
    for name in ("wait_template", "paper_template", "offline_template", "cleared_template"):
        data[name] = form.get(name, "").strip()
    url = form.get("webhook_url", "").strip()
    if url:
        secret = form.get("webhook_secret", "").strip() or (saved.webhook.secret if saved.webhook else "")
        data["webhook"] = {"url": url, "secret": secret}
    url = form.get("gateway_url", "").strip()
    if url:
        token = form.get("gateway_token", "").strip() or (saved.gateway.token if saved.gateway else "")
        data["gateway"] = {"url": url, "token": token}
    return data


@bp.route("", methods=["GET", "POST"])
@role_required(PROVINCE_ROLE)
def page():
    db = services().db
    saved = alerts_config(db)
    errors: list[str] = []
    shown = saved.model_dump(mode="json")
    if request.method == "POST":
        data = _form_config(request.form, saved)
        try:
            save_alerts_config(db, AlertsConfig.model_validate(data))
            flash(_("The alerts settings were saved."), "ok")
            return redirect(url_for("province_alerts.page"))
        except ValidationError as err:
            errors = _problems(err)
            shown = {**shown, **data, "webhook": data.get("webhook"), "gateway": data.get("gateway")}
    view = alerts_view(db)
    return render_template("province_alerts.html", who=g.who, errors=errors, cfg=shown,
                           kinds=[(k, str(v)) for k, v in KIND_NAMES.items()], view=view,
                           kind_names={k: str(v) for k, v in KIND_NAMES.items()},
                           message_kinds={k: str(v) for k, v in MESSAGE_KINDS.items()},
                           status_names={k: str(v) for k, v in STATUS_NAMES.items()}), 400 if errors else 200
