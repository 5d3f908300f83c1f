"""The browser client is served with a strict CSP, client routes get the shell, the API
keeps its 404s."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.services import require

ROOT = Path(__file__).resolve().parent.parent

# Serving files does not depend on the database backend.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def script_src(csp: str) -> str:
    for part in csp.split(";"):
        part = part.strip()
        if part.startswith("script-src"):
            return part
    return ""


@sqlite_only
async def test_shell_has_csp_without_inline_scripts(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert script_src(csp) == "script-src 'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    # The shell loads one module from /static and has no inline script or handler.
    html = r.text
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/static/js/app.js">']
    assert not re.search(r"\son[a-z]+=", html)


@sqlite_only
@pytest.mark.parametrize(
    "path",
    [
        "/events",
        "/events/12",
        "/events/12/board",
        "/invite/abc-DEF_123",
        "/admin/audit",
        "/me",
        "/signin",
        "/trainer/3",
        "/dm/4",
    ],
)
async def test_client_routes_fall_back_to_the_shell(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert '<main id="main"' in r.text
    assert "content-security-policy" in r.headers


@sqlite_only
async def test_api_and_unknown_paths_are_not_swallowed(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/no-such-thing")
    assert r.status_code == 404
    assert "<main" not in r.text
    r = await client.get("/nowhere")
    assert r.status_code == 404


@sqlite_only
async def test_shell_names_its_icon_so_browsers_do_not_ask_for_favicon_ico(
    client: httpx.AsyncClient,
) -> None:
    # Without a <link rel="icon"> every browser asks for /favicon.ico: a 404 (and a console
    # error) per visit.
    html = (await client.get("/")).text
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    assert len(icons) == 1
    r = await client.get(icons[0])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.content.startswith(b"<svg")


@sqlite_only
async def test_static_modules_and_service_worker(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/js/app.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"
    sw = await client.get("/sw.js")
    assert sw.status_code == 200
    assert "javascript" in sw.headers["content-type"]
    assert sw.headers["service-worker-allowed"] == "/"
    assert (await client.get("/static/../web/app.py")).status_code == 404


def test_client_never_parses_html_from_data() -> None:
    """No innerHTML/outerHTML/insertAdjacentHTML/document.write anywhere in the client's own
    modules.

    The vendored lit-html (static/vendor/, checked below) sets innerHTML once per template,
    on a <template> element, from the literal strings of a tagged template in our source,
    never from a value; values are bound as text or attributes."""
    from web.spa import STATIC_DIR, VENDOR_DIR

    offenders = []
    for path in STATIC_DIR.rglob("*.js"):
        if path.is_relative_to(VENDOR_DIR):
            continue
        text = path.read_text()
        for bad in (
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ):
            if bad in text:
                offenders.append(f"{path.name}: {bad}")
    assert offenders == []


def require_client_library() -> None:
    from web.spa import CLIENT_LIBRARY, VENDOR_DIR

    require(
        all((VENDOR_DIR / name).is_file() for name in CLIENT_LIBRARY),
        "the web client's library (scripts/vendor.sh)",
    )


def test_client_modules_use_lit_html_safely_and_only_what_vendor_sh_copies() -> None:
    """The client imports from vendor/ only the lit-html modules scripts/vendor.sh copies (no
    unsafe-* directive among them) and never names one; the version is pinned in package.json,
    locked with its integrity hash, and vendor/ holds exactly npm's verified files."""
    from web.spa import CLIENT_LIBRARY, STATIC_DIR, VENDOR_DIR

    imported: set[str] = set()
    for path in STATIC_DIR.rglob("*.js"):
        if path.is_relative_to(VENDOR_DIR):
            continue
        text = path.read_text()
        assert not re.search(
            r"unsafe(HTML|SVG|MathML|Static)|unsafe-(html|svg|mathml)|lit-html/static", text
        ), path
        for spec in re.findall(r"""from\s+'([^']*vendor/[^']*)'""", text):
            target = (path.parent / spec).resolve()
            imported.add(target.relative_to(VENDOR_DIR.resolve()).as_posix())
    assert imported and imported <= set(CLIENT_LIBRARY)

    script = (ROOT / "scripts" / "vendor.sh").read_text()
    files = re.search(r"^FILES=\(([^)]*)\)", script, re.MULTILINE)
    assert files is not None
    copied = {f"lit-html/{name}" for name in files.group(1).split()}
    assert copied == set(CLIENT_LIBRARY) | {"lit-html/LICENSE"}

    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert pinned == {"lit-html": locked["node_modules/lit-html"]["version"]}
    assert locked["node_modules/lit-html"]["integrity"].startswith("sha512-")

    require_client_library()
    on_disk = {p.relative_to(VENDOR_DIR).as_posix() for p in VENDOR_DIR.rglob("*") if p.is_file()}
    assert on_disk == copied
    npm_copy = ROOT / "node_modules" / "lit-html"
    if npm_copy.is_dir():  # a source checkout after scripts/vendor.sh
        assert json.loads((npm_copy / "package.json").read_text())["version"] == pinned["lit-html"]
        for name in copied:
            assert (VENDOR_DIR / name).read_bytes() == (
                npm_copy / name.removeprefix("lit-html/")
            ).read_bytes(), name


@sqlite_only
async def test_client_library_is_served_and_precached(client: httpx.AsyncClient) -> None:
    require_client_library()
    r = await client.get("/static/vendor/lit-html/directives/repeat.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert script_src(r.headers["content-security-policy"]) == "script-src 'self'"
    sw = (await client.get("/sw.js")).text
    for name in (
        "lit-html/lit-html.js",
        "lit-html/directive.js",
        "lit-html/directive-helpers.js",
        "lit-html/directives/repeat.js",
    ):
        assert f'"/static/vendor/{name}"' in sw


def test_serve_refuses_to_start_without_the_client_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server whose web client could not load its board says in one line how to fetch it."""
    import web.spa
    from web.cli import main

    monkeypatch.setattr(web.spa, "VENDOR_DIR", tmp_path / "vendor")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    # A port nothing can bind: were the check missing, this fails at once instead of serving.
    assert main(["serve", "--port", "65536"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "web client's library is missing" in err and "scripts/vendor.sh" in err
    assert not (tmp_path / "never.db").exists()
