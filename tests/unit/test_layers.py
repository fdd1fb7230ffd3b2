"""The package's layers, read from its source: every import of every module
(inside functions too) is parsed with ``ast``, so a lazy import counts as well.

A top-level part is a subpackage (``store``) or a module (``config``) directly
under ``ticksmith``. Parts import each other one way only; the foundations
(``config``, ``errors``) import nothing above them; the data path does not
import the monitor, which watches it from the side.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "service" / "ticksmith"
DATA_PATH = ("ingest", "pipeline", "indicators", "cache", "kafka", "output", "store")
CONFIG_MAY_IMPORT = ("ticksmith.errors", "ticksmith.kafka.settings")
MAX_LINES = 300


@dataclass(frozen=True)
class Module:
    name: str  # dotted: ticksmith.store.store
    path: Path
    imports: frozenset[str]  # every dotted name imported: modules, and module.attribute

    @property
    def part(self) -> str | None:
        return part_of(self.name)

    def imports_of(self, prefix: str) -> list[str]:
        return sorted(n for n in self.imports if n == prefix or n.startswith(prefix + "."))


def part_of(name: str) -> str | None:
    """``ticksmith.store.store`` -> ``store``; None outside the package's parts."""
    parts = name.split(".")
    if parts[0] != "ticksmith" or len(parts) < 2 or parts[1] not in _parts():
        return None
    return parts[1]


@cache
def _parts() -> frozenset[str]:
    return frozenset(
        p.stem
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    )


@cache
def modules() -> tuple[Module, ...]:
    return tuple(_module(path) for path in sorted(PACKAGE.rglob("*.py")))


def _module(path: Path) -> Module:
    dotted = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = dotted[:-1]  # what a relative import is relative to
    name = ".".join(package if dotted[-1] == "__init__" else dotted)
    tree = ast.parse(path.read_text(), str(path))
    return Module(name, path, frozenset(_imported(tree, package)))


def _imported(tree: ast.AST, package: tuple[str, ...]) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package[: len(package) - node.level + 1]
                base = ".".join([*above, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def loaded_by(name: str) -> set[str]:
    """Every module that importing `name` runs, ours and (by name only) others'."""
    by_name = {m.name: m for m in modules()}
    ran: set[str] = set()
    todo = [name]
    while todo:
        dotted = todo.pop().split(".")
        for prefix in (".".join(dotted[:i]) for i in range(1, len(dotted) + 1)):
            if prefix not in ran and (prefix in by_name or not prefix.startswith("ticksmith")):
                ran.add(prefix)
                todo.extend(by_name[prefix].imports if prefix in by_name else ())
    return ran


def part_imports() -> dict[tuple[str, str], str]:
    """(importing part, imported part) -> one module import that makes the edge."""
    edges: dict[tuple[str, str], str] = {}
    for module in modules():
        for name in sorted(module.imports):
            target = part_of(name)
            if module.part and target and target != module.part:
                edges.setdefault((module.part, target), f"{module.name} imports {name}")
    return edges


def reachable(start: str, edges: dict[tuple[str, str], str]) -> dict[str, str]:
    """Parts reachable from `start`, each with the part it was first reached from."""
    came_from: dict[str, str] = {}
    todo = [start]
    while todo:
        here = todo.pop()
        for a, b in edges:
            if a == here and b not in came_from:
                came_from[b] = here
                todo.append(b)
    return came_from


def cycle_through(part: str, edges: dict[tuple[str, str], str]) -> list[str]:
    """A path of imports from `part` back to itself, or [] if there is none."""
    came_from = reachable(part, edges)
    if part not in came_from:
        return []
    path = [part]
    while path[-1] != part or len(path) == 1:
        path.append(came_from[path[-1]])
    return path[::-1]


def test_no_import_cycle_between_top_level_parts() -> None:
    edges = part_imports()
    cycles: dict[frozenset[str], list[str]] = {}
    for part in sorted(_parts()):
        if path := cycle_through(part, edges):
            cycles.setdefault(frozenset(path), path)
    shown = [
        " -> ".join(p) + "".join(f"\n    {edges[e]}" for e in pairwise(p)) for p in cycles.values()
    ]
    assert not cycles, "import cycles between parts:\n  " + "\n  ".join(shown)


def test_config_imports_only_errors_and_the_kafka_settings() -> None:
    (config,) = (m for m in modules() if m.name == "ticksmith.config")
    ours = config.imports_of("ticksmith")
    allowed = [n for n in ours if any(n == a or n.startswith(a + ".") for a in CONFIG_MAY_IMPORT)]
    assert ours == allowed, f"config.py imports {sorted(set(ours) - set(allowed))}"


def test_loading_the_settings_runs_only_the_foundations() -> None:
    """Importing config runs errors, the kafka package's __init__ and
    kafka.settings, and whatever they import: nothing above them, no pandas."""
    ran = loaded_by("ticksmith.config")
    assert {m for m in ran if m.startswith("ticksmith")} <= {
        "ticksmith",
        "ticksmith.config",
        "ticksmith.errors",
        "ticksmith.kafka",
        "ticksmith.kafka.settings",
    }
    assert not {"pandas", "numpy"} & {m.split(".")[0] for m in ran}


def test_the_data_path_does_not_import_the_monitor() -> None:
    offenders = [
        f"{m.name} imports {found[0]}"
        for m in modules()
        if m.part in DATA_PATH and (found := m.imports_of("ticksmith.monitor"))
    ]
    assert not offenders, "\n".join(offenders)
    edges = part_imports()
    for part in DATA_PATH:
        assert "monitor" not in reachable(part, edges), f"{part} reaches monitor through imports"


def test_the_store_does_not_load_pandas() -> None:
    """No module of store/ imports pandas, nor does ticks.py, which the store
    imports for TickBatch: importing the store runs no pandas."""
    offenders = [m.name for m in modules() if m.part == "store" and m.imports_of("pandas")]
    assert not offenders
    (ticks,) = (m for m in modules() if m.name == "ticksmith.ticks")
    assert not ticks.imports_of("pandas")
    assert "pandas" not in loaded_by("ticksmith.store.store")


def test_no_module_is_over_300_lines() -> None:
    long = {
        str(m.path.relative_to(PACKAGE.parent)): n
        for m in modules()
        if (n := len(m.path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_the_import_reader_sees_lazy_and_relative_imports() -> None:
    """The checks above are only as good as the reader: it must see an import
    inside a function, and resolve a relative one."""
    tree = ast.parse("def f():\n    from ticksmith.app import x\nfrom .. import errors\n")
    names = set(_imported(tree, ("ticksmith", "store")))
    assert {"ticksmith.app.x", "ticksmith.errors"} <= names
    (cli,) = (m for m in modules() if m.name == "ticksmith.cli")
    assert cli.imports_of("ticksmith.app")  # imported inside a function
