"""Exports: the CSV and XLSX files carry the same figures as the statistics (and the page), the raw
ticket list matches the tickets, the download buttons serve them, and `layso export` works as a
command in a subprocess."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date

import pytest
from layso.server.queries.export import (
    export_stats,
    export_tickets,
    stats_table,
    translated,
)
from layso.server.queries.stats import GROUPS, compute_groups, compute_stats
from layso.server.storage.models import Ticket
from openpyxl import load_workbook
from sqlalchemy import func, select
from test_stats import generated

FROM, TO = date(2026, 3, 2), date(2026, 3, 4)


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{tmp / 'gen.db'}"
    e, cid, _summary = generated(url, tmp, days=3, tickets=700)
    yield e.db, cid, url, tmp
    e.db.dispose()


def as_text(value) -> str:
    return "" if value is None else str(value)


def test_csv_of_one_group_equals_the_statistics(year):
    db, cid, _url, _tmp = year
    with translated("en"):
        name, content = export_stats(db, cid, FROM, TO, "csv", "field")
        expected_headers, expected_rows = stats_table(compute_groups(db, cid, FROM, TO, ["field"]), "field")
    assert name.endswith(".csv") and content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert lines[0] == expected_headers and lines[0][:5] == ["Code", "Field", "Issued", "Served", "No-show"]
    assert lines[1:] == [[as_text(v) for v in r] for r in expected_rows]
    # and the figures are the API's, in minutes and percent
    api = {r["key"]: r for r in compute_stats(db, cid, FROM, TO, "field")["rows"]}
    for line in lines[1:-1]:
        row = api[line[0]]
        assert int(line[2]) == row["issued"] and int(line[3]) == row["served"] and int(line[4]) == row["no_show"]
        assert float(line[5]) == round(row["wait_mean_s"] / 60, 1)
        assert float(line[9]) == round(row["service_median_s"] / 60, 1)
        assert float(line[11]) == round(row["within_target_share"] * 100, 1)
        assert int(line[12]) == row["rated"] and float(line[13]) == round(row["satisfied_share"] * 100, 1)
        scale = {h.rsplit("(", 1)[1].rstrip(")"): int(v) for h, v in zip(lines[0][14:], line[14:])}
        assert {k: v for k, v in scale.items() if v} == row["rating_counts"]
    assert lines[-1][1] == "All tickets"


def test_xlsx_has_a_sheet_per_group_with_the_same_figures(year):
    db, cid, _url, _tmp = year
    with translated("en"):
        name, content = export_stats(db, cid, FROM, TO, "xlsx")
        result = compute_groups(db, cid, FROM, TO)
        tables = {g: stats_table(result, g) for g in GROUPS}
    assert name.endswith(".xlsx")
    wb = load_workbook(io.BytesIO(content))
    assert wb.sheetnames == ["Summary", "By field", "By counter", "By officer", "By hour of day", "By day"]
    for g, sheet in zip(GROUPS, wb.sheetnames[1:]):
        rows = [list(r) for r in wb[sheet].iter_rows(values_only=True)]
        headers, expected = tables[g]
        assert rows[0] == headers
        assert rows[1:] == expected, g
    summary = [r for r in wb["Summary"].iter_rows(values_only=True)]
    flat = " ".join(str(c) for r in summary for c in r if c is not None)
    assert "nearest-rank" in flat and "Issued" in flat and "Priority rule" in flat
    assert ("Issued", result["total"]["issued"]) in [tuple(r[:2]) for r in summary]


def test_csv_of_every_group_names_the_group_first(year):
    db, cid, _url, _tmp = year
    with translated("en"):
        _name, content = export_stats(db, cid, FROM, TO, "csv", "all")
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert lines[0][:4] == ["Grouped by", "Code", "Name", "Issued"]
    assert {line[0] for line in lines[1:]} == set(GROUPS)
    totals = [line for line in lines[1:] if line[2] == "All tickets"]
    assert len(totals) == 5 and len({tuple(t[3:]) for t in totals}) == 1


def test_ticket_list_has_every_ticket_of_the_range(year):
    db, cid, _url, _tmp = year
    with translated("en"):
        _name, content = export_tickets(db, cid, FROM, TO, "csv")
        _n, xlsx = export_tickets(db, cid, FROM, FROM, "xlsx")
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    head = lines[0]
    with db.read() as s:
        n = s.execute(select(func.count(Ticket.id)).where(Ticket.day >= FROM, Ticket.day <= TO)).scalar()
        t = s.execute(select(Ticket).where(Ticket.status == "done", Ticket.day == FROM).limit(1)).scalar_one()
    assert len(lines) - 1 == n
    row = dict(zip(head, next(line for line in lines if line[0] == str(t.id))))
    assert row["Number"] == t.number and row["Status"] == "Served"
    assert int(row["Wait (s)"]) == round((t.first_called_at - t.issued_at).total_seconds())
    assert row["Issued at"] == t.issued_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh")) \
        .strftime("%Y-%m-%d %H:%M:%S")
    sheet = load_workbook(io.BytesIO(xlsx)).active
    with db.read() as s:
        first_day = s.execute(select(func.count(Ticket.id)).where(Ticket.day == FROM)).scalar()
    assert sheet.max_row == first_day + 1

    # in Vietnamese, status, priority, channel and cancel reason are words, not codes
    with translated("vi"):
        _name, vi_content = export_tickets(db, cid, FROM, TO, "csv")
    vi_lines = list(csv.reader(io.StringIO(vi_content.decode("utf-8-sig"))))
    columns = {name: i for i, name in enumerate(vi_lines[0])}
    seen = {col: {line[columns[col]] for line in vi_lines[1:]} for col in ("Ưu tiên", "Kênh cấp số", "Trạng thái")}
    assert "Đã phục vụ" in seen["Trạng thái"] and "Ki-ốt lấy số" in seen["Kênh cấp số"]
    codes = {"waiting", "called", "done", "no_show", "cancelled", "kiosk", "staff", "elderly", "pregnant",
             "disabled", "merit", "day_closed"}
    assert not codes & set().union(*seen.values()), seen


def test_download_buttons_serve_the_files(year):
    import os

    from layso.server.app import create_app
    from layso.server.engine.accounts import add_user
    db, cid, url, _tmp = year
    os.environ["LAYSO_SECRET_KEY"] = "test-secret"
    app = create_app(db_url=url, testing=True, janitor=False)
    add_user(app.extensions["layso"].db, "sep-export", "manager", "password-123")
    client = app.test_client()
    assert client.post("/api/v1/session", json={"username": "sep-export", "password": "password-123"}).status_code == 200
    r = client.get(f"/manage/stats/export?format=csv&group=counter&from={FROM}&to={TO}&lang=en")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="layso-thong-ke-counter-')
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        _name, expected = export_stats(db, cid, FROM, TO, "csv", "counter")
    assert r.data == expected
    x = client.get(f"/manage/stats/export?format=xlsx&from={FROM}&to={TO}")
    assert x.status_code == 200 and x.data[:2] == b"PK"
    t = client.get(f"/manage/stats/tickets?format=csv&from={FROM}&to={TO}&lang=en")
    streamed, body = t.is_streamed, t.data
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        assert t.status_code == 200 and body == export_tickets(db, cid, FROM, TO, "csv")[1]
    assert streamed and body.count(b"\r\n") > 100
    assert client.get("/manage/stats/tickets?format=xlsx&from=2026-01-01&to=2026-06-30").status_code == 400
    assert client.get(f"/manage/stats/tickets?format=xlsx&from={FROM}&to={TO}").data[:2] == b"PK"
    app.extensions["layso"].db.dispose()


def test_layso_export_command(year, capsys):
    """Once as a program (`python -m layso.cli`); the other cases through the same `main`, in this process."""
    from layso.cli import main
    _db, _cid, url, tmp = year
    out = tmp / "march.csv"
    run = subprocess.run([sys.executable, "-m", "layso.cli", "export", "--from", str(FROM), "--to", str(TO),
                          "--format", "csv", "--out", str(out), "--db", url, "--lang", "en"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"wrote {out}" in run.stdout
    lines = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert lines[0][:4] == ["Grouped by", "Code", "Name", "Issued"] and len(lines) > 20
    assert main(["export", "--from", str(FROM), "--to", str(TO), "--format", "xlsx", "--out", str(tmp),
                 "--db", url]) == 0
    written = tmp / f"layso-thong-ke-all-{FROM}-{TO}.xlsx"
    assert load_workbook(written).sheetnames[0] in ("Summary", "Tổng hợp")
    capsys.readouterr()
    assert main(["export", "--from", str(FROM), "--to", str(FROM), "--format", "csv", "--tickets", "--out", "-",
                 "--db", url]) == 0
    assert capsys.readouterr().out.startswith("\ufeff")  # the UTF-8 BOM, on standard output
    assert main(["export", "--from", "2026-03-05", "--to", "2026-03-01", "--format", "csv", "--db", url]) == 2
    assert "--to must be on or after --from" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before the command runs
        main(["export", "--from", "3/2/2026", "--to", "2026-03-01", "--format", "csv", "--db", url])
    assert exit_.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err


def test_ticket_rows_page_through_in_short_reads(app, svc, cid, frozen_clock):
    from layso.server.queries.export import ticket_rows
    for _ in range(7):
        svc.engine.issue(cid, "dat-dai")
    day = frozen_clock.now().date()
    paged = list(ticket_rows(svc.db, cid, day, day, batch=3))  # pages of 3, 3 and 1
    assert [row[0] for row in paged] == sorted(row[0] for row in paged) and len(paged) == 7
    assert paged == list(ticket_rows(svc.db, cid, day, day, batch=1000))
