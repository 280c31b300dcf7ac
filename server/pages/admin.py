"""Administration: fields, counters and the fields each serves, opening hours, the ticker text,
devices (issue and revoke tokens) and accounts. Every change is validated (the config's pydantic
models and `check_numbering`), written to the database — the running truth — and audited.

Changes to fields, counters and hours run through the engine's transaction (the centre locked, so
they are serialised with the queue's commands) and emit `queue.changed` / `counter.changed`; after
them every client of the centre receives a fresh `state`, since fields or counters may have come
or gone. The ticker goes through `engine.set_ticker` (`ticker.changed`).
"""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server import clock
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
from layso.server.engine.commands import Command, device_dict
from layso.server.errors import QueueError
from layso.server.pages.dashboard import DEVICE_ROLES as DEVICE_ROLE_NAMES
from layso.server.pages.signin import add_page_link
from layso.server.realtime.events import centre_room, socketio
from layso.server.services import publish, services
from layso.server.storage.models import (
    AuditEntry,
    Centre,
    Counter,
    CounterField,
    Device,
    Field,
    User,
)
from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from layso.config import (
    WEEKDAYS,
    CounterConfig,
    FieldConfig,
    HoursConfig,
    check_numbering,
)

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
    out = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if not isinstance(p, int)]
        name = str(FIELD_LABELS.get(loc[0], loc[0])) if loc else ""
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{name}: {msg}" if name else msg)
    return out


def _int(form, key: str, label, required: bool = False) -> int | None:
    text = form.get(key, "").strip()
    if not text:
        if required:
            raise Invalid([_("%(label)s is required.", label=label)])
        return None
    if not re.fullmatch(r"\d{1,7}", text):
        raise Invalid([_("%(label)s must be a whole number.", label=label)])
    return int(text)


def _audit(cmd: Command, action: str, target: str, data: dict) -> None:
    cmd.s.add(AuditEntry(centre_id=cmd.centre.id, at=cmd.now, user_id=g.who.user_id, action=action,
                         target=target[:120], data=data))


def _run(fn, resync: bool = True):
    """Run `fn(cmd)` in the engine's transaction; publish its events, then send every client a fresh state."""
    svc = services()
    res = svc.engine.run_command(g.who.centre_id, fn)
    publish(res)
    if resync:
        state = svc.engine.state(g.who.centre_id, base_url=base_url())
        socketio.emit("state", state, to=centre_room(g.who.centre_id))
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
    return str(value)


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
def _field_dict(f: Field) -> dict:
    return {"code": f.code, "name": f.name, "agency": f.agency, "agency_aliases": list(f.agency_aliases or []),
            "prefix": f.prefix, "width": f.width, "range_start": f.range_start, "range_end": f.range_end,
            "daily_cap": f.daily_cap, "cutoff": f.cutoff, "target_wait_min": f.target_wait_min,
            "accepting": f.accepting}


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


def _check_numbering(cmd: Command, cfg: FieldConfig, active: bool) -> None:
    others = cmd.s.execute(select(Field).where(Field.centre_id == cmd.centre.id, Field.active.is_(True),
                                               Field.code != cfg.code)).scalars().all()
    dicts = [_field_dict(f) for f in others] + ([cfg.model_dump()] if active else [])
    try:
        check_numbering(dicts)
    except ValueError as err:
        raise Invalid([str(err)]) from None


def _apply_field(f: Field, cfg: FieldConfig) -> dict:
    before = _field_dict(f)
    for key in ("name", "agency", "agency_aliases", "prefix", "width", "range_start", "range_end", "daily_cap",
                "cutoff", "target_wait_min", "accepting"):
        setattr(f, key, getattr(cfg, key))
    if f.prefix:
        f.range_start = f.range_end = None
    after = _field_dict(f)
    return {k: [before[k], after[k]] for k in after if before[k] != after[k]}


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
            _run(lambda cmd: _save_field(cmd, cfg, is_new, form.get("active") == "on" or is_new,
                                         _int(form, "position", _("Order")), serving))
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


def _save_field(cmd: Command, cfg: FieldConfig, is_new: bool, active: bool, position: int | None,
                serving: list[int]) -> None:
    s = cmd.s
    cid = cmd.centre.id
    existing = s.execute(select(Field).where(Field.centre_id == cid, Field.code == cfg.code)).scalar_one_or_none()
    if is_new and existing is not None:
        raise Invalid([_("A field with the code %(code)s exists already.", code=cfg.code)])
    counters = {c.number: c for c in s.execute(select(Counter).where(Counter.centre_id == cid)
                                                .options(selectinload(Counter.fields))).scalars()}
    unknown = [n for n in serving if n not in counters]
    if unknown:
        raise Invalid([_("Unknown counters: %(n)s", n=", ".join(map(str, unknown)))])
    if active and not any(counters[n].active and not counters[n].priority_only for n in serving):
        raise Invalid([_("Choose at least one counter that serves this field (besides a priority counter).")])
    _check_numbering(cmd, cfg, active)
    if is_new:
        top = max((f.position for f in s.execute(select(Field).where(Field.centre_id == cid)).scalars()), default=-1)
        f = Field(centre_id=cid, code=cfg.code, position=top + 1 if position is None else position, active=True)
        s.add(f)
        changes = {"created": True}
        _apply_field(f, cfg)
        s.flush()
    else:
        f = existing
        changes = _apply_field(f, cfg)
        if f.active != active:
            changes["active"] = [f.active, active]
            f.active = active
        if position is not None and position != f.position:
            changes["position"] = [f.position, position]
            f.position = position
    before = sorted(n for n, c in counters.items() if f in c.fields)
    if sorted(serving) != before:
        changes["counters"] = [before, sorted(serving)]
        s.execute(delete(CounterField).where(CounterField.field_id == f.id))
        for n in serving:
            s.add(CounterField(counter_id=counters[n].id, field_id=f.id))
    s.flush()
    for c in counters.values():
        s.refresh(c, ["fields"])
    if changes:
        _audit(cmd, "field.add" if is_new else "field.change", cfg.code, changes)
        cmd.emit("queue.changed", {"fields": cmd.engine.fields_list(cmd)})
        for n in set(serving) | set(before):
            cmd.emit("counter.changed", {"counter": cmd.counter_dict(counters[n])})


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
            _run(lambda cmd: _save_counter(cmd, cfg, is_new, form.get("active") == "on" or is_new))
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


def _save_counter(cmd: Command, cfg: CounterConfig, is_new: bool, active: bool) -> None:
    s = cmd.s
    cid = cmd.centre.id
    fields = {f.code: f for f in s.execute(select(Field).where(Field.centre_id == cid,
                                                                Field.active.is_(True))).scalars()}
    unknown = [code for code in cfg.fields if code not in fields]
    if unknown:
        raise Invalid([_("Unknown fields: %(codes)s", codes=", ".join(unknown))])
    counters = {c.number: c for c in s.execute(select(Counter).where(Counter.centre_id == cid)
                                                .options(selectinload(Counter.fields))).scalars()}
    c = counters.get(cfg.number)
    if is_new and c is not None:
        raise Invalid([_("Counter %(n)s exists already.", n=cfg.number)])
    if not is_new and c is None:
        raise Invalid([_("This counter does not exist.")])
    if c is not None and not active and c.active and c.status != "closed":
        raise Invalid([_("Close the counter before deactivating it (its officer signs out).")])
    # every active field stays served by an active counter that calls normal tickets
    serving = {code: set() for code in fields}
    for n, other in counters.items():
        codes = cfg.fields if n == cfg.number else [f.code for f in other.fields]
        on = (active and not cfg.priority_only) if n == cfg.number else (other.active and not other.priority_only)
        for code in codes:
            if on and code in serving:
                serving[code].add(n)
    if is_new and active and not cfg.priority_only:
        for code in cfg.fields:
            serving[code].add(cfg.number)
    unserved = [fields[code].name for code, ns in serving.items() if not ns]
    if unserved:
        raise Invalid([_("These fields would be served by no counter: %(names)s", names=", ".join(unserved))])
    if c is None:
        c = Counter(centre_id=cid, number=cfg.number, name=cfg.name or f"Quầy {cfg.number}", status="closed",
                    priority_only=cfg.priority_only, active=True)
        s.add(c)
        s.flush()
        before = {"created": True}
        old_fields: list[str] = []
    else:
        old_fields = [f.code for f in c.fields]
        before = {"name": c.name, "priority_only": c.priority_only, "active": c.active, "fields": old_fields}
        c.name = cfg.name or c.name
        c.priority_only = cfg.priority_only
        c.active = active
    if sorted(old_fields) != sorted(cfg.fields):
        s.execute(delete(CounterField).where(CounterField.counter_id == c.id))
        for code in cfg.fields:
            s.add(CounterField(counter_id=c.id, field_id=fields[code].id))
    s.flush()
    s.refresh(c, ["fields"])
    after = {"name": c.name, "priority_only": c.priority_only, "active": c.active, "fields": [f.code for f in c.fields]}
    changes = before if is_new else {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        _audit(cmd, "counter.add" if is_new else "counter.change", str(cfg.number), changes)
        cmd.emit("counter.changed", {"counter": cmd.counter_dict(c)})
        cmd.emit("queue.changed", {"fields": cmd.engine.fields_list(cmd)})


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
            _run(lambda cmd: _save_hours(cmd, cfg.model_dump(mode="json")))
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


def _save_hours(cmd: Command, hours: dict) -> None:
    before = cmd.centre.settings.get("hours", {})
    if before == hours:
        return
    cmd.centre.settings = {**cmd.centre.settings, "hours": hours}  # a new dict: the change is saved
    changed = {k: [before.get(k), v] for k, v in hours.items() if before.get(k) != v}
    _audit(cmd, "hours.change", "hours", changed)
    cmd.emit("queue.changed", {"fields": cmd.engine.fields_list(cmd)})


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
    return {"devices": devices, "counter_numbers": counters, "all_fields": fields,
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
            errors = [err.message]
    with svc.db.read() as s:
        ctx = _devices_context(s)
    status = 400 if errors else (201 if token else 200)
    return _page("admin_devices.html", status, **ctx, errors=errors, token=token,
                 form={**form.to_dict(), "zone_fields": form.getlist("zone_fields")} if errors else {},
                 issued_name=form.get("name") if token else None)


@bp.post("/devices/<int:device_id>/revoke")
@role_required("admin")
def revoke_device(device_id: int):
    def run(cmd: Command):
        d = cmd.s.get(Device, device_id)
        if d is None or d.centre_id != cmd.centre.id:
            raise Invalid([_("This device does not exist.")])
        if d.revoked_at is not None:
            return d.name
        d.revoked_at = cmd.now
        d.online = False
        _audit(cmd, "device.revoke", d.name, {"role": d.role, "device": d.id})
        cmd.emit("device.changed", {"device": device_dict(cmd, d)})
        return d.name

    try:
        name = _run(run, resync=False)
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
            errors = [err.message]
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
    # scrypt takes ~0.1 s: hash before the write transaction, never while holding the write lock
    new_hash = None
    if action == "password" and len(form.get("password", "")) >= 8:
        new_hash = generate_password_hash(form.get("password", ""))
    elif action == "pin" and form.get("pin", "").strip().isdigit():
        new_hash = generate_password_hash(form.get("pin", "").strip())
    try:
        with services().db.write() as s:
            u = s.get(User, user_id)
            if u is None or u.centre_id != g.who.centre_id or u.role == PROVINCE_ROLE:
                raise Invalid([_("This account does not exist.")])
            data: dict = {}
            if action in ("deactivate", "activate"):
                if u.id == g.who.user_id:
                    raise Invalid([_("You cannot deactivate your own account.")])
                u.active = action == "activate"
                data = {"active": u.active}
            elif action == "password":
                password = form.get("password", "")
                if len(password) < 8:
                    raise Invalid([_("The password needs at least 8 characters.")])
                u.password_hash = new_hash
                data = {"password": "changed"}
            elif action == "pin":
                pin = form.get("pin", "").strip()
                if pin and (not pin.isdigit() or not 4 <= len(pin) <= 12):
                    raise Invalid([_("A PIN is 4 to 12 digits.")])
                u.pin_hash = new_hash if pin else None
                data = {"pin": "changed" if pin else "removed"}
            elif action == "role":
                role = form.get("role", "")
                if role not in USER_ROLES:
                    raise Invalid([_("Unknown role.")])
                if u.id == g.who.user_id and role != "admin":
                    raise Invalid([_("You cannot take the administrator role from yourself.")])
                data = {"role": [u.role, role], "full_name": [u.full_name, form.get("full_name", u.full_name)]}
                u.role = role
                u.full_name = form.get("full_name", u.full_name).strip()[:120]
            else:
                raise Invalid([_("Unknown command.")])
            s.add(AuditEntry(centre_id=g.who.centre_id, at=clock.now(), user_id=g.who.user_id,
                             action=f"user.{action}", target=u.username, data=data))
            name = u.username
        flash(_("Account %(name)s changed.", name=name), "ok")
    except Invalid as err:
        flash(err.messages[0], "error")
    return redirect(url_for("admin.accounts"))
