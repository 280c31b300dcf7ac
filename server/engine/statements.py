"""The statements every ticket and call runs, built once with bound parameters.

Building a SQLAlchemy expression (and its cache key) costs more CPU than SQLite takes to run it:
issuing a ticket built ~140 expression nodes. These are built at import, their compiled form and
cache key are kept by SQLAlchemy, and a command only binds values (`{"cid": …, "day": …}`). The
conditions are the same as `storage.where`'s, which the less busy readers keep using.
"""
from __future__ import annotations

from functools import cache, lru_cache

from layso.server.domain.statuses import TicketStatus
from layso.server.storage.database import insert_of
from layso.server.storage.models import Centre, Counter, CounterField, DaySequence, Field, Ticket, TicketEvent
from sqlalchemy import Text, bindparam, case, cast, func, insert, literal, select, true, union_all, update
from sqlalchemy.orm import defer, joinedload


def _waiting() -> tuple:
    return (Ticket.centre_id == bindparam("cid"), Ticket.status == TicketStatus.WAITING,
            Ticket.day == bindparam("day"))


# a command's lock reads the centre's settings as the JSON text they are stored as, which
# `Settings.of_json` parses only when it changes (decoded by the ORM for every command they were 3 %
# of an issue's CPU); the locked Centre's `settings` loads only if the command reads it (a change)
SETTINGS_TEXT = cast(Centre.settings, Text).label("settings_json")

CENTRE_LOCKED = (select(Centre, SETTINGS_TEXT).options(defer(Centre.settings))
                 .where(Centre.id == bindparam("cid")).with_for_update())

CENTRE_SEQ = update(Centre).where(Centre.id == bindparam("cid")).values(seq=bindparam("new_seq"))


@cache
def row_update(table, columns: tuple[str, ...]):
    """UPDATE `table` SET each of `columns` = :v_<column> WHERE id = :row_id, built once for each table
    and set of columns (`Command.update`)."""
    return update(table).where(table.c.id == bindparam("row_id")).values(
        {name: bindparam("v_" + name) for name in columns})

FIELD_BY_CODE = select(Field).where(Field.centre_id == bindparam("cid"), Field.active.is_(True),
                                    Field.code == bindparam("code"))

# an active counter of the centre by its number, with its fields and its officer (whom counter_dict
# names), joined: one round trip for every counter command (a row a field; read with `unique()`);
# built once: a counter command's first read, which built its expression and the loader's options
# every time, left in cycles for the collector
COUNTER_BY_NUMBER = (select(Counter).where(Counter.centre_id == bindparam("cid"), Counter.active.is_(True),
                                           Counter.number == bindparam("number"))
                     .options(joinedload(Counter.fields), joinedload(Counter.officer)))

# field id, counter number, status, priority_only of the centre's active counters
COUNTER_MAP = (select(CounterField.field_id, Counter.number, Counter.status, Counter.priority_only)
               .join(Counter, Counter.id == CounterField.counter_id)
               .where(Counter.centre_id == bindparam("cid"), Counter.active.is_(True))
               .order_by(Counter.number))

# field id, tickets waiting, numbers issued today, of the fields `ids`: one statement (each count reads
# the queue index alone)
FIELD_COUNTS = select(
    Field.id,
    select(func.count(Ticket.id)).where(*_waiting(), Ticket.field_id == Field.id).scalar_subquery(),
    select(DaySequence.last).where(DaySequence.field_id == Field.id, DaySequence.day == bindparam("day"))
    .scalar_subquery(),
).where(Field.id.in_(bindparam("ids", expanding=True)))
# FIELD_COUNTS with, on each row, an active counter of `cid` serving that field (number, status,
# priority_only; None when none serves it): a command that describes fields and has not read the
# centre's counters yet (a NEXT) reads both in one round trip
_counts, _serving = FIELD_COUNTS.subquery(), COUNTER_MAP.subquery()
FIELD_COUNTS_AND_COUNTERS = (
    select(*_counts.c, _serving.c.number, _serving.c.status, _serving.c.priority_only)
    .select_from(_counts.outerjoin(_serving, _serving.c.field_id == _counts.c.id))
    .order_by(_counts.c.id, _serving.c.number))


def _count(cond):
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _ahead_terms(priority: bool) -> tuple:
    """(queued before the ticket `pos`/`tid`, a priority ticket, a ticket of its class): the conditions
    both AHEAD and NEW_TICKET_COUNTS count with."""
    before = (Ticket.queue_pos < bindparam("pos")) | \
        ((Ticket.queue_pos == bindparam("pos")) & (Ticket.id < bindparam("tid")))
    is_prio = Ticket.priority.is_not(None)
    return before, is_prio, is_prio if priority else Ticket.priority.is_(None)


def _ahead(priority: bool, transferred: bool):
    """Counts for `ahead_of` of a ticket (`pos`, `tid`) of field `fid`: transfers (before it, when it is
    one itself), untransferred tickets of its class before it, untransferred priority tickets."""
    before, is_prio, same_class = _ahead_terms(priority)
    return (select(_count(Ticket.transferred.is_(True) & before) if transferred else
                   _count(Ticket.transferred.is_(True)),
                   _count(Ticket.transferred.is_(False) & same_class & before),
                   _count(Ticket.transferred.is_(False) & is_prio))
            .where(*_waiting(), Ticket.field_id == bindparam("fid"), Ticket.transfer_counter_id.is_(None),
                   Ticket.id != bindparam("tid")))


AHEAD = {(p, t): _ahead(p, t) for p in (False, True) for t in (False, True)}


def _new_ticket_counts(priority: bool):
    """For a ticket just queued (`tid`, at `pos`, not transferred) in field `fid`: AHEAD's three counts
    (its WHERE moved into each count) and every ticket waiting in the field, in one pass over its
    waiting tickets (the issue command's answer and its queue.changed: one round trip instead of two)."""
    before, is_prio, same_class = _ahead_terms(priority)
    counted = Ticket.transfer_counter_id.is_(None) & (Ticket.id != bindparam("tid"))
    return (select(_count(counted & Ticket.transferred.is_(True)),
                   _count(counted & Ticket.transferred.is_(False) & same_class & before),
                   _count(counted & Ticket.transferred.is_(False) & is_prio),
                   func.count(Ticket.id))
            .where(*_waiting(), Ticket.field_id == bindparam("fid")))


def _new_ticket_counts_and_map(priority: bool):
    """NEW_TICKET_COUNTS's four counts on every row of COUNTER_MAP of the field `fid` (`cid`'s active
    counters serving it, which the new ticket's estimate and its field's queue.changed read next): one
    round trip instead of two, and a few rows, not one for each counter and field of the centre."""
    counts = _new_ticket_counts(priority).subquery()
    counters = COUNTER_MAP.where(CounterField.field_id == bindparam("fid")).subquery()
    return (select(*counts.c, *counters.c).select_from(counts.outerjoin(counters, true()))
            .order_by(counters.c.number))


NEW_TICKET_COUNTS = {p: _new_ticket_counts_and_map(p) for p in (False, True)}


@cache
def next_number(dialect_name: str):
    """The field's next number of the day, in one upsert (built once per dialect, on first use)."""
    return (insert_of(dialect_name)(DaySequence).values(field_id=bindparam("fid"), day=bindparam("day"), last=1)
            .on_conflict_do_update(index_elements=["field_id", "day"], set_={"last": DaySequence.last + 1})
            .returning(DaySequence.last))


def _call_order_part(part: str, *where):
    """The waiting tickets of one part of a counter's call order, oldest queue position first: (part,
    ticket id, queue position), at most :lim."""
    return select(literal(part).label("part"), Ticket.id, Ticket.queue_pos).where(*_waiting(), *where).order_by(
        Ticket.queue_pos, Ticket.id).limit(bindparam("lim")).subquery()


_IN_FIELDS = (Ticket.field_id.in_(bindparam("ids", expanding=True)), Ticket.transfer_counter_id.is_(None))
# a counter's call order (engine/calls.py), its parts in one statement: transferred to this counter
# ("to_counter"); transferred into one of its fields ("transferred"); its fields' plain queues,
# "priority" and "normal", which the priority rule interleaves
CALL_ORDER = union_all(*(select(part) for part in (
    _call_order_part("to_counter", Ticket.transfer_counter_id == bindparam("counter_id")),
    _call_order_part("transferred", *_IN_FIELDS, Ticket.transferred.is_(True)),
    _call_order_part("priority", *_IN_FIELDS, Ticket.transferred.is_(False), Ticket.priority.is_not(None)),
    _call_order_part("normal", *_IN_FIELDS, Ticket.transferred.is_(False), Ticket.priority.is_(None)))))

# the ticket log's rows of a command, in one INSERT (executemany)
TICKET_LOG = insert(TicketEvent)


@lru_cache(maxsize=64)  # a command logs a few rows: a few shapes in use
def seq_and_log(columns: tuple[str, ...], n: int):
    """PostgreSQL: CENTRE_SEQ (`cid`, `new_seq`) and `n` rows of the ticket log in one statement, a
    round trip fewer for every command that logs (SQLite has no UPDATE in a WITH, and no round trips).
    Row i's value of a column is the parameter `<column>_<i>` (`seq_and_log_params`), the rows an
    INSERT … SELECT of a UNION ALL: SQLAlchemy caches no INSERT of several VALUES rows, and the
    statement built with the rows in it was compiled again for every command (a tenth of a PostgreSQL
    server's CPU while issuing). Built once per shape."""
    table = TicketEvent.__table__
    rows = [select(*(bindparam(f"{c}_{i}", type_=table.c[c].type) for c in columns)) for i in range(n)]
    return (insert(TicketEvent).from_select(list(columns), rows[0] if n == 1 else union_all(*rows))
            .add_cte(CENTRE_SEQ.cte("new_seq")))


def seq_and_log_params(rows: list[dict], seq: dict) -> tuple[tuple[str, ...], dict]:
    """`seq_and_log`'s shape (the rows' columns) and its parameters: `seq`'s and each row's."""
    columns = tuple(sorted(rows[0]))
    params = dict(seq)
    for i, row in enumerate(rows):
        for c in columns:
            params[f"{c}_{i}"] = row[c]
    return columns, params


# a kiosk's retry: the ticket an earlier request with this request_id issued
PRIOR_ISSUE = select(Ticket.id, Ticket.request_hash).where(Ticket.centre_id == bindparam("cid"),
                                                            Ticket.request_id == bindparam("rid"))

_seen = Centre.__table__.alias("seen")
_centres, _fields = Centre.__table__, Field.__table__
# the columns of ISSUE_LOCKED's row: the centre's but its settings, the settings as text, the field's
ISSUE_CENTRE_COLUMNS = tuple(c.name for c in _centres.c if c.name != "settings")
ISSUE_FIELD_COLUMNS = tuple(c.name for c in _fields.c)
# an issue's lock: the centre locked (as CENTRE_LOCKED, its settings' text with it), its active field
# of code `code` (its columns None when there is none) and the ticket an earlier request with
# request_id `rid` issued (PRIOR_ISSUE: a retry whose field has gone since is still answered), one
# round trip, in Core: the command reads the row as plain objects (engine/tickets.py), as the ORM
# built them it was a fifth of an issue's CPU. On PostgreSQL field and ticket are read in the
# statement's snapshot, taken before it waited for the lock: `seq_seen` (the centre's seq in that
# snapshot) differs from the locked row's seq when another command committed in between (every ticket
# is inserted under the lock, with seq moved on), and then the issue runs it again
ISSUE_LOCKED = (
    select(*(_centres.c[n] for n in ISSUE_CENTRE_COLUMNS), SETTINGS_TEXT,
           *(_fields.c[n].label(f"field_{n}") for n in ISSUE_FIELD_COLUMNS),
           PRIOR_ISSUE.with_only_columns(Ticket.id).scalar_subquery().label("prior_id"),
           PRIOR_ISSUE.with_only_columns(Ticket.request_hash).scalar_subquery().label("prior_hash"),
           select(_seen.c.seq).where(_seen.c.id == bindparam("cid")).scalar_subquery().label("seq_seen"))
    .select_from(_centres.outerjoin(_fields, (_fields.c.centre_id == _centres.c.id) & _fields.c.active.is_(True)
                                    & (_fields.c.code == bindparam("code"))))
    .where(_centres.c.id == bindparam("cid")).with_for_update(of=_centres))

# a new ticket, every column given (engine/tickets.py)
NEW_TICKET = insert(Ticket).returning(Ticket.id)
