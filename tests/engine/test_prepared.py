"""storage/prepared.py: the commands' hot statements, run on the driver's cursor, give what
SQLAlchemy's own execution gives — each statement's rows, and the whole database after a day of
commands — on SQLite and on PostgreSQL; the driver's errors come out as SQLAlchemy's, a lost
PostgreSQL connection is invalidated, and what the fast way does not take goes the usual way."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from conftest import HCM, make_engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, exc, insert, select, text

from layso.server import clock
from layso.server.engine import statements as S
from layso.server.errors import QueueError
from layso.server.storage import prepared
from layso.server.storage.models import Centre, Counter, DaySequence, Field, Ticket, TicketEvent

DAY = date(2026, 11, 23)  # the frozen clock's day


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def _usual_way(engine) -> list:
    """Send every statement of `engine` the usual way (a `before_cursor_execute` listener does)."""
    seen = []
    event.listen(engine.db.write_engine, "before_cursor_execute", lambda *a, **k: seen.append(1))
    return seen


def _a_day(e, cid) -> list:
    """Issues, calls, a skip, a transfer, a priority, a cancel and completions; what each returned
    (or why it was refused)."""
    def do(command, *args, **kw):
        try:
            return command(cid, *args, **kw).value
        except QueueError as err:
            return ("refused", type(err).__name__, *err.args)

    out = [do(e.issue, code, request_id=f"k-{i}")
           for i, code in enumerate(["dat-dai", "bhxh", "dat-dai", "tu-phap-ho-tich", "bhxh", "dat-dai"] * 2)]
    out.append(do(e.issue, "dat-dai", priority="elderly"))
    out.append(do(e.issue, "dat-dai", request_id="k-0"))  # a retry: the first answer again
    out += [do(e.call_next, counter) for counter in (1, 2, 3, 4, 1, 2)]
    out.append(do(e.skip, 1))
    out.append(do(e.call_next, 1))
    out.append(do(e.transfer, 2, to_field="tu-phap-ho-tich"))
    late = [do(e.issue, code) for code in ("tu-phap-ho-tich", "bhxh")]
    out += late
    out.append(do(e.grant_priority, late[0]["id"], "elderly"))
    out.append(do(e.cancel, late[1]["track_url"].rsplit("/", 1)[1]))
    out += [do(e.complete, counter) for counter in (1, 3, 4)]
    out.append(do(e.call_next, 3))
    assert sum(1 for o in out if isinstance(o, tuple)) <= 3, out  # most of the day happened
    return out


def _tables(e) -> dict:
    """Every row the commands write, in id order (tracking tokens left out: they are random)."""
    out = {}
    with e.db.read() as s:
        for model in (Ticket, TicketEvent, DaySequence, Counter, Centre):
            cols = [c for c in model.__table__.c if c.name not in ("track_token", "settings")]
            out[model.__tablename__] = [tuple(r) for r in s.execute(select(*cols).order_by(cols[0]))]
    return out


def _untracked(value):
    """A command's answer with its tracking links and tokens left out (random)."""
    if isinstance(value, dict):
        return {k: _untracked(v) for k, v in value.items() if k not in ("track_url", "track_token")}
    if isinstance(value, list):
        return [_untracked(v) for v in value]
    return value


def test_a_day_of_commands_writes_the_same_database_either_way(tmp_path, frozen_clock, url):
    (tmp_path / "fast").mkdir()
    (tmp_path / "usual").mkdir()
    fast, cid = make_engine(tmp_path / "fast", url=url)
    fast_day = _a_day(fast, cid)
    if url is not None:  # one PostgreSQL database for both: the second day starts from an empty one
        tables_fast = _tables(fast)
        fast.db.dispose()
        with fast.db.write_engine.connect() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
            c.commit()
        fast.db.dispose()
    usual, cid2 = make_engine(tmp_path / "usual", url=url)
    seen = _usual_way(usual)
    usual_day = _a_day(usual, cid2)
    assert seen, "the usual way was not taken"
    assert _untracked(fast_day) == _untracked(usual_day)
    assert (tables_fast if url is not None else _tables(fast)) == _tables(usual)
    # the fast way was taken for the commands' statements: their plans were made
    made = [p for plans in prepared._plans.values() for k, p in plans.items() if p is not None]
    assert any(p.sql.lstrip().upper().startswith("INSERT INTO TICKETS") for p in made)


def _populated(tmp_path, url):
    (tmp_path / "db").mkdir()
    e, cid = make_engine(tmp_path / "db", url=url)
    _a_day(e, cid)
    with e.db.read() as s:
        fields = [f.id for f in s.execute(select(Field).order_by(Field.id)).scalars()]
        ticket = s.execute(select(Ticket).where(Ticket.status == "waiting").order_by(Ticket.id)).scalars().first()
        counter = s.execute(select(Counter.id).order_by(Counter.id)).scalars().first()
    return e, cid, fields, ticket, counter


def _both_ways(e, statement, params) -> tuple[list, list]:
    """The statement's rows the fast way and the usual way, each value with its type (3 == 3.0)."""
    with e.db.write_engine.connect() as c:
        with c.begin():
            fast = prepared.execute(c, statement, params)
            assert isinstance(fast, prepared.Rows), "the statement went the usual way"
            usual = c.execute(statement, params)
    typed = lambda rows: [tuple((v, type(v)) for v in row) for row in rows]  # noqa: E731
    return typed(fast), typed(usual)


def test_every_hot_read_gives_sqlalchemys_rows(tmp_path, frozen_clock, url):
    e, cid, fields, t, counter = _populated(tmp_path, url)
    at = {"cid": cid, "day": DAY, "fid": t.field_id, "tid": t.id, "pos": t.queue_pos}
    cases = [(S.COUNTER_MAP, {"cid": cid}),
             (S.FIELD_COUNTS, {"cid": cid, "day": DAY, "ids": fields}),
             (S.FIELD_COUNTS_AND_COUNTERS, {"cid": cid, "day": DAY, "ids": fields[:2]}),
             (S.CALL_ORDER, {"cid": cid, "day": DAY, "ids": fields, "counter_id": counter, "lim": 3}),
             (S.PRIOR_ISSUE, {"cid": cid, "rid": "k-3"})]
    cases += [(S.AHEAD[p, tr], at) for p in (False, True) for tr in (False, True)]
    cases += [(S.NEW_TICKET_COUNTS[p], at) for p in (False, True)]
    for statement, params in cases:
        fast, usual = _both_ways(e, statement, params)
        assert fast == usual and fast, statement
    e.db.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_expanding_in_gives_sqlalchemys_rows_for_any_list(tmp_path_factory, data):
    """FIELD_COUNTS and CALL_ORDER take a list of field ids: a plan for each length, the empty list too."""
    e, cid = _sqlite_day(tmp_path_factory)
    ids = data.draw(st.lists(st.sampled_from([*e._field_ids, 999]), max_size=6))
    lim = data.draw(st.integers(0, 5))
    for statement, params in [(S.FIELD_COUNTS, {"cid": cid, "day": DAY, "ids": ids}),
                              (S.CALL_ORDER, {"cid": cid, "day": DAY, "ids": ids, "counter_id": 1, "lim": lim})]:
        fast, usual = _both_ways(e, statement, params)
        assert fast == usual


_days: dict = {}


def _sqlite_day(tmp_path_factory):
    """One SQLite database with a day of commands, made once for the property test's examples."""
    if "e" not in _days:
        old = clock.get_clock()
        clock.set_clock(clock.FrozenClock(datetime(2026, 11, 23, 9, 0, tzinfo=HCM)))
        try:
            e, cid = make_engine(tmp_path_factory.mktemp("expanding"))
            _a_day(e, cid)
        finally:
            clock.set_clock(old)
        with e.db.read() as s:
            e._field_ids = list(s.execute(select(Field.id)).scalars())
        _days["e"] = (e, cid)
    return _days["e"]


def test_the_drivers_errors_come_out_as_sqlalchemys(tmp_path, frozen_clock, url):
    e, cid, _fields, t, _counter = _populated(tmp_path, url)
    with e.db.read() as s:
        row = {c.name: getattr(s.get(Ticket, t.id), c.key) for c in Ticket.__table__.c if c.name != "id"}
    with e.db.write_engine.connect() as c:
        with pytest.raises(exc.IntegrityError):  # the same (centre, request_id) again
            with c.begin():
                prepared.execute(c, S.NEW_TICKET, {**row, "track_token": "another"} | {"request_id": "k-1"})
        with c.begin():  # the connection goes on after the rollback
            assert prepared.execute(c, S.PRIOR_ISSUE, {"cid": cid, "rid": "k-1"}).one()[0]
    e.db.dispose()


def test_an_insert_missing_a_python_default_goes_the_usual_way(tmp_path, frozen_clock, url):
    e, cid, _fields, t, _counter = _populated(tmp_path, url)
    row = {"centre_id": cid, "ticket_id": t.id, "seq": 10_000, "type": "ticket.reprinted", "at": frozen_clock.now()}
    with e.db.write_engine.connect() as c:
        with c.begin():
            result = prepared.execute(c, insert(TicketEvent), row)  # `data` defaults to {} in Python
            assert not isinstance(result, prepared.Rows)
            data = c.execute(select(TicketEvent.data).where(TicketEvent.seq == 10_000)).scalar_one()
    assert data == {}
    e.db.dispose()


def test_a_lost_postgresql_connection_is_invalidated(tmp_path, frozen_clock, pg_url):
    e, cid, _fields, _t, _counter = _populated(tmp_path, pg_url)
    with e.db.write_engine.connect() as c:
        c.begin()
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with e.db.write_engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(exc.DBAPIError) as err:
            prepared.execute(c, S.COUNTER_MAP, {"cid": cid})
        assert err.value.connection_invalidated and c.invalidated
    with e.db.write_engine.connect() as c:  # the pool gives a new connection that works
        assert prepared.execute(c, S.COUNTER_MAP, {"cid": cid}).all()
    e.db.dispose()


def test_rows_answer_as_results_do():
    rows = prepared.Rows([(1, "a")])
    assert rows.all() == [(1, "a")] and rows.one() == (1, "a") and rows.scalar_one() == 1
    assert rows.first() == (1, "a") and rows.scalar() == 1
    assert prepared.Rows().first() is None and prepared.Rows().scalar() is None
    with pytest.raises(exc.NoResultFound):
        prepared.Rows().one()
    with pytest.raises(exc.MultipleResultsFound):
        prepared.Rows([(1,), (2,)]).scalar_one()
