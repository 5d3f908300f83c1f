"""A learning platform (Moodle, Canvas) as an LTI 1.3 tool meets it, on 127.0.0.1: its
public keys (JWKS), and its OIDC authorization endpoint, which checks the tool's
authentication request and answers as platforms do, with a page that form-posts the signed
id_token and the state to the tool's launch URL (1EdTech Security Framework 1.0 §5.1.1).
What the next launch says (roles, course, deployment, audience) is the test's to set."""

from __future__ import annotations

import html
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
CLIENT_ID = "classhub-tool-1"
DEPLOYMENT = "deployment-7"


@dataclass
class Platform:
    issuer: str
    key: RSAKey
    # Claims of the next launch on top of the standard ones; `forge` signs with another key.
    launch: dict[str, Any] = field(default_factory=dict)
    forge: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    # The tool's address (its PUBLIC_URL): the launch URL the platform posts to.
    tool: str = "http://testserver"

    @property
    def auth_url(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def id_token(self, request: dict[str, str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": request["client_id"],
            "sub": request["login_hint"],
            "iat": now,
            "exp": now + 300,
            "nonce": request["nonce"],
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "target_link_uri": f"{self.tool}/lti/launch",
            CLAIM + "resource_link": {"id": "link-1", "title": "Live session"},
            CLAIM + "context": {"id": "course-101", "label": "C101", "title": "Course 101"},
            CLAIM + "roles": [LEARNER],
            "email": f"{request['login_hint']}@school.example",
            "name": "Launched Person",
            **self.launch,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        key = RSAKey.generate_key(2048, parameters={"kid": "k1"}) if self.forge else self.key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


class _Handler(BaseHTTPRequestHandler):
    platform: Platform

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _send(self, status: int, body: str, kind: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlsplit(self.path)
        if url.path == "/jwks":
            import json

            keys = KeySet([self.platform.key]).as_dict(private=False)
            self._send(200, json.dumps(keys), "application/json")
            return
        if url.path != "/auth":
            self._send(404, "not found", "text/plain")
            return
        request = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.platform.requests.append(request)
        # What the platform insists on in the tool's authentication request.
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                    "prompt": "none", "client_id": CLIENT_ID,
                    "redirect_uri": f"{self.platform.tool}/lti/launch"}
        wrong = [k for k, v in expected.items() if request.get(k) != v]
        if wrong or not request.get("nonce") or not request.get("state"):
            self._send(400, f"invalid authentication request: {wrong}", "text/plain")
            return
        token = self.platform.id_token(request)
        page = (
            f'<form id="launch" method="post" action="{html.escape(request["redirect_uri"])}">'
            f'<input type="hidden" name="id_token" value="{html.escape(token)}">'
            f'<input type="hidden" name="state" value="{html.escape(request["state"])}">'
            "</form><script>document.getElementById('launch').submit()</script>"
        )
        self._send(200, page, "text/html")


FIELD = re.compile(r'name="(id_token|state)" value="([^"]*)"')
ACTION = re.compile(r'action="([^"]*)"')


def form_post(page: str) -> tuple[str, dict[str, str]]:
    """The auto-submitting form's target and fields, as the browser would post them."""
    match = ACTION.search(page)
    assert match is not None, page
    return html.unescape(match.group(1)), {k: html.unescape(v) for k, v in FIELD.findall(page)}


@contextmanager
def lti_platform(tool: str = "http://testserver") -> Iterator[Platform]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    platform = Platform(
        f"http://127.0.0.1:{server.server_port}",
        RSAKey.generate_key(2048, parameters={"kid": "k1"}),
        tool=tool,
    )
    handler = type("Handler", (_Handler,), {"platform": platform})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def person() -> str:
    return f"lti-{uuid.uuid4().hex[:10]}"
