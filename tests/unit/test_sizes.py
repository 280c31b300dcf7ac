"""Small modules and short functions in the server: no module over 400 lines and no function over
50 lines in server/ without a reason written beside it — a comment `# long: <reason>` on the line of
its `def` (or the line above), or at the top of a module for the module. A reason that no longer
stands beside anything long is stale and fails too, so reasons do not outlive their cause."""
from __future__ import annotations

import ast
import re
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
REASON = re.compile(r"#\s*long:\s*\S")
MODULE_REASON_LINES = 15  # a module's reason stands among its first lines
# Alembic revisions are one schema step each, read top to bottom and never edited once released.
SKIP = ("storage/migrations/",)


def _python_files():
    for path in sorted(SERVER.rglob("*.py")):
        rel = path.relative_to(SERVER).as_posix()
        if not rel.startswith(SKIP):
            yield rel, path.read_text(encoding="utf-8").splitlines()


def _functions(lines: list[str]):
    """(name, first line number, length, whether a reason stands beside its `def`)."""
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            beside = lines[node.lineno - 1] + (lines[node.lineno - 2] if node.lineno > 1 else "")
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1, bool(REASON.search(beside))


def _module_reason(lines: list[str]) -> bool:
    return any(REASON.search(line) for line in lines[:MODULE_REASON_LINES])


def sizes_of(rel: str, lines: list[str]) -> tuple[list[str], list[str]]:
    """(what is too long without a reason, reasons that stand beside nothing long) in one module."""
    too_long, stale = [], []
    if len(lines) > MAX_MODULE_LINES and not _module_reason(lines):
        too_long.append(f"{rel}: {len(lines)} lines")
    module_reason_used = len(lines) > MAX_MODULE_LINES
    function_reasons = set()
    for name, lineno, length, reasoned in _functions(lines):
        if reasoned:
            function_reasons.update((lineno, lineno - 1))
        if length > MAX_FUNCTION_LINES and not reasoned:
            too_long.append(f"{rel}:{lineno} {name}() {length} lines")
        elif length <= MAX_FUNCTION_LINES and reasoned:
            stale.append(f"{rel}:{lineno} {name}() has a `# long:` reason but only {length} lines")
    for number, line in enumerate(lines, start=1):
        if REASON.search(line) and number not in function_reasons and \
                not (number <= MODULE_REASON_LINES and module_reason_used):
            stale.append(f"{rel}:{number} a `# long:` reason beside nothing long")
    return too_long, stale


def _all() -> tuple[list[str], list[str]]:
    too_long, stale = [], []
    for rel, lines in _python_files():
        a, b = sizes_of(rel, lines)
        too_long += a
        stale += b
    return too_long, stale


def test_no_module_over_400_lines_and_no_function_over_50_without_a_reason():
    assert _all()[0] == []


def test_no_reason_outlives_its_cause():
    assert _all()[1] == []


def test_the_check_sees_what_it_looks_for():
    body = ["    x = 1"] * MAX_FUNCTION_LINES
    long_fn = ["def long_one():", *body]
    assert sizes_of("m.py", long_fn) == (["m.py:1 long_one() 51 lines"], [])
    assert sizes_of("m.py", ["# long: a table read top to bottom", *long_fn]) == ([], [])
    assert sizes_of("m.py", ["def short(): # long: once it was", "    return 1"])[1] != []
    assert sizes_of("m.py", ["x = 1  # long: beside nothing"])[1] != []
    big = ["x = 1"] * (MAX_MODULE_LINES + 1)
    assert sizes_of("big.py", big)[0] == [f"big.py: {MAX_MODULE_LINES + 1} lines"]
    assert sizes_of("big.py", ['"""doc"""', "# long: one generated table", *big]) == ([], [])
    assert len(list(_python_files())) > 50
