"""Centres as things a province administrator manages: create one from a preset or by copying
another, edit its name and area, suspend and resume it, name its administrators, and export or
re-import its configuration as TOML (a diff first, never silently).

A centre's running truth is the database. `centre_config` writes it back as the configuration a
TOML file holds (active fields and counters only); `plan_import` compares a file with it and lists
every difference; `apply_import` applies them in the engine's transaction (the centre locked, events
numbered), audited. Fields and counters missing from the file are deactivated, never deleted
(tickets and statistics refer to them). No Flask here: the province pages and `layso centre` share it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from layso.server import clock
from layso.server.domain.accounts import PROVINCE_ROLE
from layso.server.engine import Command, QueueEngine, Result
from layso.server.engine.accounts import add_user
from layso.server.engine.setup import FIELD_KEYS, _create_centre
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.database import Database
from layso.server.storage.models import AuditEntry, Centre, Counter, CounterField, Device, Field, User
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from layso.config import PRESETS, Config, ConfigError, parse_config, preset_data
from layso.protocol import EventType as E

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SETTINGS_SECTIONS = ("hours", "priority", "queue", "rating", "voice")
CENTRE_KEYS = ("name", "timezone", "public_url", "ticker", "thank_you", "area")


# ---- reading ---------------------------------------------------------------------------------------
def centre_by_code(s, code: str) -> Centre:
    c = s.execute(select(Centre).where(Centre.code == code)).scalar_one_or_none() if isinstance(code, str) else None
    if c is None:
        raise NotFound(f"unknown centre {code!r}", "centre_not_found")
    return c


def list_centres(db: Database) -> list[dict]:
    """Every centre with its size: code, name, area, kind, suspended, fields, counters, devices, admins."""
    with db.read() as s:
        def counts(model, *where):
            return dict(s.execute(select(model.centre_id, func.count()).where(*where).group_by(model.centre_id)).all())
        fields = counts(Field, Field.active.is_(True))
        counters = counts(Counter, Counter.active.is_(True))
        devices = counts(Device, Device.revoked_at.is_(None))
        admins: dict[int, list[str]] = {}
        for cid, username in s.execute(select(User.centre_id, User.username)
                                       .where(User.role == "admin", User.active.is_(True)).order_by(User.username)):
            admins.setdefault(cid, []).append(username)
        return [{"id": c.id, "code": c.code, "name": c.name, "area": c.area or "", "kind": c.kind or "",
                 "suspended": c.suspended_at is not None, "fields": fields.get(c.id, 0),
                 "counters": counters.get(c.id, 0), "devices": devices.get(c.id, 0), "admins": admins.get(c.id, [])}
                for c in s.execute(select(Centre).order_by(Centre.area, Centre.code)).scalars()]


def centre_config(db: Database, code: str) -> dict:
    """The centre's configuration as a TOML file holds it (valid for `parse_config`)."""
    with db.read() as s:
        c = centre_by_code(s, code)
        settings = c.settings or {}
        fields = s.execute(select(Field).where(Field.centre_id == c.id, Field.active.is_(True))
                           .order_by(Field.position, Field.id)).scalars().all()
        active_codes = {f.code for f in fields}
        counters = s.execute(select(Counter).where(Counter.centre_id == c.id, Counter.active.is_(True))
                             .options(selectinload(Counter.fields)).order_by(Counter.number)).scalars().all()
        data = {"centre": {"code": c.code, "name": c.name, "timezone": c.timezone, "public_url": c.public_url,
                           "ticker": c.ticker or "", "thank_you": settings.get("thank_you", ""), "area": c.area or ""}}
        for section in SETTINGS_SECTIONS:
            if section in settings:
                data[section] = settings[section]
        data["fields"] = [_field_data(f) for f in fields]
        data["counters"] = []
        for k in counters:
            codes = [f.code for f in k.fields if f.code in active_codes]
            if codes:
                data["counters"].append({"number": k.number, "name": k.name, "fields": codes,
                                         "priority_only": k.priority_only})
    return _plain(data)


def _field_data(f: Field) -> dict:
    d = {"code": f.code, **{k: getattr(f, k) for k in FIELD_KEYS}}
    d["agency_aliases"] = list(f.agency_aliases or [])
    if f.prefix:
        d.pop("range_start"), d.pop("range_end")
    return d


def _plain(obj):
    """Without None values (TOML has no null)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


# ---- creating ----------------------------------------------------------------------------------------
def new_centre_config(db: Database, code: str, name: str, preset: str | None = None, copy_from: str | None = None,
                      area: str = "") -> Config:
    """The configuration of a new centre: a preset's, or a copy of another centre's, renamed."""
    code = (code or "").strip()
    name = (name or "").strip()
    if not CODE_RE.match(code):
        raise BadRequest("a centre code has 1 to 40 lower-case letters, digits, '-' or '_', starting with a letter "
                         "or digit", "invalid_code")
    if not name or len(name) > 200:
        raise BadRequest("a centre name has 1 to 200 characters", "invalid_name")
    if len(area or "") > 100:
        raise BadRequest("an area has at most 100 characters", "invalid_area")
    if (preset is None) == (copy_from is None):
        raise BadRequest("choose a preset or a centre to copy", "invalid_source")
    if preset is not None:
        if preset not in PRESETS:
            raise BadRequest(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", "invalid_preset")
        data = preset_data(preset)
    else:
        data = centre_config(db, copy_from)
    data["centre"] = {**data["centre"], "code": code, "name": name, "area": (area or "").strip()}
    try:
        return parse_config(data, f"centre {code}")
    except ConfigError as err:
        raise BadRequest(str(err), "invalid_config") from None


def create_centre(db: Database, code: str, name: str, preset: str | None = None, copy_from: str | None = None,
                  area: str = "", user_id: int | None = None) -> int:
    """Create a centre from a preset (commune | province) or as a copy of another; → its id.

    A copy takes the other centre's settings, fields and counters, never its accounts, devices or tickets."""
    config = new_centre_config(db, code, name, preset, copy_from, area)
    return create_from_config(db, config, kind=preset or _kind_of(db, copy_from), user_id=user_id,
                              source={"preset": preset} if preset else {"copy_of": copy_from})


def create_from_config(db: Database, config: Config, kind: str = "", user_id: int | None = None,
                       source: dict | None = None) -> int:
    with db.write() as s:
        if s.execute(select(Centre.id).where(Centre.code == config.centre.code)).first():
            raise Conflict(f"a centre with the code {config.centre.code!r} exists already", "centre_exists")
        cid = _create_centre(s, config)  # the engine's seeding, in this same transaction
        c = s.get(Centre, cid)
        c.area = config.centre.area
        c.kind = kind or ""
        s.add(AuditEntry(centre_id=cid, at=clock.now(), user_id=user_id, action="centre.create", target=c.code,
                         data={"name": c.name, "area": c.area, **(source or {})}))
    return cid


def _kind_of(db: Database, code: str | None) -> str:
    with db.read() as s:
        return centre_by_code(s, code).kind or "" if code else ""


# ---- editing, suspending, administrators ---------------------------------------------------------------
def edit_centre(db: Database, code: str, name: str | None = None, area: str | None = None,
                user_id: int | None = None) -> dict:
    """Change a centre's name or area; → the changes {key: [before, after]}."""
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise BadRequest("a centre name has 1 to 200 characters", "invalid_name")
    if area is not None and len(area.strip()) > 100:
        raise BadRequest("an area has at most 100 characters", "invalid_area")
    with db.write() as s:
        c = centre_by_code(s, code)
        changes = {}
        for key, value in (("name", name), ("area", area)):
            if value is not None and getattr(c, key) != value.strip():
                changes[key] = [getattr(c, key), value.strip()]
                setattr(c, key, value.strip())
        if changes:
            s.add(AuditEntry(centre_id=c.id, at=clock.now(), user_id=user_id, action="centre.change", target=c.code,
                             data=changes))
        return changes


def set_suspended(db: Database, code: str, suspended: bool, user_id: int | None = None) -> bool:
    """Suspend a centre (its devices and accounts stop working, its data stays) or resume it;
    → whether anything changed. A suspended centre's devices are cut off by the janitor within seconds
    (the caller drops its process's cached device principals: `auth.forget_cached_principals`)."""
    with db.write() as s:
        c = centre_by_code(s, code)
        if (c.suspended_at is not None) == suspended:
            return False
        c.suspended_at = clock.now() if suspended else None
        s.add(AuditEntry(centre_id=c.id, at=clock.now(), user_id=user_id,
                         action="centre.suspend" if suspended else "centre.resume", target=c.code, data={}))
    return True


def name_admin(db: Database, code: str, username: str, password: str, full_name: str = "",
               user_id: int | None = None) -> int:
    """A new administrator account for the centre; → its id."""
    uid = add_user(db, username, "admin", password, code, full_name=full_name, user_id=user_id)
    with db.write() as s:
        c = centre_by_code(s, code)
        s.add(AuditEntry(centre_id=c.id, at=clock.now(), user_id=user_id, action="centre.admin", target=username,
                         data={"centre": code}))
    return uid


def set_admin_role(db: Database, code: str, account_id: int, make_admin: bool, user_id: int | None = None) -> str:
    """Make one of the centre's accounts its administrator, or a manager again; → the username."""
    with db.write() as s:
        c = centre_by_code(s, code)
        u = s.get(User, account_id)
        if u is None or u.centre_id != c.id or u.role == PROVINCE_ROLE:
            raise NotFound("unknown account", "account_not_found")
        role = "admin" if make_admin else "manager"
        if u.role != role:
            s.add(AuditEntry(centre_id=c.id, at=clock.now(), user_id=user_id, action="user.role", target=u.username,
                             data={"role": [u.role, role]}))
            u.role = role
        return u.username


# ---- TOML re-import ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One difference: `op` + (new), - (deactivated) or ~ (changed); `kind` centre, field, counter or a
    settings section (hours, queue …); `key` the field's code or the counter's number; a new or
    deactivated one's `name`; a changed one's `attr`, `before` and `after`."""

    op: str
    kind: str
    key: str = ""
    name: str = ""
    attr: str = ""
    before: object = None
    after: object = None

    def text(self) -> str:
        """In plain English words (the command line's)."""
        where = f"{self.kind} {self.key}" if self.key else self.kind
        if self.op == "~":
            return f"~ {where}.{self.attr}: {_show(self.before)} → {_show(self.after)}"
        if self.op == "-":
            return f"- {where}: {self.name} (deactivated, its history kept)"
        return f"+ {where}: {self.name}"


@dataclass
class ImportPlan:
    """What importing a configuration would change: `items` (`Change`), `lines` in plain words, empty
    when nothing."""

    code: str
    new_centre: bool
    items: list[Change] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [c.text() for c in self.items]

    @property
    def changes(self) -> bool:
        return self.new_centre or bool(self.items)


def _show(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def _diff_dict(kind: str, key: str, before: dict, after: dict) -> list[Change]:
    return [Change("~", kind, key, attr=k, before=before.get(k), after=after.get(k))
            for k in list(before) + [k for k in after if k not in before] if before.get(k) != after.get(k)]


def plan_import(db: Database, config: Config) -> ImportPlan:
    """Compare a configuration with its centre in the database (by `centre.code`)."""
    code = config.centre.code
    with db.read() as s:
        exists = s.execute(select(Centre.id).where(Centre.code == code)).first() is not None
    new = _plain(config.model_dump(mode="json"))
    for k in new["counters"]:
        k["name"] = k.get("name") or f"Quầy {k['number']}"  # what creating the counter would name it
    if not exists:
        return ImportPlan(code, True, [Change("+", "centre", code, f"{config.centre.name} ({len(config.fields)} "
                                                                     f"fields, {len(config.counters)} counters)")])
    old = parse_config(centre_config(db, code), f"centre {code}")  # normalised the same way as the file
    cur = _plain(old.model_dump(mode="json"))
    items = _diff_dict("centre", "", cur["centre"], new["centre"])
    for section in SETTINGS_SECTIONS:
        items += _diff_dict(section, "", cur.get(section, {}), new.get(section, {}))
    for kind, key in (("fields", "code"), ("counters", "number")):
        before = {x[key]: x for x in cur[kind]}
        after = {x[key]: x for x in new[kind]}
        for k, x in after.items():
            if k not in before:
                items.append(Change("+", kind[:-1], str(k), x.get("name", "")))
            else:
                items += _diff_dict(kind[:-1], str(k), before[k], x)
        for k, x in before.items():
            if k not in after:
                items.append(Change("-", kind[:-1], str(k), x.get("name", "")))
    return ImportPlan(code, False, items)


def apply_import(engine: QueueEngine, config: Config, user_id: int | None = None) -> Result:
    """Apply a configuration: create its centre, or bring the existing one to it in one transaction.
    → Result(plan, events). Refuses (409) to deactivate a counter that is open or paused."""
    plan = plan_import(engine.db, config)
    if plan.new_centre:
        create_from_config(engine.db, config, user_id=user_id, source={"import": True})
        return Result(plan, [])
    if not plan.lines:
        return Result(plan, [])
    with engine.db.read() as s:
        cid = centre_by_code(s, config.centre.code).id

    def run(cmd: Command):
        _apply(cmd, config)
        cmd.s.add(AuditEntry(centre_id=cmd.centre.id, at=cmd.now, user_id=user_id, action="centre.import",
                             target=config.centre.code, data={"changes": plan.lines[:200]}))
        cmd.emit(E.QUEUE_CHANGED, {"fields": engine.fields_list(cmd)})
        for c in cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id)
                               .options(selectinload(Counter.fields)).order_by(Counter.number)).scalars():
            cmd.emit(E.COUNTER_CHANGED, {"counter": cmd.counter_dict(c)})
        cmd.emit(E.TICKER_CHANGED, {"ticker": cmd.centre.ticker})
        return plan

    return engine.run_command(cid, run)


def _apply(cmd: Command, config: Config) -> None:
    s, c = cmd.s, cmd.centre
    cc = config.centre
    c.name, c.timezone, c.public_url, c.ticker, c.area = cc.name, cc.timezone, cc.public_url, cc.ticker, cc.area
    data = config.model_dump(mode="json")
    c.settings = {**(c.settings or {}), **{k: data[k] for k in SETTINGS_SECTIONS}, "thank_you": cc.thank_you}
    fields = {f.code: f for f in s.execute(select(Field).where(Field.centre_id == c.id)).scalars()}
    for i, fc in enumerate(config.fields):
        f = fields.get(fc.code)
        if f is None:
            f = Field(centre_id=c.id, code=fc.code)
            s.add(f)
            fields[fc.code] = f
        for key in FIELD_KEYS:
            setattr(f, key, getattr(fc, key))
        if f.prefix:
            f.range_start = f.range_end = None
        f.position, f.active = i, True
    wanted = {fc.code for fc in config.fields}
    for code_, f in fields.items():
        if code_ not in wanted:
            f.active = False
    s.flush()
    counters = {k.number: k for k in s.execute(select(Counter).where(Counter.centre_id == c.id)).scalars()}
    wanted_n = {k.number for k in config.counters}
    for n, k in counters.items():
        if n not in wanted_n and k.active:
            if k.status != "closed":
                raise Conflict(f"counter {n} is {k.status}: close it before the import removes it", "counter_open")
            k.active = False
    for kc in config.counters:
        k = counters.get(kc.number)
        if k is None:
            k = Counter(centre_id=c.id, number=kc.number, status="closed")
            s.add(k)
        k.name = kc.name or f"Quầy {kc.number}"
        k.priority_only, k.active = kc.priority_only, True
        s.flush()
        s.execute(delete(CounterField).where(CounterField.counter_id == k.id))
        for code_ in kc.fields:
            s.add(CounterField(counter_id=k.id, field_id=fields[code_].id))
    s.flush()
    for k in s.execute(select(Counter).where(Counter.centre_id == c.id)).scalars():
        s.refresh(k, ["fields"])
