"""The remote channel's statistics with known data: online lapse and no-show rates and appointment
punctuality, on the manager's statistics page and in its CSV and XLSX files."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from conftest import HCM, small_config_data
from layso.server.queries.remote_stats import remote_figures
from sqlalchemy import select

DAY = date(2026, 11, 23)


@pytest.fixture
def rapp(tmp_path, frozen_clock, monkeypatch):
    from layso.server.app import create_app
    from conftest import seat_officers

    from layso.config import parse_config
    monkeypatch.setenv("LAYSO_SECRET_KEY", "test-secret")
    data = small_config_data()
    data["booking"].update({"appointment_fields": ["dat-dai"], "slot_minutes": 30, "check_in_before_min": 15,
                            "check_in_after_min": 15, "per_citizen_daily": 5})
    data["queue"]["skip_action"] = "no_show"
    application = create_app(parse_config(data), db_url=f"sqlite:///{tmp_path / 'r.db'}", testing=True)
    seat_officers(application.extensions["layso"].db)
    yield application
    application.extensions["layso"].db.dispose()


@pytest.fixture
def day_of_bookings(rapp, frozen_clock):
    """Monday 23/11: four online numbers for bhxh (one served, one checked in but absent when called,
    one never checked in, one cancelled) and three appointments for dat-dai (one on time, one late, one never
    checked in); the lapse runs at the end of the day."""
    svc = rapp.extensions["layso"]
    e = svc.engine
    from layso.server.storage.models import Centre
    with svc.db.read() as s:
        cid = s.execute(select(Centre.id)).scalar_one()
    served, absent, unused, cancelled = (e.booking.book(cid, "bhxh", citizen_key=k).value for k in "abcd")
    on_time = e.booking.book(cid, "dat-dai", slot="10:00", citizen_key="e").value
    late = e.booking.book(cid, "dat-dai", slot="09:30", citizen_key="f").value
    e.booking.book(cid, "dat-dai", slot="11:00", citizen_key="g")
    e.booking.check_in(cid, served["code"])
    e.booking.check_in(cid, absent["code"])
    e.booking.cancel(cid, cancelled["track_url"].rsplit("/", 1)[1])
    frozen_clock.set(datetime(2026, 11, 23, 10, 5, tzinfo=HCM))
    e.booking.check_in(cid, on_time["code"])  # the 10:00 slot's window ends 10:15: on time
    e.booking.check_in(cid, late["code"])  # the 09:30 slot's window ended 09:45: late
    assert e.call_next(cid, 3).value["ticket"]["number"] == served["number"]
    assert e.call_next(cid, 3).value["ticket"]["number"] == absent["number"]
    e.skip(cid, 3)  # absent: no-show

    frozen_clock.set(datetime(2026, 11, 24, 0, 0, tzinfo=HCM))
    e.booking.lapse(cid)
    return cid


def test_figures_with_known_data(rapp, day_of_bookings):
    svc = rapp.extensions["layso"]
    r = remote_figures(svc.db, day_of_bookings, DAY, DAY)
    total = r["total"]
    # online numbers: 2 checked in (one served, one then absent when called: a no-show, not a lapse),
    # 1 never checked in (lapsed), 1 cancelled
    assert total["number"] == {"booked": 0, "checked_in": 2, "lapsed": 1, "cancelled": 1}
    assert total["lapse_rate"] == round(1 / 3, 4)
    assert (total["online_tickets"], total["online_no_show"], total["online_no_show_rate"]) == (4, 1, 0.25)
    assert total["appointment"] == {"booked": 0, "checked_in": 2, "lapsed": 1, "cancelled": 0}
    assert (total["on_time"], total["late"], total["punctuality"]) == (1, 1, 0.5)
    assert [f["key"] for f in r["fields"]] == ["bhxh", "dat-dai"]
    bhxh, dat = r["fields"]
    assert bhxh["punctuality"] is None and dat["lapse_rate"] is None and dat["online_no_show_rate"] is None
    assert remote_figures(svc.db, day_of_bookings, date(2026, 11, 24), date(2026, 11, 30))["fields"] == []


def _manager(app):
    from layso.server.engine.accounts import add_user
    add_user(app.extensions["layso"].db, "boss", "manager", "password-123")
    c = app.test_client()
    assert c.post("/api/v1/session", json={"username": "boss", "password": "password-123"}).status_code == 200
    return c


def test_the_statistics_page_and_files_show_them(rapp, day_of_bookings):
    c = _manager(rapp)
    html = c.get("/manage/stats?from=2026-11-23&to=2026-11-23&group=field").get_data(as_text=True)
    table = html[html.index('id="remote-table"'):]
    table = table[:table.index("</table>")]
    assert "Tỷ lệ số trực tuyến hết hiệu lực (%)" in table and "Tỷ lệ đúng giờ hẹn (%)" in table
    total = table[table.index('data-field=""'):]
    cells = [c.split("<")[0] for c in total.split('<td class="num">')[1:]]
    assert cells == ["2", "1", "1", "33,3", "4", "25,0", "2", "1", "1", "1", "50,0"]
    assert "Tỷ lệ đúng giờ hẹn: số lịch hẹn xác nhận có mặt trước khi hết khung xác nhận (15 phút" in html

    r = c.get("/manage/stats/export?from=2026-11-23&to=2026-11-23&group=remote&format=csv")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["Mã", "Lĩnh vực", "Số trực tuyến đã xác nhận có mặt"]
    assert rows[-1][1:] == ["Tất cả lượt đặt", "2", "1", "1", "33.3", "4", "25.0", "2", "1", "1", "1", "50.0"]
    assert [row[0] for row in rows[1:-1]] == ["bhxh", "dat-dai"]

    from openpyxl import load_workbook
    r = c.get("/manage/stats/export?from=2026-11-23&to=2026-11-23&group=all&format=xlsx")
    wb = load_workbook(io.BytesIO(r.get_data()))
    sheet = wb["Kênh từ xa"]
    last = [cell.value for cell in list(sheet.iter_rows())[-1]]
    assert last[1:] == ["Tất cả lượt đặt", 2, 1, 1, 33.3, 4, 25.0, 2, 1, 1, 1, 50.0]
    summary = {row[0].value: row[1].value for row in wb["Tổng hợp"].iter_rows() if row[0].value}
    assert summary["Tỷ lệ đúng giờ hẹn (%)"] == 50.0 and summary["Tỷ lệ số trực tuyến hết hiệu lực (%)"] == 33.3


def test_without_bookings_the_page_has_no_remote_table(rapp):
    c = _manager(rapp)
    html = c.get("/manage/stats?from=2026-11-23&to=2026-11-23").get_data(as_text=True)
    assert 'id="remote-table"' not in html
    from openpyxl import load_workbook
    r = c.get("/manage/stats/export?from=2026-11-23&to=2026-11-23&group=field&format=xlsx")
    assert "Kênh từ xa" not in load_workbook(io.BytesIO(r.get_data())).sheetnames
