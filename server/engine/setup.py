"""Centre set-up commands: seed a centre from its configuration, and the administrator's changes —
fields, counters and the fields each serves, opening hours, the ticker. Each runs in the engine's
transaction (the centre locked, so it is serialised with the queue's commands), is audited, and
emits `queue.changed` / `counter.changed` / `ticker.changed`."""
from __future__ import annotations

from layso.server import clock
from layso.server.domain.centre import unserved
from layso.server.domain.statuses import CounterStatus
from layso.server.engine.base import MAX_TEXT
from layso.server.engine.context import Command, Result
from layso.server.errors import BadRequest, Conflict, NotFound
from layso.server.storage.database import Database
from layso.server.storage.models import AuditEntry, Centre, Counter, CounterField, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from layso.config import Config, CounterConfig, FieldConfig, check_numbering
from layso.protocol import EventType as E

FIELD_KEYS = ("name", "agency", "agency_aliases", "prefix", "width", "range_start", "range_end", "daily_cap",
              "cutoff", "target_wait_min", "accepting")


def field_dict(f: Field) -> dict:
    """A field's settings as the config writes them."""
    return {"code": f.code, **{k: getattr(f, k) for k in FIELD_KEYS},
            "agency_aliases": list(f.agency_aliases or [])}


def audit(cmd: Command, user_id: int | None, action: str, target: str | None, data: dict) -> None:
    cmd.s.add(AuditEntry(centre_id=cmd.centre.id, at=cmd.now, user_id=user_id, action=action,
                         target=target[:120] if target is not None else None, data=data))


# ---- seeding a centre from configuration ------------------------------------------------------
def seed_centre(db: Database, config: Config) -> int:
    """Create the centre from config if it is not in the database yet; return its id.

    The database is the running truth afterwards: an existing centre is never changed here.
    """
    with db.write() as s:
        existing = s.execute(select(Centre).where(Centre.code == config.centre.code)).scalar_one_or_none()
        if existing is not None:
            return existing.id
        return _create_centre(s, config)


def settings_of(config: Config) -> dict:
    data = config.model_dump(mode="json")
    return {"hours": data["hours"], "priority": data["priority"], "queue": data["queue"],
            "rating": data["rating"], "voice": data["voice"], "thank_you": config.centre.thank_you}


def _create_centre(s: Session, config: Config) -> int:
    c = config.centre
    now = clock.now()
    centre = Centre(code=c.code, name=c.name, timezone=c.timezone, public_url=c.public_url, ticker=c.ticker,
                    settings=settings_of(config), seq=0, created_at=now)
    s.add(centre)
    s.flush()
    check_numbering([f.model_dump() for f in config.fields])
    by_code = {}
    for i, f in enumerate(config.fields):
        row = Field(centre_id=centre.id, code=f.code, position=i, **{k: getattr(f, k) for k in FIELD_KEYS})
        s.add(row)
        by_code[f.code] = row
    s.flush()
    for k in config.counters:
        counter = Counter(centre_id=centre.id, number=k.number, name=k.name or f"Quầy {k.number}",
                          priority_only=k.priority_only, status=CounterStatus.CLOSED)
        s.add(counter)
        s.flush()
        for code in k.fields:
            s.add(CounterField(counter_id=counter.id, field_id=by_code[code].id))
    s.add(AuditEntry(centre_id=centre.id, at=now, action="centre.seeded", target=c.code,
                     data={"fields": len(config.fields), "counters": len(config.counters)}))
    s.flush()
    return centre.id


def _counters(cmd: Command) -> dict[int, Counter]:
    return {c.number: c for c in cmd.s.execute(select(Counter).where(Counter.centre_id == cmd.centre.id)
                                                .options(selectinload(Counter.fields))).scalars()}


def _set_counter_fields(cmd: Command, c: Counter, field_ids: list[int]) -> None:
    cmd.s.execute(delete(CounterField).where(CounterField.counter_id == c.id))
    for fid in field_ids:
        cmd.s.add(CounterField(counter_id=c.id, field_id=fid))


class SetupCommands:
    """Mixin of the engine: the administrator's changes."""

    def set_ticker(self, centre_id: int, text, user_id: int | None = None) -> Result:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise BadRequest(f"ticker must be text of at most {MAX_TEXT} characters", "invalid_ticker")

        def run(cmd: Command):
            cmd.centre.ticker = text.strip()
            audit(cmd, user_id, "ticker.set", None, {"ticker": cmd.centre.ticker})
            cmd.emit(E.TICKER_CHANGED, {"ticker": cmd.centre.ticker})
            return cmd.centre.ticker

        return self._run(centre_id, run)

    def save_hours(self, centre_id: int, hours: dict, user_id: int | None = None) -> Result:
        """New opening hours (validated `HoursConfig.model_dump(mode="json")`)."""
        def run(cmd: Command):
            before = cmd.centre.settings.get("hours", {})
            if before == hours:
                return None
            cmd.centre.settings = {**cmd.centre.settings, "hours": hours}  # a new dict: the change is saved
            audit(cmd, user_id, "hours.change", "hours",
                  {k: [before.get(k), v] for k, v in hours.items() if before.get(k) != v})
            cmd.emit(E.QUEUE_CHANGED, {"fields": self.fields_list(cmd)})
            return None

        return self._run(centre_id, run)

    def save_field(self, centre_id: int, cfg: FieldConfig, is_new: bool, active: bool, position: int | None,
                   serving: list[int], user_id: int | None = None,
                   new_counter: tuple[int, str] | None = None) -> Result:
        """Add or change a field and the counters that serve it; `new_counter` (number, name) opens a
        new counter for it in the same step (a counter needs a field, a field a counter)."""
        def run(cmd: Command):
            nonlocal serving
            counters = _counters(cmd)
            existing = cmd.s.execute(select(Field).where(Field.centre_id == cmd.centre.id,
                                                         Field.code == cfg.code)).scalar_one_or_none()
            if new_counter is not None:
                number, name = new_counter
                if number in counters:
                    raise Conflict(f"counter {number} exists already", "counter_exists", n=number)
                c = Counter(centre_id=cmd.centre.id, number=number, name=name or f"Quầy {number}",
                            status=CounterStatus.CLOSED, priority_only=False, active=True)
                cmd.s.add(c)
                cmd.s.flush()
                cmd.s.refresh(c, ["fields"])
                counters[number] = c
                serving = [*serving, number]
                audit(cmd, user_id, "counter.add", str(number), {"created": True, "name": c.name, "fields": [cfg.code]})
            self._check_field(cmd, cfg, is_new, existing, active, serving, counters)
            f, changes = self._write_field(cmd, cfg, existing, active, position)
            before = sorted(n for n, c in counters.items() if f in c.fields)
            if sorted(serving) != before:
                changes["counters"] = [before, sorted(serving)]
                cmd.s.execute(delete(CounterField).where(CounterField.field_id == f.id))
                for n in serving:
                    cmd.s.add(CounterField(counter_id=counters[n].id, field_id=f.id))
            cmd.s.flush()
            for c in counters.values():
                cmd.s.refresh(c, ["fields"])
            if changes:
                audit(cmd, user_id, "field.add" if is_new else "field.change", cfg.code, changes)
                cmd.emit(E.QUEUE_CHANGED, {"fields": self.fields_list(cmd)})
                for n in set(serving) | set(before):
                    cmd.emit(E.COUNTER_CHANGED, {"counter": cmd.counter_dict(counters[n])})

        return self._run(centre_id, run)

    @staticmethod
    def _check_field(cmd: Command, cfg: FieldConfig, is_new: bool, existing: Field | None, active: bool,
                     serving: list[int], counters: dict[int, Counter]) -> None:
        if is_new and existing is not None:
            raise Conflict(f"field {cfg.code} exists already", "field_exists", code=cfg.code)
        unknown = [n for n in serving if n not in counters]
        if unknown:
            raise NotFound(f"unknown counters {unknown}", "unknown_counters", n=", ".join(map(str, unknown)))
        planned = [(c.active, c.priority_only, [cfg.code] if n in serving else []) for n, c in counters.items()]
        if active and unserved([cfg.code], planned):
            raise BadRequest("no counter would serve this field", "field_unserved")
        others = cmd.s.execute(select(Field).where(Field.centre_id == cmd.centre.id, Field.active.is_(True),
                                                   Field.code != cfg.code)).scalars().all()
        try:
            check_numbering([field_dict(f) for f in others] + ([cfg.model_dump()] if active else []))
        except ValueError as err:
            raise BadRequest(str(err), "invalid_numbering") from None

    @staticmethod
    def _write_field(cmd: Command, cfg: FieldConfig, f: Field | None, active: bool,
                     position: int | None) -> tuple[Field, dict]:
        if f is None:
            top = max((x.position for x in cmd.s.execute(select(Field).where(
                Field.centre_id == cmd.centre.id)).scalars()), default=-1)
            f = Field(centre_id=cmd.centre.id, code=cfg.code, position=top + 1 if position is None else position,
                      active=True)
            cmd.s.add(f)
            _apply_field(f, cfg)
            cmd.s.flush()
            return f, {"created": True}
        changes = _apply_field(f, cfg)
        if f.active != active:
            changes["active"] = [f.active, active]
            f.active = active
        if position is not None and position != f.position:
            changes["position"] = [f.position, position]
            f.position = position
        return f, changes

    def save_counter(self, centre_id: int, cfg: CounterConfig, is_new: bool, active: bool,
                     user_id: int | None = None) -> Result:
        """Add or change a counter and the fields it serves; every field stays served."""
        def run(cmd: Command):
            fields = {f.code: f for f in cmd.s.execute(select(Field).where(
                Field.centre_id == cmd.centre.id, Field.active.is_(True))).scalars()}
            counters = _counters(cmd)
            c = counters.get(cfg.number)
            self._check_counter(cfg, is_new, active, c, fields, counters)
            if c is None:
                c = Counter(centre_id=cmd.centre.id, number=cfg.number, name=cfg.name or f"Quầy {cfg.number}",
                            status=CounterStatus.CLOSED, priority_only=cfg.priority_only, active=True)
                cmd.s.add(c)
                cmd.s.flush()
                before, old_fields = {"created": True}, []
            else:
                old_fields = [f.code for f in c.fields]
                before = {"name": c.name, "priority_only": c.priority_only, "active": c.active, "fields": old_fields}
                c.name, c.priority_only, c.active = cfg.name or c.name, cfg.priority_only, active
            if sorted(old_fields) != sorted(cfg.fields):
                _set_counter_fields(cmd, c, [fields[code].id for code in cfg.fields])
            cmd.s.flush()
            cmd.s.refresh(c, ["fields"])
            after = {"name": c.name, "priority_only": c.priority_only, "active": c.active,
                     "fields": [f.code for f in c.fields]}
            changes = before if is_new else {k: [before[k], after[k]] for k in after if before[k] != after[k]}
            if changes:
                audit(cmd, user_id, "counter.add" if is_new else "counter.change", str(cfg.number), changes)
                cmd.emit(E.COUNTER_CHANGED, {"counter": cmd.counter_dict(c)})
                cmd.emit(E.QUEUE_CHANGED, {"fields": self.fields_list(cmd)})

        return self._run(centre_id, run)

    @staticmethod
    def _check_counter(cfg: CounterConfig, is_new: bool, active: bool, c: Counter | None, fields: dict,
                       counters: dict[int, Counter]) -> None:
        unknown = [code for code in cfg.fields if code not in fields]
        if unknown:
            raise NotFound(f"unknown fields {unknown}", "unknown_fields", codes=", ".join(unknown))
        if is_new and c is not None:
            raise Conflict(f"counter {cfg.number} exists already", "counter_exists", n=cfg.number)
        if not is_new and c is None:
            raise NotFound(f"unknown counter {cfg.number}", "counter_not_found")
        if c is not None and not active and c.active and c.status != CounterStatus.CLOSED:
            raise Conflict("close the counter before deactivating it", "counter_open")
        planned = [(o.active, o.priority_only, [f.code for f in o.fields])
                   for n, o in counters.items() if n != cfg.number]
        planned.append((active, cfg.priority_only, cfg.fields))
        names = [fields[code].name for code in unserved(fields, planned)]
        if names:
            raise BadRequest(f"fields served by no counter: {names}", "fields_unserved", names=", ".join(names))


def _apply_field(f: Field, cfg: FieldConfig) -> dict:
    before = field_dict(f)
    for key in FIELD_KEYS:
        setattr(f, key, getattr(cfg, key))
    if f.prefix:
        f.range_start = f.range_end = None
    after = field_dict(f)
    return {k: [before[k], after[k]] for k in after if before[k] != after[k]}
