"""Exports hold what a citizen or officer typed without breaking or turning into formulas (issue 11,
item 5): control characters that Excel cannot hold are dropped; formula-leading text is escaped in
XLSX and CSV; `layso export` reports problems without a traceback."""
from __future__ import annotations

import csv
import io

import pytest
from conftest import seat_officers
from layso.server.engine.devices import add_device
from layso.server.queries.export import export_stats, export_tickets, safe_cell, tickets_file_name, translated
from openpyxl import load_workbook

DOSSIERS = ["HS\x01-7\x1f", "=HYPERLINK(\"http://evil.example\",\"ok\")", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
            "HS-0042"]


@pytest.mark.parametrize("value, expected", [("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"),
                                             ("\tx", "'\tx"), ("\rx", "'\rx"), ("a\x00b\x07c\x1b", "abc"),
                                             ("\x01=x", "'=x"), ("Đất đai", "Đất đai"), (5, 5), (None, None)])
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


@pytest.fixture
def served(app, svc, cid, frozen_clock):
    """Tickets completed with the dossier codes above, through the API (the edge lets them through:
    they are text the database stores)."""
    kiosk = add_device(svc.db, "kiosk", "Kiosk")
    panel = add_device(svc.db, "counter", "Panel", counter=1)
    seat_officers(svc.db, cid)  # someone is signed in at each counter (a counter without one cannot call)
    c = app.test_client()
    for code in DOSSIERS:
        assert c.post("/api/v1/tickets", json={"field": "dat-dai"}, headers={"Authorization": f"Bearer {kiosk}"}).status_code == 201
        assert c.post("/api/v1/counters/1/next", headers={"Authorization": f"Bearer {panel}"}).status_code == 200
        r = c.post("/api/v1/counters/1/complete", json={"dossier_code": code}, headers={"Authorization": f"Bearer {panel}"})
        assert r.status_code == 200, r.json
    return frozen_clock.now().date()


def test_ticket_exports_escape_formulas_and_drop_control_characters(app, svc, cid, served):
    with translated("en"):
        _n, xlsx = export_tickets(svc.db, cid, served, served, "xlsx")
        _n, text = export_tickets(svc.db, cid, served, served, "csv")
    sheet = load_workbook(io.BytesIO(xlsx)).active
    head = [c.value for c in sheet[1]]
    col = head.index("Dossier code")
    cells = [row[col] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == ["HS-7", "'=HYPERLINK(\"http://evil.example\",\"ok\")", "'+1+2", "'-2+3",
                                        "'@SUM(A1)", "TAB", "CR", "HS-0042"]  # the engine trims blanks
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    codes = [r[rows[0].index("Dossier code")] for r in rows[1:]]
    assert codes[1].startswith("'=") and codes[0] == "HS-7" and not any(c.startswith(("=", "+", "-", "@")) for c in codes)


def test_stats_exports_escape_names(app, svc, cid, served):
    from layso.server.storage.models import Field
    from sqlalchemy import update
    with svc.db.write() as s:
        s.execute(update(Field).where(Field.code == "dat-dai").values(name="=cmd|' /C calc'!A0"))
    with translated("en"):
        _n, xlsx = export_stats(svc.db, cid, served, served, "xlsx", "field")
        _n, text = export_stats(svc.db, cid, served, served, "csv", "field")
    wb = load_workbook(io.BytesIO(xlsx))
    values = [c.value for row in wb.worksheets[1].iter_rows() for c in row if isinstance(c.value, str)]
    assert "'=cmd|' /C calc'!A0" in values and not any(v.startswith("=") for v in values)
    assert "'=cmd|" in text.decode("utf-8-sig")


def test_web_and_cli_ticket_export_survive_control_characters(app, svc, cid, served, tmp_path, capsys):
    from layso.server.engine.accounts import add_user
    add_user(svc.db, "boss", "manager", "password-123")
    c = app.test_client()
    assert c.post("/api/v1/session", json={"username": "boss", "password": "password-123"}).status_code == 200
    r = c.get(f"/manage/stats/tickets?format=xlsx&from={served}&to={served}")
    assert r.status_code == 200 and r.data[:2] == b"PK"
    url = svc.db.url
    from layso.cli import main  # `layso export` in this process (tests/engine/test_export.py runs it as a program)
    for fmt in ("xlsx", "csv"):
        assert main(["export", "--from", str(served), "--to", str(served), "--format", fmt, "--tickets",
                     "--out", str(tmp_path), "--db", url]) == 0  # an exception would fail the test here
        assert (tmp_path / tickets_file_name(served, served, fmt)).stat().st_size > 0
    capsys.readouterr()
    assert main(["export", "--from", "0001-01-01", "--to", "0001-01-02", "--format", "csv", "--db", url]) == 2
    assert "1970" in capsys.readouterr().err


def test_the_provinces_month_report_escapes_names(app, svc, cid, served):
    from layso.server.engine.accounts import add_user
    from layso.server.engine import centres as setup
    from layso.server.queries import province_stats as pstats
    setup.create_centre(svc.db, "xa-c", "=HYPERLINK(\"http://evil.example\")", preset="commune", area="@area\x07")
    add_user(svc.db, "tinh", "province_admin", "password-123", "xa")
    _name, xlsx = pstats.month_report(svc.db, served.year, served.month)
    values = [c.value for row in load_workbook(io.BytesIO(xlsx)).active.iter_rows() for c in row
              if isinstance(c.value, str)]
    assert "'=HYPERLINK(\"http://evil.example\")" in values and "'@area" in values
    assert not any(v.startswith(("=", "+", "@")) for v in values)
