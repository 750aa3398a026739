"""The layout's rules, read from the code itself (``ast``; nothing is imported or run).

* Packages import each other in one direction: no cycle between them, and each imports only
  what :data:`ALLOWED` says (the README's "Architecture" section is the same table).
* SQL lives in ``store/`` only; settings are read in ``config.py`` only.
* No module over :data:`MAX_MODULE_LINES` lines, no function over :data:`MAX_FUNCTION_LINES`.

A "package" here is a sub-package of ``smsgate`` (``api``, ``store``...) or a module at its root
(``worker``, ``config``...).  What breaks a rule today is listed, by name, in
:data:`KNOWN_DEBT`: the list only shrinks.  A new violation fails; so does an entry that is no
longer true (remove it, so that it cannot come back unnoticed).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "smsgate"

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50

#: what each package may import (besides itself, the standard library and third parties).
#: ``__init__`` is the package's own ``smsgate/__init__.py`` (its version); anyone may read it.
ALLOWED: dict[str, frozenset[str]] = {
    name: frozenset(deps)
    for name, deps in {
        "config": (),
        "domain": (),
        "latency": (),
        "logs": (),
        "shutdown": (),
        "limits": ("domain",),
        "auth": ("domain", "config", "limits"),
        "store": ("domain", "config", "limits"),
        "callbacks": ("domain", "config", "store"),
        "smpp": ("domain", "latency"),
        "smsc": ("domain", "smpp"),
        "dispatch": ("domain", "config", "store", "limits", "callbacks", "latency"),
        "metrics": ("domain", "store", "callbacks", "smpp", "latency"),
        "api": ("domain", "config", "auth", "store", "limits", "callbacks", "logs", "metrics"),
        "console": ("domain", "config", "auth", "store", "callbacks", "dispatch", "api"),
        "worker": ("domain", "config", "store", "limits", "callbacks", "dispatch", "smpp",
                   "smsc", "metrics", "shutdown"),
        "app": ("config", "domain", "store", "api", "console", "metrics", "worker"),
        "cli": ("domain", "config", "auth", "store", "dispatch", "smpp", "smsc", "logs", "shutdown",
                "api", "console", "app", "worker"),
        "__main__": ("cli",),
    }.items()
}

#: Violations allowed for now, each named.  It is empty: a new violation fails, so the layout
#: only gets cleaner; an entry put back here needs a reason in the commit that adds it.
KNOWN_DEBT: dict[str, frozenset[object]] = {
    # package cycles, each as the set of packages in it
    "cycles": frozenset(),
    # imports outside ALLOWED, as (importer, imported)
    "imports": frozenset(),
    # modules over MAX_MODULE_LINES, by path under src/smsgate
    "modules": frozenset(),
    # functions over MAX_FUNCTION_LINES, as "path:qualified name"
    "functions": frozenset(),
    # SQL outside store/, and settings read outside config.py, as "path:line"
    "sql": frozenset(),
    "environment": frozenset(),
}


# --- reading the code ------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    path: str  # under src/smsgate, e.g. "api/app.py"
    name: str  # dotted, e.g. "smsgate.api.app"
    package: str  # the unit of the rules: "api", or a root module's own name
    tree: ast.Module
    lines: int


def _package_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for file in sorted(SRC.rglob("*.py")):
        rel = file.relative_to(SRC)
        dotted = ["smsgate", *rel.with_suffix("").parts]
        if dotted[-1] == "__init__":
            dotted.pop()
        name = ".".join(dotted)
        text = file.read_text(encoding="utf-8")
        found.append(Module(rel.as_posix(), name, _package_of(name), ast.parse(text, str(file)),
                            len(text.splitlines())))
    return tuple(found)


@cache
def _module_names() -> frozenset[str]:
    return frozenset(m.name for m in modules())


def _imported(module: Module) -> Iterator[tuple[str, int]]:
    """The ``smsgate`` modules ``module`` imports (its ``TYPE_CHECKING`` imports too: a
    type is knowledge of the other package all the same), with their line."""
    is_package = module.path.endswith("__init__.py")
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                parts = module.name.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join([*parts[:keep], *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in _module_names() else base), node.lineno


@cache
def edges() -> dict[tuple[str, str], list[str]]:
    """Package → package, each with where it happens (``path:line``)."""
    found: dict[tuple[str, str], list[str]] = {}
    for module in modules():
        for name, line in _imported(module):
            if name != "smsgate" and not name.startswith("smsgate."):
                continue
            target = _package_of(name)
            if target != module.package:
                found.setdefault((module.package, target), []).append(f"{module.path}:{line}")
    return found


def cycles() -> set[frozenset[str]]:
    """The strongly connected components of more than one package (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges():
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def forbidden_imports() -> dict[tuple[str, str], list[str]]:
    return {
        (source, target): where for (source, target), where in edges().items()
        if target != "__init__" and target not in ALLOWED.get(source, frozenset())
    }


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes (prose, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


_SQL = re.compile(
    r"\bSELECT\s.*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(?:TABLE|INDEX)\b|\bALTER\s+TABLE\b",
    re.DOTALL,
)


def _literal_text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with ``{}`` for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def sql_outside_store() -> list[str]:
    found = []
    for module in modules():
        if module.package == "store":
            continue
        prose = _docstrings(module.tree)
        for node in ast.walk(module.tree):
            if id(node) in prose:
                continue
            text = _literal_text(node)
            if text is not None and _SQL.search(text):
                found.append(f"{module.path}:{node.lineno}")
    return sorted(set(found))


def environment_reads() -> list[str]:
    """``os.environ`` / ``os.getenv`` (and ``from os import environ``) outside ``config.py``;
    and ``typer.Option(envvar="SMSGATE_…")`` spelled out anywhere but there (a flag's
    variable is named in ``config.py``, with every other setting)."""
    found = []
    for module in modules():
        if module.path == "config.py":
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                found.append(f"{module.path}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                a.name in ("environ", "getenv", "environb") for a in node.names
            ):
                found.append(f"{module.path}:{node.lineno}")
            elif isinstance(node, ast.keyword) and node.arg == "envvar" and _literal_text(node.value):
                found.append(f"{module.path}:{node.value.lineno}")
    return sorted(set(found))


def big_modules() -> list[str]:
    return sorted(m.path for m in modules() if m.lines > MAX_MODULE_LINES)


def big_functions() -> list[str]:
    found = []

    def walk(node: ast.AST, prefix: str, path: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = (child.end_lineno or child.lineno) - child.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(f"{path}:{name}")
                walk(child, f"{name}.", path)
            else:
                walk(child, prefix, path)

    for module in modules():
        walk(module.tree, "", module.path)
    return sorted(found)


# --- the rules -------------------------------------------------------------------------------


def _new_and_stale(kind: str, found: set) -> tuple[list, list]:
    known = KNOWN_DEBT[kind]
    return sorted(found - known, key=str), sorted(known - found, key=str)


def test_every_package_has_a_row_in_the_table() -> None:
    packages = {m.package for m in modules()} - {"__init__"}
    assert packages <= set(ALLOWED), f"add these to ALLOWED (and the README): {packages - set(ALLOWED)}"


def test_the_readme_states_the_same_table() -> None:
    """The README's "Architecture" section lists what each package may import: this table."""
    readme = (SRC.parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    stated = {}
    for row in re.findall(r"^\| `([\w_]+)` \| [^|]+ \| ([^|]+) \|$", section, re.MULTILINE):
        name, deps = row
        stated[name] = frozenset() if deps.strip() == "nothing" else frozenset(deps.strip().split(", "))
    assert stated == ALLOWED


def test_no_cycle_between_packages() -> None:
    new, stale = _new_and_stale("cycles", cycles())
    assert not new, f"new import cycles between packages: {new}; imports: " + str(
        {e: w for e, w in edges().items() if any(set(e) <= set(c) for c in cycles())})
    assert not stale, f"fixed, take them out of KNOWN_DEBT['cycles']: {stale}"


def test_packages_import_only_what_the_table_allows() -> None:
    found = forbidden_imports()
    new, stale = _new_and_stale("imports", set(found))
    assert not new, "imports the table does not allow: " + "; ".join(
        f"{s} -> {t} ({', '.join(found[(s, t)])})" for s, t in new)
    assert not stale, f"fixed, take them out of KNOWN_DEBT['imports']: {stale}"


def test_sql_only_in_the_store() -> None:
    new, stale = _new_and_stale("sql", set(sql_outside_store()))
    assert not new, f"SQL outside store/ (call a store function instead): {new}"
    assert not stale, f"fixed, take them out of KNOWN_DEBT['sql']: {stale}"


def test_settings_only_in_config() -> None:
    new, stale = _new_and_stale("environment", set(environment_reads()))
    assert not new, f"settings read outside config.py (add them to Settings): {new}"
    assert not stale, f"fixed, take them out of KNOWN_DEBT['environment']: {stale}"


def test_no_module_too_big() -> None:
    new, stale = _new_and_stale("modules", set(big_modules()))
    assert not new, f"modules over {MAX_MODULE_LINES} lines (split along a seam): {new}"
    assert not stale, f"fixed, take them out of KNOWN_DEBT['modules']: {stale}"


def test_no_function_too_long() -> None:
    new, stale = _new_and_stale("functions", set(big_functions()))
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines: {new}"
    assert not stale, f"fixed, take them out of KNOWN_DEBT['functions']: {stale}"


# --- the rules' own reading of code, on examples ---------------------------------------------


def _module(path: str, source: str) -> Module:
    tree = ast.parse(source)
    name = "smsgate." + path.removesuffix(".py").replace("/", ".")
    return Module(path, name, _package_of(name), tree, len(source.splitlines()))


@pytest.mark.parametrize(("source", "is_sql"), [
    ('q = "SELECT id FROM messages WHERE id=?"', True),
    ('q = f"UPDATE projects SET {column}=NULL"', True),
    ('q = "DELETE FROM optouts"', True),
    ('q = "INSERT INTO operators (name) VALUES (?)"', True),
    ('q = "select a number from the list"', False),
    ('q = "Select the project, then update its settings"', False),
    ('def f():\n    """SELECT x FROM y: prose in a docstring."""', False),
])
def test_sql_is_recognised(source: str, is_sql: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.modules", lambda: (_module("console/x.py", source),))
    assert bool(sql_outside_store()) is is_sql


@pytest.mark.parametrize(("source", "reads"), [
    ('import os\nx = os.environ.get("SMSGATE_X")', True),
    ('import os\nx = os.getenv("SMSGATE_X")', True),
    ('from os import environ\nx = environ["SMSGATE_X"]', True),
    ('import typer\nOpt = typer.Option("--x", envvar="SMSGATE_X")', True),
    ('import typer\nfrom smsgate import config\nOpt = typer.Option("--x", envvar=config.ENV_X)', False),
    ('x = "SMSGATE_X is read in config.py"', False),
])
def test_environment_reads_are_recognised(source: str, reads: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.modules", lambda: (_module("api/x.py", source),))
    assert bool(environment_reads()) is reads


def test_cycles_and_relative_imports_are_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = (
        _module("api/a.py", "from ..console import b\n"),
        _module("console/b.py", "from smsgate.store import c\n"),
        _module("store/c.py", "from smsgate.api import a\n"),
        _module("domain/d.py", "x = 1\n"),
    )
    monkeypatch.setattr(f"{__name__}.modules", lambda: fake)
    for cached in (edges, _module_names):
        monkeypatch.setattr(f"{__name__}.{cached.__name__}", cached.__wrapped__)
    assert cycles() == {frozenset({"api", "console", "store"})}
