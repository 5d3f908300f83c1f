"""Real identity servers for the single sign-on tests, on 127.0.0.1 at free ports.

``oidc_provider``: an OpenID Connect provider (oidc-provider-mock: Authlib's authorization
server in Flask), served by Werkzeug on a thread, behind a PKCE check (the provider does
not enforce PKCE itself: this WSGI layer refuses a token request whose code_verifier does
not match the S256 challenge of its authorization request, as a strict provider would).
``sso_app``: a classhub app configured for it; ``browser``: an httpx client that reaches
both, following redirects, as a browser would.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from werkzeug.serving import make_server

from tests.conftest import make_settings

with warnings.catch_warnings():
    # oidc-provider-mock builds on authlib.jose, which Authlib 1.9 marks deprecated.
    warnings.simplefilter("ignore")
    import oidc_provider_mock

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class PkceGuard:
    """S256 challenges by authorization code; a token request must bring the verifier."""

    app: WsgiApp
    challenges: dict[str, tuple[str, str]] = field(default_factory=dict)
    refused: int = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/oauth2/token" and method == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = BytesIO(body)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            challenge, how = self.challenges.pop(form.get("code", ""), ("", ""))
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if how != "S256" or digest.rstrip(b"=").decode() != challenge:
                self.refused += 1
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "invalid_grant", "error_description": "PKCE failed"}']
        if path == "/oauth2/authorize" and method == "POST":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            pkce = (query.get("code_challenge", ""), query.get("code_challenge_method", ""))

            def remember(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                for name, value in headers:
                    if name.lower() == "location":
                        code = parse_qs(urlsplit(value).query).get("code")
                        if code:
                            self.challenges[code[0]] = pkce
                return start_response(status, headers, *rest)

            return self.app(environ, remember)
        return self.app(environ, start_response)


@dataclass
class Provider:
    issuer: str
    guard: PkceGuard

    def set_user(self, sub: str, **claims: Any) -> None:
        r = httpx.put(f"{self.issuer}/users/{sub}", json=claims)
        assert r.status_code == 204, r.text


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flask_app = oidc_provider_mock.app(require_nonce=True)
    guard = PkceGuard(flask_app)
    server = make_server("127.0.0.1", 0, guard, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Provider(f"http://127.0.0.1:{server.server_port}", guard)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def oidc_env(provider: Provider, **extra: str) -> dict[str, str]:
    return {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": "classhub-test",
        "OIDC_CLIENT_SECRET": "classhub-test-secret",
        "OIDC_PROVIDER_NAME": "Test School",
        **extra,
    }


@asynccontextmanager
async def sso_app(db_url: str, var_dir: Path, **env: str) -> AsyncIterator[Any]:
    from web.app import create_app

    application = create_app(make_settings(db_url, var_dir, **env))
    async with application.router.lifespan_context(application):
        yield application


def browser(app: Any) -> httpx.AsyncClient:
    """classhub at http://testserver (in process), every other address over the network."""
    return httpx.AsyncClient(
        base_url="http://testserver",
        mounts={"http://testserver": httpx.ASGITransport(app=app)},
        follow_redirects=True,
        timeout=30,
    )


async def provider_sign_in(client: httpx.AsyncClient, sub: str, start: str = "/auth/oidc/start"
                           ) -> httpx.Response:
    """Start at classhub, pick ``sub`` on the provider's sign-in form, follow back."""
    form = await client.get(start)
    assert form.status_code == 200 and "/oauth2/authorize" in str(form.url), form.text
    return await client.post(str(form.url), data={"sub": sub})
