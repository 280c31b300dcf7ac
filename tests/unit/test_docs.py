"""The design notes name what is there: every module of the engine and every folder of the server
(docs/DESIGN.md), so a newcomer's walk through them finds each piece."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")


def test_design_names_every_module_of_the_engine():
    modules = sorted(p.name for p in (ROOT / "server" / "engine").glob("*.py") if p.name != "__init__.py")
    assert len(modules) > 10
    assert [m for m in modules if f"`{m}`" not in DESIGN] == []


def test_design_names_every_folder_of_the_server():
    folders = sorted(p.name for p in (ROOT / "server").iterdir()
                     if p.is_dir() and (p / "__init__.py").exists())
    assert {"domain", "engine", "storage", "queries", "api", "realtime", "pages"} <= set(folders)
    assert [f for f in folders if f"`server/{f}/`" not in DESIGN] == []
