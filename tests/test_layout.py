"""Packages point one way: no import cycle between batchkit's packages and top-level modules, function-level
imports counted (imports only type checkers see are not). Function-level imports of batchkit's own modules
are kept to a few known lazy ones (a module that would pull in a heavy dependency), each said why."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "batchkit"

# "module:imported" → why it is imported inside a function
LAZY: dict[str, str] = {}


def _module(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _target(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` blocks."""
    hidden = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for n in ast.walk(node))
    return hidden


def imports(path: Path):
    """(imported batchkit module, line, inside a function) of every import of a module that runs."""
    module, is_package = _module(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_only(tree)
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                   for n in ast.walk(f)}  # fmt: skip
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom):
            target = _target(node, module, is_package)
            names = [f"{target}.{a.name}" for a in node.names] if target == "batchkit" else [target]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("batchkit."):
                yield name, node.lineno, id(node) in in_function


def unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: batchkit.validate.rules → validate."""
    return module.split(".")[1]


def graph() -> dict[str, dict[str, list[str]]]:
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in PACKAGE.rglob("*.py"):
        module, _ = _module(path)
        if module == "batchkit":
            continue
        for name, line, _lazy in imports(path):
            if unit(name) != unit(module):
                edges[unit(module)][unit(name)].append(f"{path.relative_to(PACKAGE)}:{line}")
    return edges


def cycles(edges) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}}) == [["a", "b", "c"]]


def test_no_package_imports_another_that_imports_it_back():
    edges = graph()
    found = cycles(edges)
    where = {
        tuple(c): [f"{a} → {b}: {edges[a][b][:3]}" for a in c for b in edges[a] if b in c] for c in found
    }
    assert found == [], where


def test_nothing_below_the_cli_imports_it():
    edges = graph()
    assert [
        name for name, targets in edges.items() if "cli" in targets and name not in ("cli", "__main__")
    ] == []


def test_function_level_imports_of_batchkit_are_the_known_lazy_ones():
    lazy = {
        f"{_module(path)[0]}:{name}"
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts
        for name, _line, inside in imports(path)
        if inside
    }
    assert lazy == set(LAZY), sorted(lazy ^ set(LAZY))
