"""Every text people see on the web pages has Vietnamese, and the compiled catalogues are current."""
from __future__ import annotations

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
