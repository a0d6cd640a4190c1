"""The code keeps its shape: no function in batchkit/ is longer than 60 lines.

A function's length runs from its `def` line to its last line, docstring and comments included (a long
docstring is still something to read past), decorators not. Complexity and argument counts are ruff's
job (C901 / PLR in pyproject.toml); this test covers what ruff does not measure."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "batchkit"
MAX_LINES = 60

# "path/inside/batchkit.py:qualified.name" -> why it may stay longer. Empty today: keep it so.
EXCEPTIONS: dict[str, str] = {
    "validate/validator.py:Validator.feed_lines": "the validation hot loop: a call per line costs 2-4%",
}


def function_lengths(path: Path):
    """(qualified name, first line, length) of every function and method in one module."""

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield name, child.lineno, child.end_lineno - child.lineno + 1
                yield from visit(child, name + ".")
            else:
                yield from visit(child, prefix)

    yield from visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), "")


def test_function_lengths_counts_def_to_last_line(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '@decorator\ndef f():\n    """Doc."""\n    return 1\n\n\nclass C:\n    def g(self):\n        pass\n'
    )
    assert list(function_lengths(module)) == [("f", 2, 3), ("C.g", 8, 2)]


def test_no_function_is_longer_than_60_lines():
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, line, length in function_lengths(path):
            key = f"{path.relative_to(PACKAGE).as_posix()}:{name}"
            if length > MAX_LINES and key not in EXCEPTIONS:
                too_long[key] = f"{length} lines from line {line}"
    assert not too_long, f"split these functions (or list them in EXCEPTIONS with a reason): {too_long}"


def test_every_exception_is_still_needed():
    lengths = {
        f"{path.relative_to(PACKAGE).as_posix()}:{name}": length
        for path in PACKAGE.rglob("*.py")
        for name, _, length in function_lengths(path)
    }
    stale = [key for key in EXCEPTIONS if lengths.get(key, 0) <= MAX_LINES]
    assert not stale, f"these functions are short now (or gone): drop them from EXCEPTIONS: {stale}"
