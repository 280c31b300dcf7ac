"""The layers hold (ARCHITECTURE.md): the domain imports neither SQLAlchemy nor Flask; the device
programs and the wire-protocol side of `layso` import neither; `layso.server` has no import cycle.

Read from the source (ast), not by importing: every import statement counts, also inside functions
(a lazy import still runs), except under `if TYPE_CHECKING:`. Importing a module also runs its
parent packages' `__init__`, so those count for what a module pulls in.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# package → folder, as pyproject.toml installs them
PACKAGES = {"layso": ROOT / "layso", "layso.server": ROOT / "server", "layso.kiosk": ROOT / "kiosk",
            "layso.display": ROOT / "display", "layso.counter_panel": ROOT / "counter_panel",
            "layso.hardware": ROOT / "hardware"}
WEB_AND_DB = {"flask", "flask_socketio", "flask_babel", "flask_wtf", "werkzeug", "sqlalchemy", "alembic",
              "psycopg", "jinja2"}
DEVICE_SIDE = ("layso.kiosk", "layso.display", "layso.counter_panel", "layso.hardware", "layso.protocol",
               "layso.client")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            if pkg == "layso" and rel.parts[0] in ("server", "kiosk", "display", "counter_panel", "hardware"):
                continue
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([pkg, *parts])
            if "migrations" in parts:
                continue
            out[name] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING" or \
        isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"


def _imports(name: str, top_level_only: bool) -> set[str]:
    """Absolute names a module imports (for `from X import Y`: X.Y when that is a module, else X)."""
    path = MODULES[name]
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(nodes, nested: bool):
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, nested)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_pkg else name.split(".")[:-1]
                    here = here[:len(here) - node.level + 1]
                    base = ".".join(here + ([node.module] if node.module else []))
                for a in node.names:
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
            is_scope = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            visit(ast.iter_child_nodes(node), nested or is_scope)

    visit(tree.body, False)
    return found


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES]


@cache
def pulls_in(name: str) -> frozenset[str]:
    """Every module (ours and third-party roots) importing `name` runs, transitively."""
    seen: set[str] = set()
    todo = [name, *_parents(name)]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m in MODULES:
            for dep in _imports(m, top_level_only=False):
                todo.append(dep)
                todo.extend(_parents(dep))
    return frozenset(m if m in MODULES else m.split(".")[0] for m in seen)


def _offenders(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    out = {}
    for name in MODULES:
        if name.startswith(prefixes):
            bad = set(pulls_in(name)) & WEB_AND_DB
            if bad:
                out[name] = bad
    return out


def test_the_domain_imports_neither_sqlalchemy_nor_flask():
    assert any(m.startswith("layso.server.domain.") for m in MODULES)
    assert _offenders(("layso.server.domain",)) == {}


def test_device_programs_and_the_protocol_import_neither_flask_nor_sqlalchemy():
    assert _offenders(DEVICE_SIDE) == {}


def test_layso_server_has_no_import_cycle():
    graph = {m: {d for d in _imports(m, top_level_only=True) if d in MODULES and d.startswith("layso.server")}
             for m in MODULES if m.startswith("layso.server")}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m)
    assert cycles == []


def test_the_check_sees_what_it_looks_for():
    """The reader finds a known import chain (so a silent parser cannot pass the checks above)."""
    assert "sqlalchemy" in pulls_in("layso.server.engine")
    assert "flask" in pulls_in("layso.server.pages.admin")
    assert "layso.server.domain.queue" in pulls_in("layso.server.engine.calls")
