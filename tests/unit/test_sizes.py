"""Small modules and short functions in the server: no module over 400 lines and no function over
50 lines in server/ without a reason written beside it — a comment `# long: <reason>` on the line of
its `def` (or the line above), or at the top of a module for the module."""
from __future__ import annotations

import ast
import re
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
REASON = re.compile(r"#\s*long:\s*\S")
# Alembic revisions are one schema step each, read top to bottom and never edited once released.
SKIP = ("storage/migrations/",)
# Functions whose owners have not split them yet, each with the owner (remove an entry when it is done;
# an entry that no longer matches fails the check, so this list only shrinks).
IN_PROGRESS = {
}


def _python_files():
    for path in sorted(SERVER.rglob("*.py")):
        rel = path.relative_to(SERVER).as_posix()
        if not rel.startswith(SKIP):
            yield rel, path.read_text(encoding="utf-8").splitlines()


def long_modules() -> list[str]:
    return [f"{rel}: {len(lines)} lines" for rel, lines in _python_files()
            if len(lines) > MAX_MODULE_LINES and not any(REASON.search(line) for line in lines[:15])]


def long_functions() -> list[str]:
    out = []
    for rel, lines in _python_files():
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            beside = lines[node.lineno - 1] + (lines[node.lineno - 2] if node.lineno > 1 else "")
            if length > MAX_FUNCTION_LINES and not REASON.search(beside) and f"{rel} {node.name}" not in IN_PROGRESS:
                out.append(f"{rel}:{node.lineno} {node.name}() {length} lines")
    return out


def test_no_module_over_400_lines_without_a_reason():
    assert long_modules() == []


def test_no_function_over_50_lines_without_a_reason():
    assert long_functions() == []


def test_the_list_of_functions_still_to_split_is_not_stale():
    names = set()
    for rel, lines in _python_files():
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                names.add(f"{rel} {node.name}")
    assert set(IN_PROGRESS) <= names, "remove the entries of functions now short enough"
