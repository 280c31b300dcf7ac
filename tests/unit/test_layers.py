"""The layers hold (ARCHITECTURE.md, docs/DESIGN.md): the domain imports neither SQLAlchemy nor Flask;
the engine no web framework and no adapter; storage and read models none of the layers above them;
the adapters (REST, Socket.IO, pages) write no SQL; the device programs and the wire-protocol side of
`layso` import neither Flask nor SQLAlchemy nor any server code; `layso.server` has no import cycle.

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
WEB = {"flask", "flask_socketio", "flask_babel", "flask_wtf", "werkzeug", "jinja2"}
WEB_AND_DB = WEB | {"sqlalchemy", "alembic", "psycopg"}
# the server's layers that take requests: none below them may import them
ADAPTERS = tuple(f"layso.server.{m}" for m in ("api", "pages", "realtime", "auth", "dispatch", "services", "app",
                                                "serving", "startup", "janitor", "metrics", "health"))
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


@cache
def _imports(name: str, top_level_only: bool) -> frozenset[str]:
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
    return frozenset(found)


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


def _offenders(prefixes: tuple[str, ...], forbidden: set[str] = WEB_AND_DB,
               forbidden_ours: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Modules under `prefixes` that pull in a forbidden third-party root or one of our modules
    under `forbidden_ours`."""
    out = {}
    for name in MODULES:
        if name.startswith(prefixes):
            pulled = pulls_in(name)
            bad = (set(pulled) & forbidden) | {m for m in pulled if forbidden_ours and m.startswith(forbidden_ours)}
            if bad:
                out[name] = bad
    return out


def test_the_domain_imports_neither_sqlalchemy_nor_flask():
    assert any(m.startswith("layso.server.domain.") for m in MODULES)
    assert _offenders(("layso.server.domain",)) == {}


def test_device_programs_and_the_protocol_import_neither_flask_nor_sqlalchemy():
    assert _offenders(DEVICE_SIDE) == {}


def test_device_programs_import_no_server_code():
    assert _offenders(DEVICE_SIDE, set(), ("layso.server",)) == {}


def test_the_engine_and_the_domain_import_no_web_framework_and_no_adapter():
    """Commands run the same from the CLI, the janitor, tests and benchmarks as from a request."""
    assert _offenders(("layso.server.engine", "layso.server.domain"), WEB,
                      (*ADAPTERS, "layso.server.queries", "layso.server.notify")) == {}


def test_the_domain_imports_nothing_of_the_server_but_the_domain():
    assert _offenders(("layso.server.domain",), set(),
                      tuple(f"layso.server.{m}" for m in ("engine", "storage", "queries", "notify", "clock",
                                                           "errors"))) == {}
    assert not [m for m in MODULES if m.startswith("layso.server.domain")
                for d in pulls_in(m) if d.startswith("layso.server.") and not d.startswith("layso.server.domain")]


def test_storage_and_read_models_import_no_layer_above_them():
    assert _offenders(("layso.server.storage",), set(), (*ADAPTERS, "layso.server.engine", "layso.server.queries",
                                                         "layso.server.notify")) == {}
    assert _offenders(("layso.server.queries",), set(), ADAPTERS) == {}


# Adapters that still speak to the database themselves, each with its reason (an entry that no
# longer matches fails, so this only shrinks).
WRITES_SQL = {
    "layso.server.api.readiness": "readiness probes the database itself (SELECT 1, writable, migrated)",
    "layso.server.pages.province": "issue 14 (province): its centre and account reads move to queries",
}


def _sql_imports(name: str) -> set[str]:
    """What a module imports to build SQL itself: SQLAlchemy (its exception types aside), the models, the
    shared conditions."""
    return {d for d in _imports(name, top_level_only=False)
            if (d == "sqlalchemy" or d.startswith("sqlalchemy.") and not d.startswith("sqlalchemy.exc"))
            or d.startswith(("layso.server.storage.models", "layso.server.storage.where"))}


def test_the_adapters_are_thin_they_write_no_sql():
    """REST, Socket.IO and the pages call engine commands and read models (`queries/`), never SQL."""
    adapters = [m for m in MODULES if m.startswith(("layso.server.api", "layso.server.pages", "layso.server.realtime"))]
    assert len(adapters) > 15
    writing = {m: _sql_imports(m) for m in adapters if _sql_imports(m)}
    assert {m: d for m, d in writing.items() if m not in WRITES_SQL} == {}
    assert set(WRITES_SQL) <= set(writing), "remove the entries of adapters that no longer write SQL"


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
    assert {"flask", "layso.server.domain.accounts"} <= pulls_in("layso.server.auth")
    assert _sql_imports("layso.server.queries.admin") >= {"sqlalchemy", "layso.server.storage.models"}
    assert _offenders(("layso.server.pages.admin",), set(), ("layso.server.engine",))
