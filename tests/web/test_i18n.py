"""Every text people see on the web pages has Vietnamese, and the compiled catalogues are current."""
from __future__ import annotations

import re
from io import BytesIO

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from conftest import ROOT

CATALOGUES = ROOT / "layso" / "translations"
METHODS = [("server/**.py", "python"), ("layso/**.py", "python"), ("server/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def code_msgids() -> set[str]:
    ids = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_message_in_the_code_has_vietnamese():
    with open(CATALOGUES / "vi" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalogue = read_po(f, locale="vi")
    translated = {(m.id if isinstance(m.id, str) else m.id[0]) for m in catalogue
                  if m.id and (m.string if isinstance(m.string, str) else all(m.string))}
    ids = code_msgids()
    assert len(ids) > 100
    missing = sorted(ids - translated)
    assert not missing, f"no Vietnamese for {missing[:20]} (run ./dev i18n and fill the msgstr)"


def test_compiled_catalogues_match_their_sources():
    for lang in ("vi", "en"):
        folder = CATALOGUES / lang / "LC_MESSAGES"
        with open(folder / "messages.po", "rb") as f:
            po = {m.id: m.string for m in read_po(f, locale=lang) if m.id and m.string and not m.fuzzy}
        mo = {m.id: m.string for m in read_mo(BytesIO((folder / "messages.mo").read_bytes())) if m.id}
        assert mo == po, f"{lang}: messages.mo is older than messages.po (run ./dev i18n)"


# ---- English left on a Vietnamese page -----------------------------------------------------------------
# msgids whose Vietnamese is rightly the same text (names, codes, units)
SAME_IN_VIETNAMESE = {"layso", "OpenAPI", "API", "CSV", "XLSX", "PIN", "QR", "%(n)s s", "Email"}
ENGLISH_WORDS = re.compile(r"\b(the|and|of|to|is|are|with|your|please|not|this|for|from|by|at|has|have|"
                           r"counter|field|number|ticket|waiting|open|closed)\b")


def test_no_message_stays_english_in_vietnamese():
    """A msgstr that equals its English msgid, or still reads English, shows English on a Vietnamese page."""
    with open(CATALOGUES / "vi" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalogue = read_po(f, locale="vi")
    left = []
    for m in catalogue:
        msgid = m.id if isinstance(m.id, str) else m.id[0]
        text = m.string if isinstance(m.string, str) else " ".join(m.string)
        if not msgid or not text or msgid in SAME_IN_VIETNAMESE:
            continue
        bare = re.sub(r"%\(\w+\)[sd]|\{\w+\}", "", text)
        if text == msgid or ENGLISH_WORDS.search(bare):
            left.append(f"{msgid!r} -> {text!r}")
    assert not left, "English in the Vietnamese catalogue:\n" + "\n".join(left)


def test_every_config_validation_message_has_vietnamese(app):
    """The configuration's validators word their errors in English (CLI, logs); the admin pages show
    each of them translated — a new validator message without a translation fails here."""
    from layso.server.pages.wording import config_message
    source = (ROOT / "layso" / "config.py").read_text(encoding="utf-8")
    templates = re.findall(r'raise ValueError\((f?)"([^"]+)"\)', source)
    assert len(templates) >= 15
    generic = None
    with app.test_request_context("/admin?lang=vi"):
        from flask_babel import force_locale
        with force_locale("vi"):
            generic = config_message("something no validator says")
            for is_f, template in templates:
                if not is_f:
                    assert config_message(template) != generic, f"no Vietnamese for the config message {template!r}"
                    continue
                sample = re.sub(r"\{[^}]*!r\}", "'x'", template)
                sample = re.sub(r"\{sorted\([^}]*\)\}|\{unknown\}|\{unserved\}", "['a', 'b']", sample)
                sample = re.sub(r"\{(self\.)?\w+(\.\w+)?\}", "7", sample)
                text = config_message(sample)
                assert text != generic, f"no Vietnamese for the config message {template!r}"
                assert not ENGLISH_WORDS.search(re.sub(r"'x'|\['a', 'b'\]|\{\w+\}", "", text)), (template, text)


def test_error_pages_speak_vietnamese_and_the_api_keeps_json(app):
    client = app.test_client()
    page = client.get("/no-such-page")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and '<html lang="vi">' in html and "Không tìm thấy trang" in html
    assert "Not Found" not in html and "requested URL" not in html
    assert client.post("/login", data={}).status_code == 400  # no CSRF token: the form expired, in Vietnamese
    assert "Biểu mẫu đã hết hạn" in client.post("/login", data={}).get_data(as_text=True)
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
