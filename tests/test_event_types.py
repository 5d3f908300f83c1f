"""One catalogue of event types (storage/event_types.py) for code, docs and the web client.

The names had drifted: docs/protocol.md named `note.created` and `event.changed`
(never written), erasure kept chains for reply types nobody writes, and the
chat client waited for `chat`, `dm` and `post` and matched edits by substring.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from realtime.protocol.codec import UNREADABLE
from storage import event_types
from storage.repo.channel_log import ERASED

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "web" / "static" / "js"
# Names the client gives an event object (not a frame, a form field or an input).
EVENT = r"(?:\be|\bevent|\bev|\bmsg\.event)"


def _documented() -> set[str]:
    text = (ROOT / "docs" / "protocol.md").read_text()
    section = text[text.index("### Event types"):]
    section = section[: section.index("\n\n", section.index("|---|"))]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE))


def _block(src: str, start: int) -> str:
    """The text of the brace block that opens at or after ``start``."""
    i = src.index("{", start)
    depth = 0
    for j in range(i, len(src)):
        depth += {"{": 1, "}": -1}.get(src[j], 0)
        if depth == 0:
            return src[i : j + 1]
    raise AssertionError("unbalanced braces")


def js_event_types(src: str) -> set[str]:
    """Every string literal a script compares an event's type to."""
    found = set(re.findall(EVENT + r"\.type\s*!?===?\s*'([^']+)'", src))
    for m in re.finditer(r"switch\s*\(" + EVENT + r"\.type\)", src):
        found |= set(re.findall(r"case\s+'([^']+)'", _block(src, m.end())))
    for m in re.finditer(r"const\s+\w*TYPES\w*\s*=\s*new Set\(\[([^\]]*)\]\)", src):
        found |= set(re.findall(r"'([^']+)'", m.group(1)))
    for name in re.findall(r"(\w+)\[" + EVENT + r"\.type\]", src):
        decl = re.search(r"const\s+" + name + r"\s*=\s*\{", src)
        assert decl, name
        found |= set(re.findall(r"^\s*'([^']+)'\s*:", _block(src, decl.start()), re.MULTILINE))
    return found


def _scripts() -> list[Path]:
    return [p for p in JS.rglob("*.js") if "vendor" not in p.parts]


def test_the_catalogue_is_well_formed() -> None:
    names = {v for k, v in vars(event_types).items() if k.isupper() and isinstance(v, str)}
    assert names == set(event_types.CATALOGUE)
    assert all(m and "\n" not in m for m in event_types.CATALOGUE.values())
    assert {ERASED, UNREADABLE} <= set(event_types.CATALOGUE)


def test_protocol_md_documents_exactly_the_catalogue() -> None:
    assert _documented() == set(event_types.CATALOGUE)


def test_the_web_client_handles_only_catalogued_types() -> None:
    seen: dict[str, set[str]] = {}
    for path in _scripts():
        src = path.read_text()
        # A substring test (type.includes('edit')) matches names nobody can check.
        assert not re.search(EVENT + r"\.type\.(?:includes|startsWith|endsWith)\(", src), path
        seen[str(path.relative_to(ROOT))] = js_event_types(src)
    handled = set().union(*seen.values())
    assert handled - set(event_types.CATALOGUE) == set(), seen
    # The parser finds what the client does handle (a guard against a parser that sees nothing).
    assert {
        "message",
        "message.deleted",
        "dm.received",
        "note.published",
        "event_changed",
    } <= handled


def test_the_parser_sees_each_form() -> None:
    src = """
    if (e.type === 'a.one') x();
    if (msg.event.type == 'b') y();
    if (f.type === 'textarea') z();
    switch (event.type) { case 'c': break; case 'd': { } }
    switch (frame.type) { case 'hello': break; }
    const CHAT_TYPES = new Set(['e', 'f']);
    const NOTICES = {
      'g': (b) => `${b}`,
    };
    const make = NOTICES[event.type];
    """
    assert js_event_types(src) == {"a.one", "b", "c", "d", "e", "f", "g"}


def _written_types(path: Path) -> set[str]:
    """String literals given as the type of a NewEvent(...) or a BoardTx.emit(...)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in {"NewEvent", "emit"}:
            continue
        args = [*node.args[1:2], *(k.value for k in node.keywords if k.arg in {"type", "type_"})]
        out |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return out


def test_code_writes_no_type_by_a_bare_string() -> None:
    bare = {
        str(p.relative_to(ROOT)): types
        for pkg in ("storage", "realtime", "web")
        for p in (ROOT / pkg).rglob("*.py")
        if (types := _written_types(p))
    }
    assert bare == {}, "use the names of storage/event_types.py"
