"""Every web page at 1366×768, 1920×1080 and 390×844 in headless Chromium: nothing overflows the
page sideways, no text is clipped (an accent cut off included), and no English is left on a
Vietnamese page. One server and one browser serve the whole module; each role signs in once.

Screenshots go to tests/artifacts/layout-<page>-<viewport>.png.
"""
from __future__ import annotations

import re

import pytest
from conftest import chromium, requires_chromium, start_server
from layout import VIEWPORTS, layout_problems

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]

PASSWORD = "password-123"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A centre with a day's work behind it: tickets waiting, one being served, some done and rated."""
    sp = start_server(tmp_path_factory.mktemp("layout"))
    sp.add_user("quantri", "admin", full_name="Quản trị viên")
    sp.add_user("lanhdao", "manager", full_name="Lãnh đạo Trung tâm")
    sp.add_user("lan", "staff", full_name="Nguyễn Thị Lan")
    sp.add_user("tinh", "province_admin", full_name="Quản trị cấp tỉnh")
    kiosk = sp.add_device("kiosk", "Kiosk sảnh chính")
    display = sp.add_device("display", "Màn hình sảnh")
    panel = sp.add_device("counter", "Bảng quầy 2", counter=2)
    sp.add_device("counter", "Bảng quầy 3", counter=3)
    sp.seat_officers()  # someone is signed in at each counter (a counter without one cannot call)
    tickets = [sp.post("/api/v1/tickets", kiosk, {"field": f}).json()
               for f in ("dat-dai", "bhxh", "tu-phap-ho-tich", "dat-dai", "bhxh", "dat-dai")]
    sp.post("/api/v1/tickets", kiosk, {"field": "bhxh", "priority": "elderly"})
    assert sp.post("/api/v1/devices/me/status", kiosk, {"printer": "paper_out"}).status_code == 204
    # counter 2 serves two citizens, both rate; then it calls a third
    for _ in range(2):
        r = sp.post("/api/v1/counters/2/next", panel)
        assert r.status_code == 200, r.text
        done = sp.post("/api/v1/counters/2/complete", panel, {"dossier_code": "H12.34-250101-0001"}).json()
        sp.post(f"/api/v1/tickets/{done['ticket']['id']}/rating", panel, {"score": 4})
    assert sp.post("/api/v1/counters/2/next", panel).status_code == 200
    sp.tickets = tickets
    sp.display_token = display
    yield sp
    sp.stop()


@pytest.fixture(scope="module")
def browser_():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def contexts(site, browser_):
    """One signed-in browser context per role (and one for the public), Vietnamese phones."""
    out = {}
    for role, user, counter in (("admin", "quantri", ""), ("manager", "lanhdao", ""), ("staff", "lan", "1"),
                                ("province", "tinh", "")):
        ctx = browser_.new_context(locale="vi-VN")
        page = ctx.new_page()
        page.goto(site.url + "/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", PASSWORD)
        if counter:
            page.fill("input[name=counter]", counter)
        page.click("button[type=submit]")
        page.wait_for_url(site.url + "/")
        page.close()
        out[role] = ctx
    out["public"] = browser_.new_context(locale="vi-VN")
    display = browser_.new_context(locale="vi-VN")
    page = display.new_page()
    page.goto(f"{site.url}/display?token={site.display_token}")
    page.close()
    out["display"] = display
    yield out
    for ctx in out.values():
        ctx.close()


def _track_path(site) -> str:
    return "/t/" + site.tickets[-1]["track_url"].rsplit("/", 1)[1]


# (name, context, path or callable(site), selector that shows the page is drawn)
PAGES = [
    ("signin", "public", "/login", "form"),
    ("home", "admin", "/", "main"),
    ("console", "staff", "/console", "#queue tbody tr"),
    ("console-pick", "staff", "/console?pick=1", ".counter-list"),
    ("dashboard-live", "manager", "/manage", "main"),
    ("dashboard-stats", "manager", "/manage/stats?group=field", "main"),
    ("dashboard-stats-hour", "manager", "/manage/stats?group=hour", "main"),
    ("admin-overview", "admin", "/admin", "main"),
    ("admin-fields", "admin", "/admin/fields", "main"),
    ("admin-field-form", "admin", "/admin/fields/dat-dai", "main"),
    ("admin-field-new", "admin", "/admin/fields/new", "main"),
    ("admin-counters", "admin", "/admin/counters", "main"),
    ("admin-counter-form", "admin", "/admin/counters/2", "main"),
    ("admin-hours", "admin", "/admin/hours", "main"),
    ("admin-ticker", "admin", "/admin/ticker", "main"),
    ("admin-devices", "admin", "/admin/devices", "main"),
    ("admin-accounts", "admin", "/admin/accounts", "main"),
    ("province-overview", "province", "/province", "main"),
    ("province-stats", "province", "/province/stats", "main"),
    ("province-centres", "province", "/province/centres", "main"),
    ("display", "display", "/display", "#counters .d-row"),
    ("tracking", "public", _track_path, "#t-num"),
    ("tracking-missing", "public", "/t/nothing-here", "main"),
]

# English words that never belong on a Vietnamese page (whole words, case-sensitive where it matters)
ENGLISH = re.compile(r"\b(the|and|of|to|is|are|with|your|please|field|counter|number|waiting|open|closed|"
                     r"paused|save|cancel|sign|home|failed|fetch|error|status|priority|display|"
                     r"device|user|hours|ticker|add|change)\b", re.I)
# words that are names, codes or data, allowed in Vietnamese pages
ALLOWED = {"layso", "English", "OpenAPI", "API", "CSV", "XLSX", "PIN", "QR", "TTHC"}


def english_left(text: str) -> list[str]:
    words = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line in ALLOWED:
            continue
        for m in ENGLISH.finditer(line):
            words.append(f"{m.group(0)!r} in {line[:80]!r}")
    return words


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name,ctx,path,ready", PAGES, ids=[p[0] for p in PAGES])
def test_page_fits_and_nothing_is_clipped(site, contexts, artifacts, name, ctx, path, ready, viewport):
    width, height = VIEWPORTS[viewport]
    page = contexts[ctx].new_page()
    page.set_viewport_size({"width": width, "height": height})
    try:
        url = site.url + (path(site) if callable(path) else path)
        page.goto(url)
        page.wait_for_selector(ready, state="attached", timeout=15000)
        page.evaluate("document.fonts.ready")
        page.wait_for_timeout(300)  # live pages draw once more after their socket's first state
        page.screenshot(path=str(artifacts / f"layout-{name}-{viewport}.png"), full_page=name != "display")
        problems = layout_problems(page)
        assert not problems, f"{name} at {width}×{height}:\n" + "\n".join(problems)
        if viewport == "laptop":
            assert page.evaluate("document.documentElement.lang") == "vi"
            body = page.inner_text("body")
            assert not english_left(body), f"English on the Vietnamese page {name}:\n" + "\n".join(english_left(body))
    finally:
        page.close()


@pytest.mark.parametrize("size", [(1024, 768), (1280, 720), (1366, 768)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_lobby_display_on_common_tv_resolutions(site, contexts, artifacts, size):
    """Lobby TVs: "MỜI CÔNG DÂN SỐ" and "QUẦY" keep their accents whole, nothing is cut."""
    page = contexts["display"].new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    try:
        page.goto(site.url + "/display")
        page.wait_for_selector("#counters .d-row", timeout=15000)
        page.evaluate("document.fonts.ready")
        page.wait_for_function("document.getElementById('call-label').textContent.length > 0")
        assert page.inner_text("#call-label") == "MỜI CÔNG DÂN SỐ"
        # a TV's browser that refuses to play sound before a touch shows "Bật âm thanh": it must
        # cover nothing (it once hid the last row of the waiting counts)
        page.evaluate("document.getElementById('sound').hidden = false")
        over = page.evaluate("""() => {
          const b = document.getElementById('sound').getBoundingClientRect();
          return Array.from(document.querySelectorAll('.d-panel, .d-call, .d-ticker')).filter(p => {
            const r = p.getBoundingClientRect();
            return b.width > 0 && b.left < r.right && b.right > r.left && b.top < r.bottom && b.bottom > r.top;
          }).map(p => p.className);
        }""")
        assert over == [], f"the sound button lies over {over}"
        page.screenshot(path=str(artifacts / f"layout-display-{size[0]}x{size[1]}.png"))
        problems = layout_problems(page)
        assert not problems, "\n".join(problems)
        # the third column is the counter's fields; its state is in the number column
        headers = page.locator(".d-counters .d-head span").all_inner_texts()
        assert headers == ["Quầy", "Đang phục vụ số", "Lĩnh vực"]
        closed = page.locator("#counters .d-row", has_text="Quầy 3").inner_text()
        assert "Đóng" in closed and "Bảo hiểm xã hội" in closed
    finally:
        page.close()
