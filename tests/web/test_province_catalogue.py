"""The official catalogue of fields and agencies (CSV and XLSX) into one or many centres: parsed
with Vietnamese or English headers, every change shown before anything is saved, applied through
the engine (kiosks can issue in a new field at once), bad files refused in Vietnamese."""
from __future__ import annotations

import io
import re

import pytest
from layso.server.engine.accounts import add_user
from layso.server.engine import catalogue as cat
from layso.server.engine import centres as setup
from layso.server.errors import BadRequest
from layso.server.storage.models import Centre, Field
from openpyxl import Workbook
from sqlalchemy import select

PASSWORD = "password-123"
CSV = ("Mã;Tên lĩnh vực;Sở, ngành;Tên cũ;Mục tiêu\n"
       "dat-dai;Đất đai;Sở Nông nghiệp và Môi trường;Sở Tài nguyên và Môi trường;45\n"
       ";Giấy phép lái xe;Công an tỉnh;;\n").encode("utf-8-sig")


def xlsx(rows) -> bytes:
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_parse_csv_and_xlsx_with_vietnamese_or_english_headers():
    items = cat.parse_catalogue("danh-muc.csv", CSV)
    assert [(i.code, i.name, i.agency) for i in items] == [
        ("dat-dai", "Đất đai", "Sở Nông nghiệp và Môi trường"), ("giay-phep-lai-xe", "Giấy phép lái xe", "Công an tỉnh")]
    assert items[0].agency_aliases == ("Sở Tài nguyên và Môi trường",) and items[0].target_wait_min == 45
    same = cat.parse_catalogue("x.xlsx", xlsx([["code", "name", "agency"], ["ho-tich", "Hộ tịch", "Sở Tư pháp"]]))
    assert same[0].code == "ho-tich" and same[0].agency == "Sở Tư pháp"
    assert cat.slug("Tư pháp – Hộ tịch") == "tu-phap-ho-tich" and cat.slug("Đường bộ") == "duong-bo"
    for name, content, code in [("a.csv", b"", "catalogue_empty"), ("a.csv", "mã;sở\nx;y\n".encode(), "catalogue_no_name_column"),
                                ("a.csv", "tên;mã\n;x\n".encode(), "catalogue_row_no_name"),
                                ("a.csv", "tên;mã\nA;Bad Code\n".encode(), "catalogue_bad_code"),
                                ("a.csv", "tên;mã\nA;a\nB;a\n".encode(), "catalogue_duplicate"),
                                ("a.csv", "tên;mục tiêu\nA;soon\n".encode(), "catalogue_bad_target"),
                                ("a.xlsx", b"not a workbook", "catalogue_not_xlsx"), ("a.pdf", b"%PDF", "catalogue_file_type"),
                                ("a.csv", "tên\nĐất".encode("cp1258", "replace") + b"\xff", "catalogue_not_utf8")]:
        with pytest.raises(BadRequest) as err:
            cat.parse_catalogue(name, content)
        assert err.value.code == code, (content, err.value.code)


def test_catalogue_into_several_centres(svc, cid):
    db = svc.db
    b = setup.create_centre(db, "xa-b", "Xã B", preset="commune")
    items = cat.parse_catalogue("danh-muc.csv", CSV)
    plans = cat.plan_catalogue(db, ["xa", "xa-b"], items)
    assert all(p.changes for p, _c in plans)
    lines = "\n".join(plans[1][0].lines)
    assert "+ field giay-phep-lai-xe: Giấy phép lái xe" in lines and "field dat-dai.agency" in lines
    with db.read() as s:
        assert s.execute(select(Field).where(Field.code == "giay-phep-lai-xe")).first() is None  # nothing yet
    results = cat.apply_catalogue(svc.engine, ["xa", "xa-b"], items)
    assert len(results) == 2 and all(r.events for r in results)
    with db.read() as s:
        for centre_id in (cid, b):
            f = s.execute(select(Field).where(Field.centre_id == centre_id, Field.code == "dat-dai")).scalar_one()
            assert f.agency == "Sở Nông nghiệp và Môi trường" and f.target_wait_min == 45
            assert "Sở Tài nguyên và Môi trường" in f.agency_aliases and "Phòng Kinh tế" in f.agency_aliases
            new = s.execute(select(Field).where(Field.centre_id == centre_id, Field.code == "giay-phep-lai-xe")).scalar_one()
            assert new.active and new.range_start % 1000 == 1
    ticket = svc.engine.issue(b, "giay-phep-lai-xe").value  # a kiosk can issue in it at once
    assert ticket["serving_counters"] == [1]
    assert all(not p.changes for p, _c in cat.plan_catalogue(db, ["xa", "xa-b"], items))  # applied: it matches
    with pytest.raises(BadRequest):
        cat.plan_catalogue(db, ["xa-b"], items + [cat.CatalogueField("moi", "Mới")], counter=99)


def test_catalogue_page_previews_then_applies(app, svc, cid):
    setup.create_centre(svc.db, "xa-b", "Xã B", preset="commune")
    add_user(svc.db, "tinh", "province_admin", PASSWORD, "xa")
    add_user(svc.db, "admin-a", "admin", PASSWORD, "xa")
    client = app.test_client()
    csrf = client.post("/api/v1/session", json={"username": "tinh", "password": PASSWORD}).json["csrf_token"]
    page = client.get("/province/catalogue")
    assert page.status_code == 200 and "Danh mục lĩnh vực và sở, ngành" in page.text
    r = client.post("/province/catalogue", data={"csrf_token": csrf, "action": "preview", "centres": ["xa-b"],
                                                 "file": (io.BytesIO(CSV), "danh-muc.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and "+ Thêm mới: lĩnh vực giay-phep-lai-xe — Giấy phép lái xe" in r.text
    assert "lĩnh vực dat-dai — cơ quan (sở, ngành)" in r.text and "Áp dụng cho 1 trung tâm" in r.text
    with svc.db.read() as s:
        assert s.execute(select(Field).where(Field.code == "giay-phep-lai-xe")).first() is None
    payload = re.search(r'name="catalogue" value="([^"]*)"', r.text).group(1)
    import html
    r = client.post("/province/catalogue", data={"csrf_token": csrf, "action": "apply", "centres": ["xa-b"],
                                                 "catalogue": html.unescape(payload)})
    assert r.status_code == 302
    with svc.db.read() as s:
        b = s.execute(select(Centre.id).where(Centre.code == "xa-b")).scalar_one()
        assert s.execute(select(Field.centre_id).where(Field.code == "giay-phep-lai-xe")).scalars().all() == [b]
    bad = client.post("/province/catalogue", data={"csrf_token": csrf, "action": "preview", "centres": ["xa-b"],
                                                   "file": (io.BytesIO("tên;mã\nA;Bad Code\n".encode()), "d.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and "Dòng 2" in bad.text
    other = app.test_client()
    other.post("/api/v1/session", json={"username": "admin-a", "password": PASSWORD})
    assert other.get("/province/catalogue").status_code == 403
