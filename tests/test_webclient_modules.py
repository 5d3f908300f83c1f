"""The web client's modules import one way: app.js (boot, router) -> screens -> shared modules.

Every module of ours under web/static/js is read for its static imports
(`import ... from '...'`, `import '...'`, `export ... from '...'`) and its dynamic ones
(`import('...')`); relative specifiers are resolved like the browser does. The graph must
have no cycle, and nothing may import app.js (the entry point the shell loads): a module
that needs the session or navigation imports js/session.js or js/nav.js instead.
Run this file alone to see the graph's cycles printed: pytest tests/test_webclient_modules.py
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "web" / "static"
JS = STATIC / "js"
ENTRY = "js/app.js"

# Strings and template literals are kept (they hold the specifiers); comments are dropped,
# so an example in a comment is not an import.
_STRING_OR_COMMENT = re.compile(
    r"""("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`)|(//[^\n]*|/\*.*?\*/)""",
    re.DOTALL,
)
# A static import/re-export starts a statement: at a line's start or after a ';'.
_STATIC = re.compile(
    r"""(?:^|;)[ \t]*"""
    r"""(?:import[ \t]*(?:[\w$*{}\s,]+?\sfrom\s*)?|export\s*[\w$*{}\s,]+?\sfrom\s*)"""
    r"""(['"])([^'"\n]+)\1""",
    re.MULTILINE,
)
_DYNAMIC = re.compile(r"""(?<![\w$.])import\s*\(""")
_DYNAMIC_LITERAL = re.compile(r"""\s*(['"])([^'"\n]+)\1\s*\)""")


def strip_comments(source: str) -> str:
    return _STRING_OR_COMMENT.sub(
        lambda m: m.group(1) or (" " if m.group(2).startswith("/*") else ""), source
    )


def specifiers(source: str) -> list[str]:
    """Every module specifier `source` imports, statically or dynamically, in order of
    appearance."""
    code = strip_comments(source)
    found: list[tuple[int, str]] = [(m.start(2), m.group(2)) for m in _STATIC.finditer(code)]
    for m in _DYNAMIC.finditer(code):
        lit = _DYNAMIC_LITERAL.match(code, m.end())
        if lit is None:
            # import(someVariable) cannot be checked: the graph would be incomplete.
            line = code.count("\n", 0, m.start()) + 1
            raise AssertionError(f"line {line}: import() of a value that is not a string literal")
        found.append((lit.start(2), lit.group(2)))
    return [spec for _, spec in sorted(found)]


def resolve(importer: str, spec: str) -> str:
    """The imported module's path relative to web/static, like the browser resolves it."""
    if spec.startswith("/static/"):
        target = spec[len("/static/") :]
    elif spec.startswith(("./", "../")):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
    else:
        raise AssertionError(
            f"{importer}: '{spec}' is neither relative nor under /static/ "
            "(no import map, no bundler)"
        )
    if target.startswith("../"):
        raise AssertionError(f"{importer}: '{spec}' leaves web/static")
    return target


def ours() -> list[str]:
    return sorted(p.relative_to(STATIC).as_posix() for p in JS.rglob("*.js"))


def import_graph() -> dict[str, list[str]]:
    """Each module of ours -> the modules it imports (vendor modules are leaves: they never
    import ours)."""
    graph: dict[str, list[str]] = {}
    for module in ours():
        try:
            targets = [
                resolve(module, s)
                for s in specifiers((STATIC / module).read_text(encoding="utf-8"))
            ]
        except AssertionError as err:
            raise AssertionError(f"{module}: {err}") from None
        for t in targets:
            if not t.startswith("vendor/"):
                assert (STATIC / t).is_file(), f"{module} imports {t}, which does not exist"
        graph[module] = [t for t in targets if t.startswith("js/")]
    return graph


def _shortest_cycle(graph: dict[str, list[str]], start: str, members: set[str]) -> list[str] | None:
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        if start in graph.get(v, []):
            path = [v]
            while path[-1] != start:
                path.append(came_from[path[-1]])
            return [*reversed(path), start]
        for w in graph.get(v, []):
            if w in members and w not in came_from and w != start:
                came_from[w] = v
                queue.append(w)
    return None


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """A shortest cycle through each module that is on one, each cycle once (from its
    smallest module)."""
    found: dict[tuple[str, ...], list[str]] = {}
    for component in strongly_connected(graph):
        members = set(component)
        for start in component:
            cycle = _shortest_cycle(graph, start, members)
            if cycle is None:
                continue
            ring = cycle[:-1]
            first = ring.index(min(ring))
            canonical = ring[first:] + ring[:first]
            found.setdefault(tuple(canonical), [*canonical, canonical[0]])
    return sorted(found.values())


def test_the_parser_finds_every_kind_of_import_and_nothing_else() -> None:
    source = """
// import { no } from './commented.js';
/* import './block-commented.js';
   import { also } from './no.js'; */
import { a, b as c } from './a.js';
import {
  d,
  e,
} from "../b.js";
import * as f from './c.js'; import g from './d.js';
import './side-effect.js';
export { h } from './e.js';
export * from './f.js';
export const text = "import x from './in-a-string.js'";
const url = 'https://example.org/'; // a string with // in it
const later = () => import('./g.js');
const { x } = await import ( "./h.js" );
"""
    assert specifiers(source) == [
        "./a.js",
        "../b.js",
        "./c.js",
        "./d.js",
        "./side-effect.js",
        "./e.js",
        "./f.js",
        "./g.js",
        "./h.js",
    ]
    with pytest.raises(AssertionError, match="not a string literal"):
        specifiers("const name = './x.js';\nimport(name);\n")
    assert resolve("js/screens/room.js", "../board.js") == "js/board.js"
    assert resolve("js/board.js", "../vendor/lit-html/lit-html.js") == "vendor/lit-html/lit-html.js"
    with pytest.raises(AssertionError, match="neither relative"):
        resolve("js/app.js", "lit-html")


def test_the_cycle_finder_names_each_cycle() -> None:
    graph = {"a": ["b"], "b": ["c", "a"], "c": ["b"], "d": ["d"], "e": ["a"]}
    assert cycles(graph) == [["a", "b", "a"], ["b", "c", "b"], ["d", "d"]]
    assert cycles({"a": ["b"], "b": ["c"], "c": []}) == []


def test_the_graph_is_read_from_every_module() -> None:
    graph = import_graph()
    assert set(graph) == set(ours())
    # The router's dynamic imports are edges too (a parser that found nothing would pass the
    # tests below).
    assert {"js/screens/signin.js", "js/screens/room.js", "js/screens/admin.js"} <= set(
        graph[ENTRY]
    )
    assert "js/board.js" in graph["js/screens/room.js"]


def test_web_client_modules_have_no_import_cycle() -> None:
    found = cycles(import_graph())
    for cycle in found:
        print("import cycle: " + " -> ".join(cycle))
    assert not found, f"{len(found)} import cycle(s): " + "; ".join(" -> ".join(c) for c in found)


def test_no_module_imports_the_entry_point() -> None:
    importers = sorted(module for module, targets in import_graph().items() if ENTRY in targets)
    for module in importers:
        print(f"{module} imports {ENTRY}")
    assert not importers, f"{ENTRY} is the entry point (boot, router); these import it: {importers}"
