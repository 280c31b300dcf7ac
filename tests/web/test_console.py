"""The staff console's pages and data in-process (frozen clock): sign-in and counter choice, the
live queue of the counter's fields, today's figures, languages."""
from __future__ import annotations

import re

import pytest
from conftest import seat_officers
from layso.server.engine.accounts import add_user


@pytest.fixture
def staff(svc):
    add_user(svc.db, "staff1", "staff", "password-123", full_name="Nguyễn Thị Lan", pin="1111")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def login(client, counter: int | None = None, lang: str | None = None):
    page = client.get("/login" + (f"?lang={lang}" if lang else ""))
    form = {"username": "staff1", "password": "password-123", "csrf_token": csrf_of(page.text)}
    if counter is not None:
        form["counter"] = str(counter)
    return client.post("/login", data=form)


def test_signed_out_goes_to_the_login(app):
    c = app.test_client()
    r = c.get("/console")
    assert r.status_code == 302 and "/login?next=/console" in r.headers["Location"]
    assert c.get("/console/data").status_code == 401


def test_home_links_to_the_console(app, staff):
    c = app.test_client()
    login(c, lang="en")
    home = c.get("/?lang=en").text
    assert 'href="/console"' in home and "Counter console" in home


def test_pick_a_counter_then_work_it(app, staff, svc, cid):
    c = app.test_client()
    login(c)
    page = c.get("/console")
    assert page.status_code == 200 and 'id="pick-2"' in page.text and "Quầy 4 – Ưu tiên" in page.text
    bad = c.post("/console/counter", data={"counter": "99", "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    no_csrf = c.post("/console/counter", data={"counter": "2"})
    assert no_csrf.status_code == 400
    r = c.post("/console/counter", data={"counter": "2", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/console")
    state = svc.engine.state(cid)
    counter2 = next(x for x in state["counters"] if x["number"] == 2)
    assert counter2["officer"] == "Nguyễn Thị Lan" and counter2["status"] == "open"
    console = c.get("/console")
    assert 'id="btn-next"' in console.text and 'data-counter="2"' in console.text
    assert 'value="field:bhxh"' in console.text and 'value="counter:3"' in console.text
    assert 'value="counter:2"' not in console.text  # not to itself
    assert 'value="elderly"' in console.text
    assert "Quầy" in console.text  # Vietnamese by default
    english = c.get("/console?lang=en").text
    assert "Call next" in english and "Today at this counter" in english
    assert c.get("/console?pick=1").text.count('aria-current="true"') >= 1


def test_data_has_the_queue_of_the_counters_fields_in_call_order(app, staff, svc, cid, frozen_clock):
    e = svc.engine
    seat_officers(svc.db, cid)
    first = e.issue(cid, "dat-dai").value
    e.issue(cid, "tu-phap-ho-tich")  # not a field of counter 2 …
    e.call_next(cid, 3)
    e.transfer(cid, 3, to_counter=2)  # … but counter 3 transfers it to counter 2
    e.issue(cid, "tu-phap-ho-tich")  # not for counter 2
    frozen_clock.advance(minutes=1)
    elderly = e.issue(cid, "bhxh", priority="elderly").value
    frozen_clock.advance(minutes=1)
    e.issue(cid, "dat-dai")
    c = app.test_client()
    login(c, counter=2)
    d = c.get("/console/data").get_json()
    assert d["counter"]["number"] == 2 and d["counter"]["ticket"] is None
    assert [f["code"] for f in d["counter"]["fields"]] == ["dat-dai", "bhxh"]
    rows = [(t["number"], t["group"]) for t in d["queue"]]
    assert rows[0] == ("1001", "to_counter")
    # the priority rule puts the elderly citizen first (this counter has not called a priority yet)
    assert [n for n, g in rows[1:]] == ["6501", "2001", "2002"]
    prio = next(t for t in d["queue"] if t["number"] == "6501")
    assert prio["priority_name"] == "Người cao tuổi (từ 60 tuổi)" and prio["waited_s"] == 60
    assert next(t for t in d["queue"] if t["number"] == "2001")["waited_s"] == 120
    assert "1002" not in [n for n, _ in rows]
    assert d["waiting_by_field"] == {"tu-phap-ho-tich": 1, "dat-dai": 2, "bhxh": 1} and d["waiting"] == 4
    assert first["number"] == "2001" and elderly["number"] == "6501"
    # and it is exactly the order "next" calls them in
    called = [e.call_next(cid, 2).value["ticket"]["number"] for _ in range(len(rows))]
    assert called == [n for n, _ in rows]


def test_priority_only_counter_sees_only_priority_tickets(app, staff, svc, cid):
    svc.engine.issue(cid, "dat-dai")
    svc.engine.issue(cid, "bhxh", priority="pregnant")
    c = app.test_client()
    login(c, counter=4)
    d = c.get("/console/data").get_json()
    assert [t["number"] for t in d["queue"]] == ["6501"]


def test_today_figures_of_this_counter(app, staff, svc, cid, frozen_clock):
    e = svc.engine
    seat_officers(svc.db, cid)
    for _ in range(3):
        e.issue(cid, "dat-dai")
    frozen_clock.advance(minutes=10)
    e.call_next(cid, 2)  # 2001 waited 10 min
    frozen_clock.advance(minutes=6)
    done = e.complete(cid, 2, dossier_code="H01.23-251123-0001").value["ticket"]
    e.rate(cid, 4, ticket_id=done["id"], counter_number=2)
    e.call_next(cid, 2)  # 2002 waited 16 min
    frozen_clock.advance(minutes=4)
    second = e.complete(cid, 2).value["ticket"]
    e.rate(cid, 1, reasons=["Chờ lâu"], ticket_id=second["id"], counter_number=2)
    frozen_clock.advance(minutes=1)
    e.call_next(cid, 2)  # 2003 waited 21 min
    e.skip(cid, 2)
    e.call_next(cid, 2)  # 2003 again (requeued behind nobody) …
    assert e.skip(cid, 2).value["ticket"]["status"] == "no_show"  # … absent twice: no-show
    e.issue(cid, "dat-dai")
    e.call_next(cid, 1)  # 2004 at another counter does not count here
    c = app.test_client()
    login(c, counter=2)
    today = c.get("/console/data").get_json()["today"]
    assert today["served"] == 2 and today["no_show"] == 1 and today["called"] == 3
    assert today["wait_mean_s"] == round((600 + 960 + 1260) / 3)
    assert today["service_mean_s"] == round((360 + 240) / 2)
    assert today["rated"] == 2 and today["score_mean"] == 2.5 and today["satisfied_share"] == 0.5


def test_the_list_is_capped_but_the_counts_are_not(app, staff, svc, cid, monkeypatch):
    from layso.server.queries import console as console_queries
    monkeypatch.setattr(console_queries, "QUEUE_LIMIT", 3)
    for _ in range(5):
        svc.engine.issue(cid, "dat-dai")
    c = app.test_client()
    login(c, counter=1)
    d = c.get("/console/data").get_json()
    assert len(d["queue"]) == 3 and d["waiting"] == 5 and d["waiting_by_field"] == {"dat-dai": 5}
