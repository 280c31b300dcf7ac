"""Statistics across centres and the month's report (in-process, generated traffic in two centres):
each centre's figures are exactly its own statistics page's, counts add up across centres, and the
XLSX files hold what the page shows."""
from __future__ import annotations

import io
from datetime import date

import pytest
from layso.server.engine.accounts import add_user
from layso.server.domain import figures as rules
from layso.server.engine import centres as setup
from layso.server.queries import province_stats as pstats
from layso.server.queries.stats import compute_groups
from openpyxl import load_workbook

PASSWORD = "password-123"
MONTH = (date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture
def two_centres(app, svc, cid):
    db = svc.db
    setup.edit_centre(db, "xa", area="Khu vực 1")
    b = setup.create_centre(db, "xa-b", "Trung tâm xã B", preset="commune", area="Khu vực 2")
    from layso.bench import year as gen
    gen.generate(db, cid, date(2026, 10, 26), days=6, tickets=400, seed=5)
    gen.generate(db, b, date(2026, 10, 27), days=5, tickets=500, seed=6)
    add_user(db, "tinh", "province_admin", PASSWORD, "xa")
    add_user(db, "admin-a", "admin", PASSWORD, "xa")
    clients = {}
    for name in ("tinh", "admin-a"):
        c = app.test_client()
        assert c.post("/api/v1/session", json={"username": name, "password": PASSWORD}).status_code == 200
        clients[name] = c
    return {"a": cid, "b": b, **clients}


def test_each_centre_is_exactly_its_own_statistics_and_counts_add_up(svc, two_centres):
    db = svc.db
    centres = pstats.province_centres(db)
    by_centre = pstats.province_rows(db, centres, *MONTH, "centre")
    own = {c["code"]: compute_groups(db, c["id"], *MONTH, ("field",)) for c in centres}
    for row in by_centre["rows"]:
        mine = own[row["key"]]["total"]
        for key in ("issued", "served", "no_show", "wait_mean_s", "wait_p90_s", "within_target_share",
                    "satisfied_share"):
            assert row[key] == mine[key], (row["key"], key)
    assert by_centre["total"]["issued"] == sum(o["total"]["issued"] for o in own.values()) > 500
    by_field = pstats.province_rows(db, centres, *MONTH, "field")
    assert len(by_field["rows"]) == sum(len(o["groups"]["field"]) for o in own.values())
    for group in ("agency", "day"):
        data = pstats.province_rows(db, centres, *MONTH, group)
        assert not data["exact"]
        assert sum(r["issued"] for r in data["rows"]) == by_centre["total"]["issued"]
        assert sum(r["rated"] for r in data["rows"]) == by_centre["total"]["rated"]
    days = pstats.province_rows(db, centres, *MONTH, "day")["rows"]
    assert [r["key"] for r in days] == sorted(r["key"] for r in days) and days[0]["key"] == "2026-10-26"
    # one area only
    assert [c["code"] for c in pstats.province_centres(db, "Khu vực 2")] == ["xa-b"]
    # the total row: every ticket of the province taken together, exactly as one list of durations
    waits, services, within = _durations(db, [c["id"] for c in centres])
    total = by_centre["total"]
    assert (total["wait_mean_s"], total["wait_median_s"], total["wait_p90_s"]) == rules.summary(waits)
    assert (total["service_mean_s"], total["service_median_s"], total["service_p90_s"]) == rules.summary(services)
    assert total["within_target_share"] == round(within / len(waits), 4)
    assert pstats.province_rows(db, centres, *MONTH, "field")["total"]["wait_p90_s"] == total["wait_p90_s"]
    headers, _kinds, rows = pstats.table(by_centre)
    assert all(v is not None for v in rows[-1][3:]), "the total row shows every figure"
    assert headers[:3] == ["Code", "Centre", "Area"] or headers[1] == "Trung tâm"
    assert rows[-1][0] in ("Province total", "Toàn tỉnh")


def _durations(db, ids: list[int]) -> tuple[list[int], list[int], int]:
    """Every wait and service (µs) of these centres' tickets of MONTH, from the ORM, and how many waits
    were within their target (the field's own, else the centre's)."""
    from sqlalchemy import select

    from layso.server.engine import Settings
    from layso.server.storage.models import Centre, Field, Ticket
    us = lambda d: (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds  # noqa: E731
    with db.read() as s:
        default = {c.id: Settings.of(c).queue.target_wait_min for c in s.execute(select(Centre)).scalars()}
        target = {f.id: f.target_wait_min or default[f.centre_id] for f in s.execute(select(Field)).scalars()}
        tickets = s.execute(select(Ticket).where(Ticket.centre_id.in_(ids), Ticket.day >= MONTH[0],
                                                 Ticket.day <= MONTH[1])).scalars().all()
        waits = [(us(t.first_called_at - t.issued_at), t.field_id) for t in tickets if t.first_called_at]
        services = [us(t.completed_at - t.called_at) for t in tickets if t.status == "done"]
    return [w for w, _f in waits], services, sum(1 for w, f in waits if w <= target[f] * 60_000_000)


def test_statistics_page_and_its_downloads(two_centres):
    tinh = two_centres["tinh"]
    page = tinh.get(f"/province/stats?from={MONTH[0]}&to={MONTH[1]}&group=centre")
    assert page.status_code == 200
    assert "Thống kê toàn tỉnh" in page.text and "Trung tâm xã B" in page.text and "Toàn tỉnh" in page.text
    for group in ("field", "agency", "day"):
        assert tinh.get(f"/province/stats?from={MONTH[0]}&to={MONTH[1]}&group={group}").status_code == 200
    assert "không cộng dồn" in tinh.get(f"/province/stats?from={MONTH[0]}&to={MONTH[1]}&group=day").text
    assert tinh.get("/province/stats?from=2026-13-01").status_code == 400
    r = tinh.get(f"/province/stats/export?from={MONTH[0]}&to={MONTH[1]}&group=field&area=Khu vực 2")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.data)).active
    values = [c.value for row in ws.iter_rows() for c in row]
    assert "Trung tâm xã B" in values and "Trung tâm Phục vụ hành chính công xã" not in values
    assert tinh.get("/province/stats/month?month=2026-13").status_code == 400
    assert two_centres["admin-a"].get("/province/stats").status_code == 403
    assert two_centres["admin-a"].get("/province/stats/month?month=2026-10").status_code == 403


def test_the_months_report_per_centre_and_field(svc, two_centres):
    r = two_centres["tinh"].get("/province/stats/month?month=2026-10")
    assert r.status_code == 200 and "layso-bao-cao-thang-2026-10.xlsx" in r.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    head = next(i for i, row in enumerate(rows) if row[0] == "Trung tâm")
    assert rows[head][2:] == ["Lĩnh vực", "Sở, ngành" if rows[head][3] == "Sở, ngành" else rows[head][3],
                              *rows[head][4:]]
    body = rows[head + 1:]
    own = compute_groups(svc.db, two_centres["b"], *MONTH, ("field",))
    b_rows = [row for row in body if row[0] == "Trung tâm xã B"]
    assert len(b_rows) == len(own["groups"]["field"]) + 1  # its fields and its total
    total = b_rows[-1]
    assert total[2] == "Cộng trung tâm" and total[4] == own["total"]["issued"] and total[10] == own["total"]["no_show"]
    first = own["groups"]["field"][0]
    line = next(row for row in b_rows if row[2] == first["label"])
    assert line[4:6] == [first["issued"], first["served"]]
    assert line[7] == (None if first["wait_p90_s"] is None else round(first["wait_p90_s"] / 60, 1))


FIGURES = ("issued", "served", "no_show", "wait_mean_s", "wait_median_s", "wait_p90_s", "service_mean_s",
           "service_median_s", "service_p90_s", "within_target_share", "rated", "satisfied_share", "rating_counts")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_provinces_set_based_figures_equal_each_centres_own_statistics(tmp_path, backend, request):
    """Three centres with their own targets (a centre's default, a field's own) and a month of traffic:
    every figure by centre and by centre and field is its statistics page's, to the millisecond; by
    agency and by day the counts are its days' and fields' sums."""
    from conftest import config_data, small_config_data
    from layso.bench import year as gen
    from layso.server.engine import seed_centre
    from layso.server.storage.database import Database
    from layso.server.storage.migrate import upgrade

    from layso.config import parse_config
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'p.db'}"
    db = Database(url)
    upgrade(db)
    ids = [seed_centre(db, parse_config(small_config_data()))]
    for code, target in (("xa-b", 12), ("xa-c", 45)):
        data = config_data("commune")
        data["centre"].update(code=code, name=f"Trung tâm {code}", area="Khu vực 2")
        data["queue"] = {**data.get("queue", {}), "target_wait_min": target}
        data["fields"][0]["target_wait_min"] = 5
        ids.append(setup.create_from_config(db, parse_config(data), kind="commune"))
    for i, cid in enumerate(ids):
        gen.generate(db, cid, date(2026, 10, 20), days=14, tickets=900 + 300 * i, seed=11 + i)
    try:
        centres = pstats.province_centres(db)
        own = {c["code"]: compute_groups(db, c["id"], *MONTH, ("field", "day")) for c in centres}
        by_centre = {r["key"]: r for r in pstats.province_rows(db, centres, *MONTH, "centre")["rows"]}
        by_field = {r["key"]: r for r in pstats.province_rows(db, centres, *MONTH, "field")["rows"]}
        for code, o in own.items():
            assert {k: by_centre[code][k] for k in FIGURES} == {k: o["total"][k] for k in FIGURES}, code
            for row in o["groups"]["field"]:
                assert {k: by_field[f"{code}/{row['key']}"][k] for k in FIGURES} == {k: row[k] for k in FIGURES}
        assert len(by_field) == sum(len(o["groups"]["field"]) for o in own.values())
        days = {r["key"]: r for r in pstats.province_rows(db, centres, *MONTH, "day")["rows"]}
        for day in {r["key"] for o in own.values() for r in o["groups"]["day"]}:
            for k in ("issued", "served", "no_show", "rated"):
                assert days[day][k] == sum(r[k] for o in own.values() for r in o["groups"]["day"] if r["key"] == day)
        agencies = pstats.province_rows(db, centres, *MONTH, "agency")
        assert sum(r["served"] for r in agencies["rows"]) == sum(o["total"]["served"] for o in own.values())
        # the total row: the centres' tickets taken together (targets of 5, 12, 45 min and the default)
        total = pstats.province_rows(db, centres, *MONTH, "centre")["total"]
        waits, services, within = _durations(db, ids)
        assert (total["wait_mean_s"], total["wait_median_s"], total["wait_p90_s"]) == rules.summary(waits)
        assert (total["service_mean_s"], total["service_median_s"], total["service_p90_s"]) == rules.summary(services)
        assert total["within_target_share"] == round(within / len(waits), 4)
    finally:
        db.dispose()


def test_a_tiny_province_year_is_generated_and_its_month_report_made(tmp_path):
    """The generator's `--centres` path at a tiny size (the timed run is bench/stats_speed.py --centres 100)."""
    from layso.bench.year import main
    from layso.server.storage.database import Database
    url = f"sqlite:///{tmp_path / 'tiny.db'}"
    args = ["--db", url, "--centres", "3", "--start", "2026-03-02", "--days", "6", "--tickets", "400",
            "--commune-tickets", "150"]
    assert main(args) == 0
    assert main(args) == 2  # only into an empty database
    db = Database(url)
    try:
        centres = pstats.province_centres(db)
        assert len(centres) == 3 and {c["area"] for c in centres} >= {"Khu vực 2", "Khu vực 3"}
        data = pstats.province_rows(db, centres, date(2026, 3, 1), date(2026, 3, 31), "centre")
        assert all(r["issued"] > 0 for r in data["rows"]) and data["total"]["issued"] > 400
        name, content = pstats.month_report(db, 2026, 3)
        assert name == "layso-bao-cao-thang-2026-03.xlsx" and content[:2] == b"PK"
    finally:
        db.dispose()
