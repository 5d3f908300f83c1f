"""The shape of the code: the sans-I/O core stays free of I/O dependencies, imports point
downward only (web -> realtime -> storage; loadtest talks over the wire and may reuse only
realtime.protocol), and no two modules import each other, directly or around a loop.

Every import counts: at module level, inside functions (a deferred import is still a
dependency, often one hiding a cycle) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("storage", "realtime", "web", "loadtest")
PROTOCOL = "realtime.protocol"
# Libraries that do I/O (or drag in the ORM): none may load with the protocol package.
IO_LIBRARIES = ("sqlalchemy", "uvicorn", "websockets", "starlette", "redis", "asyncpg")

# Cycles still in the tree, each as the set of its modules, with the reason it stays.
# Remove an entry when its cycle is broken; the test fails on a cycle not listed here and
# on an entry that no longer is one (so the list cannot go stale).
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "results" in path.relative_to(ROOT).parts:
                continue
            out[_module_name(path)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in the file, resolved to the most precise
    module we know: ``from realtime import protocol`` is realtime.protocol."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node.lineno


def _graph() -> dict[str, set[str]]:
    """Edges between our own modules (a parent package's __init__ is not an edge)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _line in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module."""
    return [_shortest_cycle(graph, comp) for comp in _components(graph)]


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan; the graph is ~200 nodes, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return components


def _shortest_cycle(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """The shortest way from the component's smallest module back to it (breadth first)."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    found = None
    while frontier and found is None:
        nxt: list[str] = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    found = v
                    break
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
            if found is not None:
                break
        frontier = nxt
    assert found is not None
    path = [found]
    while path[-1] != start:
        path.append(prev[path[-1]])
    path.reverse()
    return [*path, start]


def _layer_violations() -> list[str]:
    def allowed(importer: str, target: str) -> bool:
        top = target.split(".")[0]
        layer = importer.split(".")[0]
        if layer == "storage":
            return top not in ("realtime", "web", "loadtest")
        if layer == "realtime":
            return top not in ("web", "loadtest")
        if layer == "loadtest":
            if top in ("storage", "web"):
                return False
            return top != "realtime" or target == PROTOCOL or target.startswith(PROTOCOL + ".")
        return True

    out = []
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            if not allowed(name, target):
                out.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}")
    return out


def test_the_protocol_package_imports_only_stdlib_msgpack_and_itself() -> None:
    modules = {n: p for n, p in MODULES.items() if n == PROTOCOL or n.startswith(PROTOCOL + ".")}
    assert len(modules) >= 10, sorted(modules)  # the package and its modules were found
    bad = []
    for name, path in modules.items():
        for target, line in _imports(name, path):
            top = target.split(".")[0]
            if top in sys.stdlib_module_names or top == "msgpack":
                continue
            if target == PROTOCOL or target.startswith(PROTOCOL + "."):
                continue
            bad.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not bad, "realtime/protocol/ must stay sans-I/O:\n" + "\n".join(bad)


def test_importing_the_protocol_package_loads_no_io_library() -> None:
    names = sorted(n for n in MODULES if n == PROTOCOL or n.startswith(PROTOCOL + "."))
    assert len(names) >= 10, names
    forbidden = (*IO_LIBRARIES, "storage", "web")
    probe = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"importing {PROTOCOL} loaded {out.stdout.strip()}"


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    found = {frozenset(c): c for c in cycles}
    new = [" -> ".join(c) for key, c in found.items() if key not in KNOWN_CYCLES]
    gone = [sorted(key) for key in KNOWN_CYCLES if key not in found]
    assert not new, "import cycles:\n" + "\n".join(new)
    assert not gone, f"listed in KNOWN_CYCLES but no longer a cycle (remove them): {gone}"


def test_imports_point_downward() -> None:
    bad = _layer_violations()
    assert not bad, (
        "storage imports nothing of realtime/web; realtime nothing of web; loadtest only "
        "realtime.protocol of the server:\n" + "\n".join(bad)
    )


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
