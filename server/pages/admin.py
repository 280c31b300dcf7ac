"""Administration pages: fields, counters and the fields each serves, opening hours, the ticker
text, devices (issue and revoke tokens) and accounts.

The page reads and validates the forms (the config's pydantic models); every change is an engine
command (`engine/setup.py`, `engine/accounts.py`, `engine/devices.py`) that checks the centre's
rules, writes to the database — the running truth —, audits and emits its events; after a change
to fields, counters or hours every client of the centre receives a fresh `state`.
"""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.auth import (
    DEVICE_ROLES,
    PROVINCE_ROLE,
    USER_ROLES,
    add_device,
    add_user,
    base_url,
    forget_cached_principals,
    role_required,
)
from layso.server.engine.accounts import valid_pin
from layso.server.errors import QueueError
from layso.server.pages.dashboard import DEVICE_ROLES as DEVICE_ROLE_NAMES
from layso.server.messages import error_text
from layso.server.pages import wording
from layso.server.pages.signin import add_page_link
from layso.server.realtime.guard import emit_to_centre
from layso.server.services import publish, services
from layso.server.storage.models import (
    AuditEntry,
    Centre,
    Counter,
    Device,
    Field,
    User,
)
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from layso.config import WEEKDAYS, CounterConfig, FieldConfig, HoursConfig

bp = Blueprint("admin", __name__, url_prefix="/admin")
add_page_link("admin", "admin.page", _l("Administration"))

SECTIONS = (("admin.page", _l("Overview")), ("admin.fields", _l("Fields")), ("admin.counters", _l("Counters")),
            ("admin.hours", _l("Opening hours")), ("admin.ticker", _l("Ticker")), ("admin.devices", _l("Devices")),
            ("admin.accounts", _l("Accounts")))
WEEKDAY_NAMES = {"mon": _l("Monday"), "tue": _l("Tuesday"), "wed": _l("Wednesday"), "thu": _l("Thursday"),
                 "fri": _l("Friday"), "sat": _l("Saturday"), "sun": _l("Sunday")}
ROLE_NAMES = {"staff": _l("Officer"), "manager": _l("Manager"), "admin": _l("Administrator")}
FIELD_LABELS = {"code": _l("Code"), "name": _l("Name"), "agency": _l("Agency"), "range_start": _l("First number"),
                "range_end": _l("Last number"), "prefix": _l("Letter prefix"), "width": _l("Digits"),
                "daily_cap": _l("Daily cap"), "cutoff": _l("Last issue time"),
                "target_wait_min": _l("Target wait (min)"), "number": _l("Number"), "fields": _l("Fields served"),
                "early_issue_minutes": _l("Early issuing (min)"), "holidays": _l("Holidays"),
                "makeup_days": _l("Make-up working days"), **WEEKDAY_NAMES}


class Invalid(Exception):
    """A form that does not validate; `messages` are shown above it."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def _pydantic_messages(err: ValidationError) -> list[str]:
    return wording.pydantic_messages(err, FIELD_LABELS)  # in the page's language, never pydantic's English


def _int(form, key: str, label, required: bool = False) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        if required:
            raise Invalid([_("%(label)s is required.", label=label)])
        return None
    if not re.fullmatch(r"\d{1,7}", text):
        raise Invalid([_("%(label)s must be a whole number.", label=label)])
    return int(text)


# What the engine's set-up commands refuse, as the administrator reads it (by error code).
SETUP_ERRORS = {
    "field_exists": _l("A field with the code %(code)s exists already."),
    "unknown_counters": _l("Unknown counters: %(n)s"),
    "field_unserved": _l("Choose at least one counter that serves this field (besides a priority counter)."),
    "unknown_fields": _l("Unknown fields: %(codes)s"),
    "counter_exists": _l("Counter %(n)s exists already."),
    "counter_not_found": _l("This counter does not exist."),
    "counter_open": _l("Close the counter before deactivating it (its officer signs out)."),
    "fields_unserved": _l("These fields would be served by no counter: %(names)s"),
    "device_not_found": _l("This device does not exist."),
    "account_not_found": _l("This account does not exist."),
    "own_account": _l("You cannot deactivate your own account."),
    "invalid_role": _l("Unknown role."),
    "own_role": _l("You cannot take the administrator role from yourself."),
    "unknown_command": _l("Unknown command."),
}


def _invalid(err: QueueError) -> Invalid:
    """An engine refusal as the form's message (the engine's own text where the page has none)."""
    text = SETUP_ERRORS.get(err.code)
    if text is not None:
        return Invalid([str(text) % err.params])
    if err.code == "invalid_numbering":  # the config's check, worded in English for the CLI
        return Invalid([wording.config_message(err.message)])
    return Invalid([error_text(err.code)])  # never the engine's English


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
    with services().db.read() as s:
        return s.get(Centre, g.who.centre_id).code


@bp.app_template_filter("audit_value")
def audit_value(value) -> str:
    """A value of an audit entry as people read it."""
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(audit_value(v) for v in value)
    return wording.audit_word(str(value))


@bp.app_template_filter("audit_action")
def audit_action(code: str) -> str:
    return wording.audit_action(code)


@bp.app_template_filter("audit_key")
def audit_key(key: str) -> str:
    return wording.audit_key(key)


# ---- overview ----------------------------------------------------------------------------------------
@bp.get("")
@role_required("admin")
def page():
    with services().db.read() as s:
        cid = g.who.centre_id
        entries = s.execute(select(AuditEntry).where(AuditEntry.centre_id == cid)
                            .order_by(AuditEntry.id.desc()).limit(60)).scalars().all()
        users = {u.id: u for u in s.execute(select(User).where(User.centre_id == cid)).scalars()}
        centre = s.get(Centre, cid)
        counts = {
            "fields": len(s.execute(select(Field.id).where(Field.centre_id == cid, Field.active.is_(True))).all()),
            "counters": len(s.execute(select(Counter.id).where(Counter.centre_id == cid,
                                                               Counter.active.is_(True))).all()),
            "devices": len(s.execute(select(Device.id).where(Device.centre_id == cid,
                                                             Device.revoked_at.is_(None))).all()),
            "accounts": sum(1 for u in users.values() if u.active)}
        zone = ZoneInfo(centre.timezone)
        log = [{"at": e.at.astimezone(zone), "user": (users[e.user_id].username if e.user_id in users else "—"),
                "action": e.action, "target": e.target, "data": e.data} for e in entries]
    return _page("admin_page.html", counts=counts, log=log)


# ---- fields -------------------------------------------------------------------------------------------
def _field_from_form(form, code: str) -> FieldConfig:
    data = {"code": code, "name": form.get("name", ""), "agency": form.get("agency", ""),
            "agency_aliases": [a.strip() for a in form.get("agency_aliases", "").split(",") if a.strip()],
            "width": _int(form, "width", FIELD_LABELS["width"]) or 3,
            "daily_cap": _int(form, "daily_cap", FIELD_LABELS["daily_cap"]),
            "cutoff": form.get("cutoff", "").strip() or None,
            "target_wait_min": _int(form, "target_wait_min", FIELD_LABELS["target_wait_min"]),
            "accepting": form.get("accepting") == "on"}
    if form.get("numbering") == "prefix":
        data["prefix"] = form.get("prefix", "").strip().upper() or None
    else:
        data["range_start"] = _int(form, "range_start", FIELD_LABELS["range_start"], required=True)
        data["range_end"] = _int(form, "range_end", FIELD_LABELS["range_end"])
    try:
        return FieldConfig.model_validate(data)
    except ValidationError as err:
        raise Invalid(_pydantic_messages(err)) from None


def _fields_context(s) -> dict:
    cid = g.who.centre_id
    fields = s.execute(select(Field).where(Field.centre_id == cid).order_by(Field.active.desc(), Field.position,
                                                                            Field.id)).scalars().all()
    counters = s.execute(select(Counter).where(Counter.centre_id == cid).options(selectinload(Counter.fields))
                         .order_by(Counter.number)).scalars().all()
    served = {f.id: [c.number for c in counters if c.active and f in c.fields] for f in fields}
    return {"fields": fields, "counters": counters, "served": served}


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
            values = _field_form_values(current, ctx) if current else {"accepting": "on"}
        return _page("admin_fields.html", 400 if errors else 200, **ctx, form=values, errors=errors,
                     editing=current or "new")


def _field_form_values(f: Field, ctx: dict) -> dict:
    return {"code": f.code, "name": f.name, "agency": f.agency, "agency_aliases": ", ".join(f.agency_aliases or []),
            "numbering": "prefix" if f.prefix else "range", "prefix": f.prefix or "", "width": f.width,
            "range_start": f.range_start or "", "range_end": f.range_end or "", "daily_cap": f.daily_cap or "",
            "cutoff": f.cutoff or "", "target_wait_min": f.target_wait_min or "",
            "accepting": "on" if f.accepting else "", "active": "on" if f.active else "", "position": f.position,
            "counters": [str(n) for n in ctx["served"][f.id]]}


# ---- counters -----------------------------------------------------------------------------------------
def _counters_context(s) -> dict:
    cid = g.who.centre_id
    counters = s.execute(select(Counter).where(Counter.centre_id == cid).options(selectinload(Counter.fields),
                                                                                 selectinload(Counter.officer))
                         .order_by(Counter.active.desc(), Counter.number)).scalars().all()
    fields = s.execute(select(Field).where(Field.centre_id == cid, Field.active.is_(True))
                       .order_by(Field.position)).scalars().all()
    return {"counters": counters, "all_fields": fields}


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
def _split(text: str) -> list[str]:
    return [x for x in re.split(r"[\s,;]+", text.strip()) if x]


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
    with services().db.read() as s:
        current = s.get(Centre, g.who.centre_id).settings["hours"]
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
    with svc.db.read() as s:
        current = s.get(Centre, g.who.centre_id).ticker
    return _page("admin_ticker.html", 400 if errors else 200, ticker=request.form.get("ticker", current),
                 errors=errors)


# ---- devices ------------------------------------------------------------------------------------------
def _devices_context(s) -> dict:
    cid = g.who.centre_id
    devices = s.execute(select(Device).where(Device.centre_id == cid).options(selectinload(Device.counter))
                        .order_by(Device.revoked_at.is_not(None), Device.role, Device.name)).scalars().all()
    counters = s.execute(select(Counter.number).where(Counter.centre_id == cid, Counter.active.is_(True))
                         .order_by(Counter.number)).scalars().all()
    fields = s.execute(select(Field).where(Field.centre_id == cid, Field.active.is_(True))
                       .order_by(Field.position)).scalars().all()
    zone = ZoneInfo(s.get(Centre, cid).timezone)  # dates as the centre reads them, not UTC
    return {"devices": devices, "counter_numbers": counters, "all_fields": fields,
            "field_names": {f.code: f.name for f in fields}, "local_date": lambda dt: dt.astimezone(zone),
            "role_names": {k: str(v) for k, v in DEVICE_ROLE_NAMES.items()}, "device_roles": DEVICE_ROLES}


def _claim_audit(action: str, target: str) -> None:
    """Sign the audit entry that auth.add_device / add_user just wrote with the administrator's id."""
    with services().db.write() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.centre_id == g.who.centre_id,
                                                   AuditEntry.action == action, AuditEntry.target == target,
                                                   AuditEntry.user_id.is_(None))
                          .order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
        if entry is not None:
            entry.user_id = g.who.user_id


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
            token = add_device(svc.db, role, name, _centre_code(), counter, zone_fields or None, zone_counters or None)
            _claim_audit("device.add", name)
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
    users = s.execute(select(User).where(User.centre_id == g.who.centre_id, User.role != PROVINCE_ROLE)
                      .order_by(User.active.desc(), User.role.desc(), User.username)).scalars().all()
    return {"users": users, "roles": [(r, str(ROLE_NAMES[r])) for r in USER_ROLES]}


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
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", username):
                raise Invalid([_("A username has 1 to 64 letters, digits, dots, dashes or underscores.")])
            if len(form.get("password", "")) < 8:
                raise Invalid([_("The password needs at least 8 characters.")])
            if form.get("password", "") != form.get("password2", ""):
                raise Invalid([_("The two passwords differ.")])
            if pin is not None and (not pin.isdigit() or not 4 <= len(pin) <= 12):
                raise Invalid([_("A PIN is 4 to 12 digits.")])
            if form.get("role", "") not in USER_ROLES:
                raise Invalid([_("Unknown role.")])
            add_user(svc.db, username, form.get("role", ""), form.get("password", ""), _centre_code(),
                     full_name=form.get("full_name", "").strip()[:120], pin=pin)
            _claim_audit("user.add", username)
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
        if action == "password" and len(password) < 8:
            raise Invalid([_("The password needs at least 8 characters.")])
        if action == "pin" and pin and not valid_pin(pin):
            raise Invalid([_("A PIN is 4 to 12 digits.")])
        # scrypt takes ~0.1 s: hash before the write transaction, never while holding the write lock
        name = _run(services().engine.change_account, user_id, action, resync=False,
                    password_hash=generate_password_hash(password) if action == "password" else None,
                    pin_hash=generate_password_hash(pin) if action == "pin" and pin else None,
                    role=form.get("role", ""), full_name=form.get("full_name"))
        flash(_("Account %(name)s changed.", name=name), "ok")
    except Invalid as err:
        flash(err.messages[0], "error")
    return redirect(url_for("admin.accounts"))
