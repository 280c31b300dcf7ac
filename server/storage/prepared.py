"""The commands' hot statements run straight on the driver's cursor, compiled once.

SQLAlchemy's `Connection.execute` of a statement it has compiled before still works out the
statement's cache key (a walk over every node of it), builds an execution context, the parameters
and a result object: 60–130 µs of CPU a statement on our machines, against 10–30 µs for the driver
to run it (a ticket's issue runs seven). `execute` here compiles a statement once per database
dialect (and, for an INSERT, per set of columns given; for an expanding `IN`, per number of values)
with SQLAlchemy's own compiler, keeps the SQL text, the order of its parameters and the types'
bind and result processors, and then only binds values, runs the text on the connection's DBAPI
cursor and converts the rows — the same SQL, parameters and values SQLAlchemy would have sent and
returned (tests/engine/test_prepared.py compares them on SQLite and PostgreSQL).

It runs inside the transaction the connection already has (a command's session begins it), and
keeps to what SQLAlchemy would do with the driver's errors: they come out as SQLAlchemy's
exceptions (`IntegrityError` …), and a lost PostgreSQL connection is invalidated in its pool.
Statements it does not take go through `Connection.execute` as before: one that needs a default
computed in Python (an INSERT missing such a column), and every statement of a connection with
`before_cursor_execute` listeners (tests that count statements, the bench's loop diagnostics).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

from sqlalchemy import exc
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert


class Rows(list):
    """A statement's rows (tuples), with the few `Result` methods the commands use."""

    def all(self) -> "Rows":
        return self

    def first(self):
        return self[0] if self else None

    def one(self):
        if len(self) != 1:
            raise (exc.NoResultFound("No row was found when one was required") if not self else
                   exc.MultipleResultsFound("Multiple rows were found when exactly one was required"))
        return self[0]

    def scalar_one(self):
        return self.one()[0]

    def scalar(self):
        return self[0][0] if self else None


@dataclass
class _Plan:
    sql: str
    names: tuple[str, ...]  # the parameters in the order the SQL takes them (positional styles)
    keys: tuple[str, ...]  # the names the driver is given them by (named styles); () when positional
    defaults: dict  # values of the statement's own literal parameters (`1` in `CASE … THEN 1`)
    bind: dict  # parameter name → the type's bind processor
    types: tuple  # the result columns' types, by position
    spread: tuple = ()  # (expanding parameter, the names of its values' placeholders): `IN (…)`
    # a result column's processor or None, by position (() when none has one), made at the first run:
    # some need the driver's type of the column (PostgreSQL's numbers)
    results: tuple | None = None


_plans: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # dialect → {key: _Plan | None}
_NEW = object()  # a statement not compiled yet


def execute(conn: Connection, statement, params: dict | list[dict]):
    """Run `statement` with `params` (a dict, or a list of dicts for an executemany) on `conn`:
    `Rows`, or SQLAlchemy's result when the statement goes the usual way."""
    many = isinstance(params, list)
    first = params[0] if many else params
    plan = _plan(conn.dialect, statement, first, many)
    if plan is None or conn.dispatch.before_cursor_execute:
        return conn.execute(statement, params)
    if many:
        values = [_values(plan, p) for p in params]
    else:
        values = _values(plan, params)
    dialect = conn.dialect
    dbapi_conn = conn.connection
    cursor = dbapi_conn.cursor()
    try:
        if many:
            cursor.executemany(plan.sql, values)
        else:
            cursor.execute(plan.sql, values)
        description = cursor.description
        rows = Rows(cursor.fetchall()) if description is not None else Rows()
    except dialect.loaded_dbapi.Error as err:
        lost = dialect.is_disconnect(err, dbapi_conn.dbapi_connection, cursor)
        if lost:
            conn.invalidate(err)
        raise exc.DBAPIError.instance(plan.sql, values, err, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from err
    finally:
        cursor.close()
    procs = plan.results
    if procs is None:
        procs = plan.results = _result_processors(dialect, plan.types, description)
    if procs and rows:
        rows[:] = [tuple(v if p is None else p(v) for p, v in zip(procs, row)) for row in rows]
    return rows


def _values(plan: _Plan, params: dict):
    """The driver's parameters: each value through its type's bind processor, literals added,
    expanding lists spread over their placeholders."""
    if plan.spread:
        params = dict(params)
        for name, names in plan.spread:
            params.update(zip(names, params.pop(name)))
    bind, defaults = plan.bind, plan.defaults
    out = []
    for name in plan.names:
        v = params[name] if name in params else defaults[name]
        p = bind.get(name)
        out.append(v if p is None else p(v))
    return dict(zip(plan.keys, out)) if plan.keys else tuple(out)


def _plan(dialect, statement, params: dict, many: bool) -> _Plan | None:
    """The statement's plan for this dialect (None: the usual way), compiled at its first use. An
    INSERT is compiled for the columns given, an expanding `IN` for the number of its values."""
    insert = isinstance(statement, Insert)
    key = (statement, tuple(params) if insert else None,
           tuple(len(v) for v in params.values() if isinstance(v, (list, tuple))))
    by_dialect = _plans.get(dialect)
    if by_dialect is None:
        by_dialect = _plans.setdefault(dialect, {})
    plan = by_dialect.get(key, _NEW)
    if plan is _NEW:
        if len(by_dialect) > 4096:  # a statement built anew each time would otherwise fill it
            by_dialect.clear()
        plan = by_dialect[key] = _compile(dialect, statement, params, many, insert)
    return plan


def _compile(dialect, statement, params: dict, many: bool, insert: bool) -> _Plan | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(params) if insert else None)
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params:
        return None  # a default computed in Python, or a literal rendered at execution: the usual way
    if compiled.post_compile_params and many:
        return None
    defaults = {name: b.effective_value for b, name in compiled.bind_names.items()
                if name not in params and not b.required}
    bind = dict(compiled._bind_processors)
    expanding = tuple(compiled.bind_names[b] for b in compiled.post_compile_params)
    sql = compiled.string
    if compiled.positional:
        names = tuple(compiled.positiontup)
    else:
        names = tuple(compiled.bind_names.values())
    spread = ()
    if expanding:
        state = compiled._process_parameters_for_postcompile({**defaults, **params})
        spread = tuple((e, tuple(state.parameter_expansion[e])) for e in expanding)
        sql = state.statement
        bind.update(state.processors)
        if compiled.positional:
            names = tuple(state.positiontup)
        else:
            names = tuple(n for n in names if n not in expanding) + tuple(
                n for e in expanding for n in state.parameter_expansion[e])
    escaped = compiled.escaped_bind_names
    keys = () if compiled.positional else tuple(escaped.get(n, n) for n in names)
    types = tuple(col[3] for col in compiled._result_columns)
    return _Plan(sql=sql, names=names, keys=keys, defaults=defaults, bind=bind, types=types, spread=spread)


def _result_processors(dialect, types: tuple, description) -> tuple:
    """Each result column's processor (None: the driver's value as it is), () when none has one."""
    if not description:
        return ()
    procs = tuple(type_._cached_result_processor(dialect, col[1]) for type_, col in zip(types, description))
    return procs if any(procs) else ()
