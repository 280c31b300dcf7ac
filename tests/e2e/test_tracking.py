"""The public tracking page (/t/<token>), in process and in headless Chromium at a phone's size."""
from __future__ import annotations

import os
import re
from datetime import datetime

import pytest
import requests
from babel.support import Translations
from conftest import HCM, ROOT, chromium, seat_officers, small_config_data, start_server

from layso.config import parse_config

PHONE = {"width": 390, "height": 844}


def vi(msgid: str) -> str:
    """What the Vietnamese catalogue says for `msgid` (the page's default language)."""
    catalogue = Translations.load(str(ROOT / "layso" / "translations"), ["vi"])
    return catalogue.gettext(msgid)


# ---- in process -------------------------------------------------------------------------------------
@pytest.fixture
def track_app(request, tmp_path, frozen_clock):
    """The app and a kiosk's client; parametrized indirectly, the config's sections are replaced."""
    from layso.server.app import create_app
    from layso.server.engine.devices import add_device
    os.environ["LAYSO_SECRET_KEY"] = "test-secret"
    data = {**small_config_data(), **getattr(request, "param", {})}
    data["rating"]["levels"] = [{"score": 3, "label": "Tốt"}, {"score": 2, "label": "Tạm được"},
                                {"score": 1, "label": "Chưa tốt"}]
    data["rating"]["satisfied_min"] = 3
    data["rating"]["reasons"] = ["Chờ quá lâu"]
    application = create_app(parse_config(data), db_url=f"sqlite:///{tmp_path / 'track.db'}", testing=True)
    token = add_device(application.extensions["layso"].db, "kiosk", "Kiosk")
    client = application.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    yield application, client
    application.extensions["layso"].db.dispose()


def take(client, field="dat-dai", **extra) -> dict:
    r = client.post("/api/v1/tickets", json={"field": field, **extra})
    assert r.status_code == 201
    return r.get_json()


def page(client, ticket: dict, lang: str = "vi") -> str:
    path = "/t/" + ticket["track_url"].rsplit("/t/", 1)[1]
    r = client.get(path, headers={"Accept-Language": lang, "Authorization": ""})
    assert r.status_code == 200
    return r.get_data(as_text=True)


def visible(html: str, element_id: str) -> bool:
    tag = re.search(rf'<[^>]*id="{element_id}"[^>]*>', html).group(0)
    return " hidden" not in tag


def test_waiting_ticket_page_is_complete_without_script(track_app):
    _app, client = track_app
    take(client)
    mine = take(client, priority="elderly")
    html = page(client, mine)
    assert '<html lang="vi">' in html
    assert mine["number"] in html and "Đất đai" in html
    assert visible(html, "t-waiting") and not visible(html, "t-called") and not visible(html, "t-rating")
    assert "Người cao tuổi" in html
    assert vi("Counters serving this field: %(counters)s").replace("%(counters)s", "1, 2") in html
    assert 'id="t-config"' in html and "socket.io.min.js" in html
    assert len(html.encode()) < 12_000, "light for a slow connection"


WORKING_HOURS = {"hours": {"mon": ["07:30-11:30", "13:30-17:00"], "early_issue_minutes": 30}}


@pytest.mark.parametrize("track_app", [WORKING_HOURS], indirect=True)
def test_a_number_taken_before_opening_says_the_centre_has_not_opened(track_app, frozen_clock):
    """Nobody ahead and a wait of 20 minutes contradict each other unless the page says why."""
    _app, client = track_app
    frozen_clock.set(datetime(2026, 11, 23, 7, 10, tzinfo=HCM))  # Monday, 20 minutes before opening
    early = take(client)
    assert early["ahead"] == 0 and early["est_wait_reason"] == "opens_later" and early["est_wait_s"] == 20 * 60
    html = page(client, early)
    assert visible(html, "t-opens") and vi("The centre has not opened yet.") == "Trung tâm chưa đến giờ làm việc."
    assert "Trung tâm chưa đến giờ làm việc." in html
    frozen_clock.set(datetime(2026, 11, 23, 8, 0, tzinfo=HCM))
    assert not visible(page(client, early), "t-opens")


def test_vietnamese_by_default_english_by_choice(track_app):
    _app, client = track_app
    mine = take(client)
    # a phone that asks for English still gets the Vietnamese page (the field names are Vietnamese)
    html = page(client, mine, lang="en-US,en;q=0.9")
    assert '<html lang="vi">' in html and vi("Your queue number") in html and "Your queue number" not in html
    switch = re.search(r'<a href="([^"]+)" lang="en"', html).group(1)
    assert switch.endswith("?lang=en")
    # the visible switch chooses English, and the choice stays for the next visit
    r = client.get(switch.replace("&amp;", "&"))
    assert '<html lang="en">' in r.get_data(as_text=True) and "Cancel my number" in r.get_data(as_text=True)
    again = page(client, mine, lang="vi")
    assert '<html lang="en">' in again
    client.get(switch.replace("lang=en", "lang=vi"))
    assert '<html lang="vi">' in page(client, mine)


def test_rating_form_shows_the_centres_own_scale_after_service(track_app):
    application, client = track_app
    from layso.server.engine.devices import add_device
    mine = take(client)
    counter = add_device(application.extensions["layso"].db, "counter", "Quầy 1", counter=1)
    seat_officers(application.extensions["layso"].db)  # someone is signed in at each counter (a counter without one cannot call)
    for action in ("next", "complete"):
        r = client.post(f"/api/v1/counters/1/{action}", headers={"Authorization": f"Bearer {counter}"})
        assert r.status_code == 200
    html = page(client, mine)
    assert visible(html, "t-rating") and visible(html, "t-ended") and not visible(html, "t-waiting")
    labels = re.findall(r'name="score" value="(\d+)"> <span>([^<]+)</span>', html)
    assert labels == [("3", "Tốt"), ("2", "Tạm được"), ("1", "Chưa tốt")]
    assert "Chờ quá lâu" in html


def test_unknown_link_is_a_friendly_404(track_app):
    _app, client = track_app
    r = client.get("/t/no-such-token", headers={"Accept-Language": "vi"})
    assert r.status_code == 404 and '<html lang="vi">' in r.get_data(as_text=True)


# ---- in a browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    with chromium() as b:  # one browser for the module's page tests
        yield b


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    sp = start_server(tmp_path_factory.mktemp("tracking"))
    sp.kiosk = sp.add_device("kiosk", "Kiosk")
    sp.counter = sp.add_device("counter", "Bảng quầy 1", counter=1)
    sp.seat_officers()  # someone is signed in at each counter (a counter without one cannot call)
    yield sp
    sp.stop()


def issue(sp, field="dat-dai") -> dict:
    r = sp.post("/api/v1/tickets", sp.kiosk, {"field": field})
    assert r.status_code == 201
    return r.json()


def counter(sp, action: str) -> requests.Response:
    r = sp.post(f"/api/v1/counters/1/{action}", sp.counter, {})
    assert r.status_code in (200, 204), r.text
    return r


@pytest.mark.browser
@pytest.mark.slow
def test_phone_follows_its_number_live_and_rates(live_server, browser, artifacts):
    sp = live_server
    issue(sp)
    mine = issue(sp)
    context = browser.new_context(viewport=PHONE, locale="vi-VN", device_scale_factor=2)
    page_ = context.new_page()
    page_.goto(mine["track_url"])
    assert page_.locator("html").get_attribute("lang") == "vi"
    assert page_.locator("#t-num").inner_text() == mine["number"]
    assert page_.locator("#t-field").inner_text() == "Đất đai"
    assert "1" in page_.locator("#t-ahead").inner_text()
    page_.wait_for_function("document.getElementById('t-live').textContent.indexOf(%r) >= 0"
                            % vi("Live updates"), timeout=10_000)
    page_.screenshot(path=str(artifacts / "tracking_waiting.png"), full_page=True)

    counter(sp, "next")  # the one ahead is called: nobody ahead any more, without a reload
    page_.wait_for_function("document.getElementById('t-ahead').textContent.indexOf(%r) >= 0"
                            % vi("Nobody is waiting ahead of you."), timeout=8_000)
    counter(sp, "next")  # now it is us: the counter, big (well within the 15 s poll: it came live)
    page_.locator("#t-called").wait_for(state="visible", timeout=8_000)
    expected = vi("Please go to counter %(counter)s").replace("%(counter)s", "1")
    assert page_.locator("#t-called-counter").inner_text() == expected
    assert page_.locator("#t-waiting").is_hidden()
    page_.screenshot(path=str(artifacts / "tracking_called.png"), full_page=True)

    counter(sp, "complete")
    page_.locator("#t-rating").wait_for(state="visible", timeout=8_000)
    page_.screenshot(path=str(artifacts / "tracking_rating.png"), full_page=True)
    page_.locator("label.t-choice", has_text="Không hài lòng").click()  # a low score asks why
    assert page_.locator("#t-reasons").is_visible()
    page_.locator("#t-rating-form button[type=submit]").click()
    assert page_.locator("#t-rating-error").is_visible()
    page_.locator("label.t-choice", has_text="Chờ lâu").click()
    page_.locator("#t-rating-form button[type=submit]").click()
    page_.locator("#t-rated").wait_for(state="visible", timeout=8_000)
    assert page_.locator("#t-rating").is_hidden()
    page_.screenshot(path=str(artifacts / "tracking_rated.png"), full_page=True)
    track = requests.get(mine["track_url"].replace("/t/", "/api/v1/track/"), timeout=5).json()
    assert track["rating"]["score"] == 1 and track["can_rate"] is False
    context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_phone_cancels_with_confirmation(live_server, browser, artifacts):
    sp = live_server
    mine = issue(sp, "bhxh")
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page_ = context.new_page()
    page_.goto(mine["track_url"] + "?lang=en")
    page_.get_by_role("button", name="Cancel my number").click()
    assert page_.locator("#t-confirm").is_visible()
    page_.screenshot(path=str(artifacts / "tracking_cancel_confirm.png"), full_page=True)
    page_.get_by_role("button", name="No, keep my number").click()
    assert page_.locator("#t-confirm").is_hidden()
    page_.get_by_role("button", name="Cancel my number").click()
    page_.get_by_role("button", name="Yes, cancel it").click()
    page_.locator("#t-ended").wait_for(state="visible", timeout=8_000)
    assert page_.locator("#t-ended-text").inner_text() == "This number has been cancelled."
    track = requests.get(mine["track_url"].replace("/t/", "/api/v1/track/"), timeout=5).json()
    assert track["status"] == "cancelled"
    context.close()
