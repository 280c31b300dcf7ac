"""Administration pages: fields, counters and the fields each serves, opening hours, the ticker
text, devices (issue and revoke tokens) and accounts.

The page reads and validates the forms (the config's pydantic models); every change is an engine
command (`engine/setup.py`, `engine/accounts.py`, `engine/devices.py`) that checks the centre's
rules, writes to the database — the running truth —, audits and emits its events; after a change
to fields, counters or hours every client of the centre receives a fresh `state`.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.auth import base_url, forget_cached_principals, role_required
from layso.server.domain.accounts import (
    DEVICE_ROLES,
    PROVINCE_ROLE,
    USER_ROLES,
    valid_password,
    valid_pin,
    valid_username,
)
from layso.server.engine.accounts import add_user
from layso.server.engine.devices import add_device
from layso.server.errors import QueueError
from layso.server.messages import error_text
from layso.server.pages import wording
from layso.server.pages.admin_forms import FIELD_LABELS, WEEKDAY_NAMES, Invalid
from layso.server.pages.admin_forms import engine_refusal as _invalid
from layso.server.pages.admin_forms import field_from_form as _field_from_form
from layso.server.pages.admin_forms import field_form_values as _field_form_values
from layso.server.pages.admin_forms import form_int as _int
from layso.server.pages.admin_forms import pydantic_messages as _pydantic_messages
from layso.server.pages.admin_forms import split_list as _split
from layso.server.pages.signin import add_page_link
from layso.server.queries import admin as admin_queries
from layso.server.queries import centre as centre_queries
from layso.server.realtime.guard import emit_to_centre
from layso.server.services import publish, services
from pydantic import ValidationError

from layso.config import WEEKDAYS, CounterConfig, HoursConfig

bp = Blueprint("admin", __name__, url_prefix="/admin")
add_page_link("admin", "admin.page", _l("Administration"))

SECTIONS = (("admin.page", _l("Overview")), ("admin.fields", _l("Fields")), ("admin.counters", _l("Counters")),
            ("admin.hours", _l("Opening hours")), ("admin.ticker", _l("Ticker")), ("admin.devices", _l("Devices")),
            ("admin.accounts", _l("Accounts")), ("remote.settings", _l("Online booking")))


def _run(command, *args, resync: bool = True, **kwargs):
    """Run an engine command for the administrator's centre; publish its events, then send every
    client a fresh state (fields or counters may have come or gone)."""
    svc = services()
    try:
        res = command(g.who.centre_id, *args, user_id=g.who.user_id, **kwargs)
    except QueueError as err:
        raise _invalid(err) from None
    publish(res)
    if resync:
        state = svc.engine.state(g.who.centre_id, base_url=base_url())
        emit_to_centre("state", state, g.who.centre_id)  # devices get it without tracking links
    return res.value


def _page(template: str, status: int = 200, **context):
    return render_template(template, who=g.who, sections=SECTIONS, **context), status


def _centre_code() -> str:
    return centre_queries.centre(services().db, g.who.centre_id).code


@bp.app_template_filter("audit_value")
def audit_value(value) -> str:
    """A value of an audit entry as people read it."""
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(audit_value(v) for v in value)
    return wording.named(wording.AUDIT_VALUES, str(value))


bp.add_app_template_filter(lambda code: wording.named(wording.AUDIT_ACTIONS, code), "audit_action")
bp.add_app_template_filter(lambda key: wording.named(wording.AUDIT_KEYS, key), "audit_key")


# ---- overview ----------------------------------------------------------------------------------------
@bp.get("")
@role_required("admin")
def page():
    with services().db.read() as s:
        return _page("admin_page.html", **admin_queries.overview(s, g.who.centre_id))


# ---- fields -------------------------------------------------------------------------------------------
def _fields_context(s) -> dict:
    return admin_queries.fields(s, g.who.centre_id)


@bp.get("/fields")
@role_required("admin")
def fields():
    with services().db.read() as s:
        return _page("admin_fields.html", **_fields_context(s), form={}, errors=[], editing=None)


@bp.route("/fields/<code>", methods=["GET", "POST"])
@role_required("admin")
def field(code: str):
    """GET: the form for a field (code "new" for a new one); POST: save it."""
    is_new = code == "new"
    form = request.form
    errors: list[str] = []
    if request.method == "POST":
        try:
            new_code = form.get("code", "").strip() if is_new else code
            cfg = _field_from_form(form, new_code)
            serving = [int(n) for n in form.getlist("counters") if n.isdigit()]
            # a new field's first counter can be made here too (a counter needs a field to exist)
            new_counter = _int(form, "new_counter_number", _("Number of the new counter"))
            if new_counter is not None and not 1 <= new_counter <= 9999:
                raise Invalid([_("A counter number is from 1 to 9999.")])
            _run(services().engine.save_field, cfg, is_new, form.get("active") == "on" or is_new,
                 _int(form, "position", _("Order")), serving,
                 new_counter=(new_counter, form.get("new_counter_name", "").strip()[:100]) if new_counter else None)
            flash(_("Field %(name)s saved.", name=cfg.name), "ok")
            return redirect(url_for("admin.fields"))
        except Invalid as err:
            errors = err.messages
    with services().db.read() as s:
        ctx = _fields_context(s)
        current = next((f for f in ctx["fields"] if f.code == code), None)
        if not is_new and current is None:
            return _page("admin_fields.html", 404, **ctx, form={}, errors=[_("This field does not exist.")],
                         editing=None)
        if request.method == "POST":
            values = {**form.to_dict(), "counters": form.getlist("counters")}
        else:
            values = _field_form_values(current, ctx["served"][current.id]) if current else {"accepting": "on"}
        return _page("admin_fields.html", 400 if errors else 200, **ctx, form=values, errors=errors,
                     editing=current or "new")


# ---- counters -----------------------------------------------------------------------------------------
def _counters_context(s) -> dict:
    return admin_queries.counters(s, g.who.centre_id)


@bp.get("/counters")
@role_required("admin")
def counters():
    with services().db.read() as s:
        return _page("admin_counters.html", **_counters_context(s), form={}, errors=[], editing=None)


@bp.route("/counters/<key>", methods=["GET", "POST"])
@role_required("admin")
def counter(key: str):
    is_new = key == "new"
    if not is_new and not key.isdigit():
        key = "0"
    form = request.form
    errors: list[str] = []
    if request.method == "POST":
        try:
            number = _int(form, "number", FIELD_LABELS["number"], required=True) if is_new else int(key)
            try:
                cfg = CounterConfig.model_validate({"number": number, "name": form.get("name", ""),
                                                    "fields": form.getlist("fields"),
                                                    "priority_only": form.get("priority_only") == "on"})
            except ValidationError as err:
                raise Invalid(_pydantic_messages(err)) from None
            _run(services().engine.save_counter, cfg, is_new, form.get("active") == "on" or is_new)
            flash(_("Counter %(n)s saved.", n=cfg.number), "ok")
            return redirect(url_for("admin.counters"))
        except Invalid as err:
            errors = err.messages
    with services().db.read() as s:
        ctx = _counters_context(s)
        current = next((c for c in ctx["counters"] if str(c.number) == key), None)
        if not is_new and current is None:
            return _page("admin_counters.html", 404, **ctx, form={}, errors=[_("This counter does not exist.")],
                         editing=None)
        if request.method == "POST":
            values = {**form.to_dict(), "fields": form.getlist("fields")}
        elif current is not None:
            values = {"number": current.number, "name": current.name, "fields": [f.code for f in current.fields],
                      "priority_only": "on" if current.priority_only else "", "active": "on" if current.active else ""}
        else:
            values = {"active": "on"}
        return _page("admin_counters.html", 400 if errors else 200, **ctx, form=values, errors=errors,
                     editing=current or "new")


# ---- hours --------------------------------------------------------------------------------------------
@bp.route("/hours", methods=["GET", "POST"])
@role_required("admin")
def hours():
    errors: list[str] = []
    form = request.form
    if request.method == "POST":
        data = {day: _split(form.get(day, "")) for day in WEEKDAYS}
        data["holidays"] = _split(form.get("holidays", ""))
        data["makeup_days"] = _split(form.get("makeup_days", ""))
        data["makeup_weekday"] = form.get("makeup_weekday", "mon")
        try:
            data["early_issue_minutes"] = _int(form, "early_issue_minutes", FIELD_LABELS["early_issue_minutes"]) or 0
            try:
                cfg = HoursConfig.model_validate(data)
            except ValidationError as err:
                raise Invalid(_pydantic_messages(err)) from None
            _run(services().engine.save_hours, cfg.model_dump(mode="json"))
            flash(_("Opening hours saved."), "ok")
            return redirect(url_for("admin.hours"))
        except Invalid as err:
            errors = err.messages
    current = centre_queries.centre(services().db, g.who.centre_id).settings["hours"]
    if request.method == "POST":
        values = form.to_dict()
    else:
        values = {day: ", ".join(current.get(day, [])) for day in WEEKDAYS}
        values.update({"holidays": "\n".join(current.get("holidays", [])),
                       "makeup_days": "\n".join(current.get("makeup_days", [])),
                       "makeup_weekday": current.get("makeup_weekday", "mon"),
                       "early_issue_minutes": current.get("early_issue_minutes", 30)})
    return _page("admin_hours.html", 400 if errors else 200, form=values, errors=errors,
                 weekdays=[(d, WEEKDAY_NAMES[d]) for d in WEEKDAYS])


# ---- ticker -------------------------------------------------------------------------------------------
@bp.route("/ticker", methods=["GET", "POST"])
@role_required("admin")
def ticker():
    svc = services()
    errors: list[str] = []
    if request.method == "POST":
        text = request.form.get("ticker", "")
        try:
            publish(svc.engine.set_ticker(g.who.centre_id, text, user_id=g.who.user_id))
            flash(_("Ticker text saved."), "ok")
            return redirect(url_for("admin.ticker"))
        except QueueError:
            errors = [_("The ticker text can have at most 500 characters.")]
    current = centre_queries.centre(svc.db, g.who.centre_id).ticker
    return _page("admin_ticker.html", 400 if errors else 200, ticker=request.form.get("ticker", current),
                 errors=errors)


# ---- devices ------------------------------------------------------------------------------------------
def _devices_context(s) -> dict:
    return {**admin_queries.devices(s, g.who.centre_id), "device_roles": DEVICE_ROLES,
            "role_names": {k: str(v) for k, v in wording.DEVICE_ROLE_NAMES.items()}}


@bp.route("/devices", methods=["GET", "POST"])
@role_required("admin")
def devices():
    svc = services()
    errors: list[str] = []
    token = None
    form = request.form
    if request.method == "POST":
        role = form.get("role", "")
        name = form.get("name", "").strip()
        try:
            if role not in DEVICE_ROLES:
                raise Invalid([_("Choose the type of device.")])
            if not name:
                raise Invalid([_("%(label)s is required.", label=_("Name"))])
            counter = _int(form, "counter", _("Counter")) if role == "counter" else None
            if role == "counter" and counter is None:
                raise Invalid([_("A counter panel needs the number of its counter.")])
            zone_fields = form.getlist("zone_fields") if role == "display" else []
            zone_counters = [int(n) for n in _split(form.get("zone_counters", "")) if n.isdigit()] \
                if role == "display" else []
            token = add_device(svc.db, role, name, _centre_code(), counter, zone_fields or None, zone_counters or None,
                               user_id=g.who.user_id)
        except Invalid as err:
            errors = err.messages
        except QueueError as err:
            errors = [error_text(err.code)]
    with svc.db.read() as s:
        ctx = _devices_context(s)
    status = 400 if errors else (201 if token else 200)
    return _page("admin_devices.html", status, **ctx, errors=errors, token=token,
                 form={**form.to_dict(), "zone_fields": form.getlist("zone_fields")} if errors else {},
                 issued_name=form.get("name") if token else None)


@bp.post("/devices/<int:device_id>/revoke")
@role_required("admin")
def revoke_device(device_id: int):
    try:
        name = _run(services().engine.revoke_device, device_id, resync=False)
        forget_cached_principals()  # other processes drop it within auth.PRINCIPAL_TTL_S
        flash(_("The token of %(name)s no longer works.", name=name), "ok")
    except Invalid as err:
        flash(err.messages[0], "error")
    return redirect(url_for("admin.devices"))


# ---- accounts -----------------------------------------------------------------------------------------
def _accounts_context(s) -> dict:
    # province administrators are managed on the province pages, never by a centre's administrator
    return {"users": admin_queries.accounts(s, g.who.centre_id, PROVINCE_ROLE),
            "roles": [(r, str(wording.ROLE_NAMES[r])) for r in USER_ROLES]}


@bp.route("/accounts", methods=["GET", "POST"])
@role_required("admin")
def accounts():
    svc = services()
    errors: list[str] = []
    form = request.form
    if request.method == "POST":
        username = form.get("username", "").strip()
        pin = form.get("pin", "").strip() or None
        try:
            if not valid_username(username):
                raise Invalid([_("A username has 1 to 64 letters, digits, dots, dashes or underscores.")])
            if not valid_password(form.get("password", "")):
                raise Invalid([_("The password needs at least 8 characters.")])
            if form.get("password", "") != form.get("password2", ""):
                raise Invalid([_("The two passwords differ.")])
            if pin is not None and not valid_pin(pin):
                raise Invalid([_("A PIN is 4 to 12 digits.")])
            if form.get("role", "") not in USER_ROLES:
                raise Invalid([_("Unknown role.")])
            add_user(svc.db, username, form.get("role", ""), form.get("password", ""), _centre_code(),
                     full_name=form.get("full_name", "").strip()[:120], pin=pin, user_id=g.who.user_id)
            flash(_("Account %(name)s added.", name=username), "ok")
            return redirect(url_for("admin.accounts"))
        except Invalid as err:
            errors = err.messages
        except QueueError as err:
            errors = [error_text(err.code)]
    with svc.db.read() as s:
        ctx = _accounts_context(s)
    return _page("admin_accounts.html", 400 if errors else 200, **ctx, errors=errors,
                 form={k: v for k, v in form.to_dict().items() if "password" not in k and k != "pin"})


@bp.post("/accounts/<int:user_id>")
@role_required("admin")
def account(user_id: int):
    """Change an account: activate or deactivate, role, name, password or PIN."""
    form = request.form
    action = form.get("action", "")
    password, pin = form.get("password", ""), form.get("pin", "").strip()
    try:
        if action == "password" and not valid_password(password):
            raise Invalid([_("The password needs at least 8 characters.")])
        if action == "pin" and pin and not valid_pin(pin):
            raise Invalid([_("A PIN is 4 to 12 digits.")])
        name = _run(services().engine.change_account, user_id, action, resync=False,
                    password=password if action == "password" else None, pin=pin if action == "pin" else None,
                    role=form.get("role", ""), full_name=form.get("full_name"))
        flash(_("Account %(name)s changed.", name=name), "ok")
    except Invalid as err:
        flash(err.messages[0], "error")
    return redirect(url_for("admin.accounts"))
