"""The province administrator's pages: every centre of the installation.

GET  /province                         the live overview of every centre (see `overview`)
GET  /province/stats                   statistics across centres by centre, field, agency or day
GET  /province/stats/export            that table as XLSX; /province/stats/month the month's report (XLSX)
GET  /province/catalogue               import the official catalogue of fields and agencies (CSV/XLSX)
POST /province/catalogue               preview its differences per centre, then apply them
GET  /province/centres                 the centres, and a form to create one (preset or copy)
POST /province/centres                 create it
GET  /province/centres/<code>          edit its name and area, suspend or resume it, its administrators
POST /province/centres/<code>          save name and area
POST /province/centres/<code>/suspend · /resume
POST /province/centres/<code>/admins   a new administrator account for it
POST /province/centres/<code>/admins/<id>   make an account its administrator (or a manager again)
POST /province/centres/<code>/open     work in that centre: its live view, statistics and administration
                                       (the session's acting centre; only a province administrator has one)

Only `province_admin` reaches these pages (403 for every other role); a centre's own administrator
keeps to their centre (auth.user_principal ignores an acting centre for them).
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, flash, g, redirect, render_template, request, session, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from layso.server.auth import ACTING_CENTRE_KEY, PROVINCE_ROLE, forget_cached_principals, role_required
from layso.server.engine import centres as setup
from layso.server.errors import QueueError
from layso.server.pages.province_wording import change_text
from layso.server.pages.signin import add_page_link
from layso.server.queries import province_stats as pstats
from layso.server.queries.province import POLL_S
from layso.server.queries.province import overview as province_overview
from layso.server.services import publish, services
from layso.server.storage.models import Centre, User
from sqlalchemy import select

bp = Blueprint("province", __name__, url_prefix="/province")
bp.add_app_template_filter(change_text, "change_text")
add_page_link(PROVINCE_ROLE, "province.overview", _l("Overview of the province"))
add_page_link(PROVINCE_ROLE, "province.stats", _l("Statistics of the province"))
add_page_link(PROVINCE_ROLE, "province.centres", _l("Centres of the province"))

# the tabs of the province pages (later sections add themselves here)
SECTIONS: list[tuple[str, object]] = [("province.overview", _l("Overview")), ("province.stats", _l("Statistics")),
                                      ("province.centres", _l("Centres")), ("province.catalogue", _l("Catalogue")),
                                      ("province_alerts.page", _l("Alerts"))]
PRESET_NAMES = {"commune": _l("Commune or ward centre"), "province": _l("Provincial centre")}
OPEN_TARGETS = {"live": "dashboard.live", "stats": "dashboard.stats", "admin": "admin.page"}
ROLE_NAMES = {"staff": _l("Officer"), "manager": _l("Manager"), "admin": _l("Administrator")}

# the engine's English messages, as people read them here
ERRORS = {
    "invalid_code": _l("A centre code has 1 to 40 lower-case letters, digits, dashes or underscores."),
    "invalid_name": _l("A centre name has 1 to 200 characters."),
    "invalid_area": _l("An area has at most 100 characters."),
    "invalid_source": _l("Choose a preset or a centre to copy."),
    "invalid_preset": _l("Unknown preset."),
    "centre_exists": _l("A centre with this code exists already."),
    "centre_not_found": _l("This centre does not exist."),
    "user_exists": _l("This username is taken."),
    "account_not_found": _l("This account does not exist."),
    "catalogue_not_xlsx": _l("The file is not a readable XLSX workbook."),
    "catalogue_not_utf8": _l("A CSV catalogue must be UTF-8 text."),
    "catalogue_file_type": _l("A catalogue is a .csv or .xlsx file."),
    "catalogue_empty": _l("The catalogue is empty."),
    "catalogue_no_name_column": _l("The catalogue needs a column “tên lĩnh vực” (name)."),
    "catalogue_too_long": _l("A catalogue has at most %(n)s fields."),
    "catalogue_row_no_name": _l("Row %(row)s: the field has no name."),
    "catalogue_bad_code": _l("Row %(row)s: “%(field_code)s” is not a field code (lower-case letters without accents, digits, dashes)."),
    "catalogue_duplicate": _l("Row %(row)s: the code “%(field_code)s” appears twice."),
    "catalogue_bad_target": _l("Row %(row)s: the target wait must be whole minutes."),
    "catalogue_no_counter": _l("Centre %(centre)s has no such counter to serve new fields."),
    "catalogue_no_range": _l("Centre %(centre)s has no free block of numbers left."),
    "catalogue_invalid_config": _l("With this catalogue the configuration of centre %(centre)s would not be valid."),
}


def message(err: QueueError) -> str:
    known = ERRORS.get(err.code)
    if known is None:
        return err.message
    return str(known) % err.params if err.params else str(known)


def _page(template: str, status: int = 200, **context):
    return render_template(template, who=g.who, **context), status


# ---- overview ----------------------------------------------------------------------------------------
@bp.get("")
@role_required(PROVINCE_ROLE)
def overview():
    """Every centre on one live page, with the alerts.

    The page updates in place by polling GET /api/v1/province/overview every POLL_S seconds rather
    than joining a province-wide Socket.IO room: the overview is a handful of grouped queries whose
    cost does not grow with the event rate, whereas a room would carry every event of 150 centres
    (tens a second at peak) to each province viewer only for the page to recount the same figures;
    polling also needs no message queue to see the centres served by other processes. A request
    starts every POLL_S (1.5 s, start to start), so a change shows within 1.5 s plus one answer —
    inside the 2 s the issue asks for. Waits tick locally between polls."""
    snap = province_overview(services().db)
    areas = sorted({c["area"] for c in snap["centres"] if c["area"]})
    from layso.server.notify.alerts import message_counts
    return _page("province_overview.html", snap=snap, areas=areas, texts=_overview_texts(), poll_s=POLL_S,
                 poll_text=format_decimal(POLL_S), sent=message_counts(services().db))


def _overview_texts() -> dict:
    return {"open": _("Open"), "closed": _("Closed"), "suspended": _("Suspended"), "h": _("%(h)s h %(m)02d min"),
            "m": _("%(m)s min"), "none": "—",
            "wait_over_target": _("%(field)s: waiting %(wait)s (target %(target)s)"),
            "paper_out": _("%(device)s: kiosk out of paper"),
            "display_offline": _("%(device)s: lobby screen offline"),
            "no_alerts": _("No alerts."), "updated": _("Updated %(time)s"), "lost": _("Connection lost — trying again…"),
            "open_centre": _("Open the live view of %(name)s")}


ALERT_KINDS = ("wait_over_target", "paper_out", "display_offline")


# ---- statistics --------------------------------------------------------------------------------------
MAX_RANGE_DAYS = 366
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _stats_query() -> tuple[date, date, str, str, str | None]:
    """(from, to, group, area, error) from the query string; defaults: this month, by centre."""
    from layso.server import clock
    from zoneinfo import ZoneInfo
    today = clock.now().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    group = request.args.get("group", "centre")
    group = group if group in pstats.PROVINCE_GROUPS else "centre"
    area = request.args.get("area", "").strip()[:100]
    d_from, d_to, error = today.replace(day=1), today, None
    try:
        if request.args.get("from"):
            d_from = date.fromisoformat(request.args["from"])
        if request.args.get("to"):
            d_to = date.fromisoformat(request.args["to"])
    except ValueError:
        d_from, d_to, error = today.replace(day=1), today, _("Dates must be written as YYYY-MM-DD.")
    if d_to < d_from:
        d_from, d_to, error = today.replace(day=1), today, _("The end of the range is before its start.")
    if (d_to - d_from).days > MAX_RANGE_DAYS:
        d_from, error = d_to - timedelta(days=MAX_RANGE_DAYS), _("A range can cover at most one year here.")
    return d_from, d_to, group, area, error


@bp.get("/stats")
@role_required(PROVINCE_ROLE)
def stats():
    d_from, d_to, group, area, error = _stats_query()
    db = services().db
    centres = pstats.province_centres(db, area or None)
    data = pstats.province_rows(db, centres, d_from, d_to, group)
    headers, kinds, rows = pstats.table(data)
    areas = sorted({c["area"] for c in pstats.province_centres(db) if c["area"]})
    last_month = d_to.replace(day=1) - timedelta(days=1)
    months = [(d.year, d.month) for d in (d_to.replace(day=1), last_month, last_month.replace(day=1) - timedelta(days=1))]
    from layso.server.pages.dashboard import number
    return _page("province_stats.html", 400 if error else 200, errors=[error] if error else [], data=data, number=number,
                 headers=headers, kinds=kinds, rows=rows, d_from=d_from, d_to=d_to, group=group, area=area,
                 areas=areas, months=months, groups=[(k, str(v)) for k, v in pstats.GROUP_LABELS.items()])


@bp.get("/stats/export")
@role_required(PROVINCE_ROLE)
def stats_export():
    d_from, d_to, group, area, error = _stats_query()
    if error:
        return Response(error, status=400, mimetype="text/plain")
    db = services().db
    data = pstats.province_rows(db, pstats.province_centres(db, area or None), d_from, d_to, group)
    content = pstats.table_workbook(data, str(_("Statistics of the province")) + (f" — {area}" if area else ""))
    name = f"layso-tinh-{group}-{d_from.isoformat()}-{d_to.isoformat()}.xlsx"
    return Response(content, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/stats/month")
@role_required(PROVINCE_ROLE)
def month_report():
    text = request.args.get("month", "")
    try:
        year, month = (int(x) for x in text.split("-"))
        date(year, month, 1)
    except ValueError:
        return Response(_("Choose a month as YYYY-MM."), status=400, mimetype="text/plain")
    area = request.args.get("area", "").strip()[:100] or None
    name, content = pstats.month_report(services().db, year, month, area)
    return Response(content, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- the official catalogue ----------------------------------------------------------------------------
@bp.route("/catalogue", methods=["GET", "POST"])
@role_required(PROVINCE_ROLE)
def catalogue():
    """Upload → preview (every centre's differences; the parsed catalogue rides along as JSON) →
    apply. Nothing changes before the administrator has seen the differences and confirmed them."""
    import json

    from layso.server.engine import catalogue as cat
    from layso.server.realtime.guard import emit_to_centre
    svc = services()
    db = svc.db
    rows = [r for r in setup.list_centres(db) if not r["suspended"]]
    form = request.form
    errors: list[str] = []
    plans, items, chosen, counter = None, None, [], None
    if request.method == "POST":
        chosen = [c for c in form.getlist("centres") if any(r["code"] == c for r in rows)]
        counter_text = form.get("counter", "").strip()
        try:
            if counter_text and not counter_text.isdigit():
                raise QueueError(_("The counter must be a number."), "invalid_counter")
            counter = int(counter_text) if counter_text else None
            if not chosen:
                raise QueueError(_("Choose at least one centre."), "no_centre")
            if form.get("action") == "apply":
                items = [cat.CatalogueField(**{**x, "agency_aliases": tuple(x["agency_aliases"])})
                         for x in json.loads(form.get("catalogue", "[]"))]
                results = cat.apply_catalogue(svc.engine, chosen, items, counter, user_id=g.who.user_id)
                for res in results:
                    publish(res)
                    if res.events:
                        cid = res.events[0].centre_id
                        emit_to_centre("state", svc.engine.state(cid), cid)  # devices: without tracking links
                flash(_("The catalogue was applied to %(n)s centres.", n=len(results)), "ok")
                return redirect(url_for("province.catalogue"))
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise QueueError(_("Choose a CSV or XLSX file."), "no_file")
            items = cat.parse_catalogue(upload.filename, upload.read())
            plans = [p for p, _c in cat.plan_catalogue(db, chosen, items, counter)]
        except (QueueError, ValueError, TypeError, KeyError) as err:
            errors = [message(err) if isinstance(err, QueueError) else _("The catalogue could not be read.")]
            plans = None
    payload = json.dumps([{**x.__dict__, "agency_aliases": list(x.agency_aliases)} for x in items or []],
                         ensure_ascii=False)
    return _page("province_catalogue.html", 400 if errors else 200, errors=errors, rows=rows, plans=plans,
                 items=items, chosen=chosen, counter=counter, payload=payload)


# ---- centres ---------------------------------------------------------------------------------------
@bp.route("/centres", methods=["GET", "POST"])
@role_required(PROVINCE_ROLE)
def centres():
    db = services().db
    errors: list[str] = []
    form = request.form
    if request.method == "POST":
        source = form.get("source", "preset:commune")
        preset = source.split(":", 1)[1] if source.startswith("preset:") else None
        copy_from = source.split(":", 1)[1] if source.startswith("copy:") else None
        try:
            setup.create_centre(db, form.get("code", "").strip(), form.get("name", ""), preset=preset,
                                copy_from=copy_from, area=form.get("area", ""), user_id=g.who.user_id)
            flash(_("Centre %(code)s created.", code=form.get("code", "").strip()), "ok")
            return redirect(url_for("province.centre", code=form.get("code", "").strip()))
        except QueueError as err:
            errors = [message(err)]
    rows = setup.list_centres(db)
    return _page("province_centres.html", 400 if errors else 200, rows=rows, errors=errors, form=form.to_dict(),
                 presets=[(k, str(v)) for k, v in PRESET_NAMES.items()])


def _centre_context(code: str) -> dict | None:
    with services().db.read() as s:
        c = s.execute(select(Centre).where(Centre.code == code)).scalar_one_or_none()
        if c is None:
            return None
        users = s.execute(select(User).where(User.centre_id == c.id, User.role != PROVINCE_ROLE)
                          .order_by(User.role, User.username)).scalars().all()
        return {"centre": c, "users": users, "role_names": {k: str(v) for k, v in ROLE_NAMES.items()}}


@bp.route("/centres/<code>", methods=["GET", "POST"])
@role_required(PROVINCE_ROLE)
def centre(code: str):
    errors: list[str] = []
    if request.method == "POST":
        try:
            setup.edit_centre(services().db, code, name=request.form.get("name", ""),
                              area=request.form.get("area", ""), user_id=g.who.user_id)
            flash(_("Centre %(code)s saved.", code=code), "ok")
            return redirect(url_for("province.centre", code=code))
        except QueueError as err:
            errors = [message(err)]
    ctx = _centre_context(code)
    if ctx is None:
        return _page("province_centre.html", 404, centre=None, errors=[str(ERRORS["centre_not_found"])], users=[],
                     role_names={}, form={})
    return _page("province_centre.html", 400 if errors else 200, errors=errors,
                 form=request.form.to_dict() if errors else {}, **ctx)


@bp.post("/centres/<code>/suspend")
@role_required(PROVINCE_ROLE)
def suspend(code: str):
    return _suspend(code, True)


@bp.post("/centres/<code>/resume")
@role_required(PROVINCE_ROLE)
def resume(code: str):
    return _suspend(code, False)


def _suspend(code: str, suspended: bool):
    def act():
        setup.set_suspended(services().db, code, suspended, user_id=g.who.user_id)
        forget_cached_principals()  # other processes drop them within auth.PRINCIPAL_TTL_S

    def done(_result) -> str:
        if suspended:
            return _("Centre %(code)s is suspended: its devices and accounts no longer work.", code=code)
        return _("Centre %(code)s works again.", code=code)

    return _centre_action(code, act, done)


def _centre_action(code: str, act, done, error=None):
    """Run `act()` (an engine call about centre `code`), flash `done(its result)` or why it failed
    (`error(err)`, by default the engine's message as people read it), and go back to the centre's page."""
    try:
        flash(done(act()), "ok")
    except QueueError as err:
        flash((error or message)(err), "error")
    return redirect(url_for("province.centre", code=code))


@bp.post("/centres/<code>/admins")
@role_required(PROVINCE_ROLE)
def add_admin(code: str):
    form = request.form
    username = form.get("username", "").strip()
    password = form.get("password", "")
    if len(password) < 8 or password != form.get("password2", ""):
        flash(_("The password needs at least 8 characters.") if len(password) < 8 else _("The two passwords differ."),
              "error")
        return redirect(url_for("province.centre", code=code))
    return _centre_action(
        code, lambda: setup.name_admin(services().db, code, username, password, form.get("full_name", "").strip()[:120],
                                       user_id=g.who.user_id),
        lambda _r: _("%(name)s is now an administrator of the centre.", name=username),
        lambda err: message(err) if err.code in ERRORS else
        _("A username has 1 to 64 letters, digits, dots, dashes or underscores."))


@bp.post("/centres/<code>/admins/<int:account_id>")
@role_required(PROVINCE_ROLE)
def admin_role(code: str, account_id: int):
    make = request.form.get("admin") == "1"
    return _centre_action(
        code, lambda: setup.set_admin_role(services().db, code, account_id, make, user_id=g.who.user_id),
        lambda name: _("%(name)s is now an administrator of the centre.", name=name) if make
        else _("%(name)s is no longer an administrator of the centre.", name=name))


@bp.post("/centres/<code>/open")
@role_required(PROVINCE_ROLE)
def open_centre(code: str):
    """Work in this centre: the live view, statistics and administration pages show it."""
    with services().db.read() as s:
        cid = s.execute(select(Centre.id).where(Centre.code == code)).scalar_one_or_none()
    if cid is None:
        flash(str(ERRORS["centre_not_found"]), "error")
        return redirect(url_for("province.centres"))
    session[ACTING_CENTRE_KEY] = cid
    return redirect(url_for(OPEN_TARGETS.get(request.form.get("to", "live"), "dashboard.live")))


@bp.app_context_processor
def _acting_centre():
    """Templates learn which centre a province administrator is working in (a nav bar shows it)."""
    def acting_centre(who):
        if who is None or not getattr(who, "is_user", False) or who.role != PROVINCE_ROLE:
            return None
        with services().db.read() as s:
            c = s.get(Centre, who.centre_id)
            return {"code": c.code, "name": c.name} if c is not None else None
    return {"acting_centre": acting_centre, "province_sections": [(e, str(label)) for e, label in SECTIONS]}
