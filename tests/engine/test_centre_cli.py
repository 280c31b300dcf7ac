"""`layso centre add|list|export|import` and `layso user add --role province_admin` against a real
database file: the TOML round trip, the re-import that shows every difference first and changes
nothing without --yes, and the import's effect on a live centre (fields deactivated, never deleted)."""
from __future__ import annotations

import json
import tomllib

import pytest
from layso.cli import main
from layso.server.engine import centres as setup
from layso.server.engine import QueueEngine
from layso.server.errors import Conflict
from layso.server.storage.database import Database
from layso.server.storage.models import Centre, Counter, Field, TicketEvent, User
from sqlalchemy import select

from layso.config import load_config


@pytest.fixture
def db_url(tmp_path, frozen_clock):
    return f"sqlite:///{tmp_path / 'centres.db'}"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_export_import_round_trip(tmp_path, db_url, capsys):
    assert run(capsys, "centre", "add", "xa-an-binh", "--name", "Trung tâm xã An Bình", "--preset", "commune",
               "--area", "Khu vực 1", "--db", db_url)[0] == 0
    assert run(capsys, "centre", "add", "tinh", "--name", "Trung tâm tỉnh", "--preset", "province",
               "--db", db_url)[0] == 0
    assert run(capsys, "centre", "add", "xa-b", "--name", "Xã B", "--copy-from", "xa-an-binh", "--db", db_url)[0] == 0
    code, _out, err = run(capsys, "centre", "add", "xa-b", "--name", "Again", "--preset", "commune", "--db", db_url)
    assert code == 2 and "exists already" in err
    code, out, _ = run(capsys, "centre", "list", "--json", "--db", db_url)
    rows = {r["code"]: r for r in json.loads(out)}
    assert rows["xa-an-binh"]["area"] == "Khu vực 1" and rows["tinh"]["kind"] == "province"
    assert rows["xa-b"]["fields"] == rows["xa-an-binh"]["fields"] and not rows["xa-b"]["suspended"]
    code, out, _ = run(capsys, "centre", "list", "--db", db_url)
    assert "xa-an-binh" in out and "Khu vực 1" in out
    # export writes a valid configuration; importing it unchanged changes nothing
    path = tmp_path / "xa-b.toml"
    assert run(capsys, "centre", "export", "xa-b", "--out", str(path), "--db", db_url)[0] == 0
    config = load_config(path)
    assert config.centre.code == "xa-b" and len(config.fields) == rows["xa-b"]["fields"]
    code, out, _ = run(capsys, "centre", "import", str(path), "--db", db_url)
    assert code == 0 and "nothing to change" in out
    # a user add with the new role
    code, out, _ = run(capsys, "user", "add", "so-noi-vu", "--role", "province_admin", "--centre", "tinh",
                       "--db", db_url)
    assert code == 0
    db = Database(db_url)
    with db.read() as s:
        assert s.execute(select(User.role).where(User.username == "so-noi-vu")).scalar_one() == "province_admin"
    db.dispose()


def test_import_shows_the_diff_first_and_applies_only_with_yes(tmp_path, db_url, capsys):
    run(capsys, "centre", "add", "xa-b", "--name", "Xã B", "--preset", "commune", "--db", db_url)
    path = tmp_path / "xa-b.toml"
    run(capsys, "centre", "export", "xa-b", "--out", str(path), "--db", db_url)
    data = tomllib.loads(path.read_text("utf-8"))
    data["centre"]["name"] = "Xã Bình"
    data["queue"]["target_wait_min"] = 20
    data["fields"][1]["name"] = "Chứng thực bản sao"
    removed = data["fields"].pop()  # the last field leaves the file …
    for k in data["counters"]:
        k["fields"] = [f for f in k["fields"] if f != removed["code"]]
    data["counters"] = [k for k in data["counters"] if k["fields"]]
    data["counters"].append({"number": 99, "name": "Quầy 99", "fields": [data["fields"][0]["code"]]})
    from layso.config import write_config
    write_config(data, path)
    db = Database(db_url)
    engine = QueueEngine(db)
    with db.read() as s:
        cid = s.execute(select(Centre.id).where(Centre.code == "xa-b")).scalar_one()
        seq_before = s.get(Centre, cid).seq
    engine.issue(cid, removed["code"])  # … though a ticket was issued in it
    code, out, _ = run(capsys, "centre", "import", str(path), "--db", db_url)
    assert code == 1 and "--yes" in out
    assert "~ centre.name: 'Xã B' → 'Xã Bình'" in out
    assert "~ queue.target_wait_min: 30 → 20" in out
    assert f"- field {removed['code']}" in out and "+ counter 99" in out
    assert "field chung-thuc.name" in out
    with db.read() as s:
        assert s.get(Centre, cid).name == "Xã B"  # nothing changed yet
    code, out, _ = run(capsys, "centre", "import", str(path), "--yes", "--db", db_url)
    assert code == 0 and "updated" in out
    with db.read() as s:
        c = s.get(Centre, cid)
        assert c.name == "Xã Bình" and c.settings["queue"]["target_wait_min"] == 20
        gone = s.execute(select(Field).where(Field.centre_id == cid, Field.code == removed["code"])).scalar_one()
        assert gone.active is False  # deactivated, its ticket kept
        assert s.execute(select(Counter.name).where(Counter.centre_id == cid, Counter.number == 99)).scalar_one()
        assert c.seq > seq_before + 1  # events numbered: connected devices see the gap and resync
        assert s.execute(select(TicketEvent).where(TicketEvent.centre_id == cid)).first() is not None
    assert run(capsys, "centre", "import", str(path), "--db", db_url)[0] == 0  # now it matches
    db.dispose()


def test_import_refuses_to_remove_an_open_counter_and_creates_a_new_centre(tmp_path, db_url, capsys, frozen_clock):
    run(capsys, "centre", "add", "xa-b", "--name", "Xã B", "--preset", "commune", "--db", db_url)
    db = Database(db_url)
    engine = QueueEngine(db)
    with db.read() as s:
        cid = s.execute(select(Centre.id).where(Centre.code == "xa-b")).scalar_one()
    data = setup.centre_config(db, "xa-b")
    shared = next(k["number"] for k in data["counters"]  # a counter whose fields others serve too
                  if all(any(f in o["fields"] for o in data["counters"] if o is not k) for f in k["fields"]))
    u = setup.name_admin(db, "xa-b", "can-bo", "password-123")
    engine.sign_in(cid, shared, u)  # it opens
    data["counters"] = [k for k in data["counters"] if k["number"] != shared]
    config = load_config(_write(tmp_path / "a.toml", data))
    with pytest.raises(Conflict):
        setup.apply_import(engine, config)
    with db.read() as s:
        assert s.execute(select(Counter.active).where(Counter.centre_id == cid, Counter.number == shared)).scalar_one()
    # a file for a centre the database does not have yet creates it (after showing it)
    data["centre"]["code"] = "xa-moi"
    path = _write(tmp_path / "b.toml", data)
    code, out, _ = run(capsys, "centre", "import", str(path), "--db", db_url)
    assert code == 1 and "+ centre xa-moi" in out
    assert run(capsys, "centre", "import", str(path), "--yes", "--db", db_url)[0] == 0
    with db.read() as s:
        assert s.execute(select(Centre.name).where(Centre.code == "xa-moi")).scalar_one() == "Xã B"
    code, _out, err = run(capsys, "centre", "export", "nope", "--db", db_url)
    assert code == 2 and "unknown centre" in err
    db.dispose()


def _write(path, data):
    from layso.config import write_config
    write_config(data, path)
    return path


def test_catalogue_from_the_command_line(tmp_path, db_url, capsys):
    for code, area in (("xa-a", "Khu vực 1"), ("xa-b", "Khu vực 2"), ("xa-c", "Khu vực 2")):
        run(capsys, "centre", "add", code, "--name", code, "--preset", "commune", "--area", area, "--db", db_url)
    path = tmp_path / "danh-muc.csv"
    path.write_text("tên lĩnh vực,sở, ngành\nGiấy phép lái xe,Công an tỉnh\n".replace("sở, ngành", '"sở, ngành"'),
                    encoding="utf-8")
    code, out, _ = run(capsys, "centre", "catalogue", str(path), "--area", "Khu vực 2", "--db", db_url)
    assert code == 1 and "centre xa-b would change" in out and "centre xa-c would change" in out and "xa-a" not in out
    assert run(capsys, "centre", "catalogue", str(path), "--area", "Khu vực 2", "--yes", "--db", db_url)[0] == 0
    code, out, _ = run(capsys, "centre", "catalogue", str(path), "--all", "--db", db_url)
    assert code == 1 and "centre xa-a would change" in out and "xa-b" not in out
    code, _out, err = run(capsys, "centre", "catalogue", str(tmp_path / "missing.csv"), "--all", "--db", db_url)
    assert code == 2 and "cannot read" in err
