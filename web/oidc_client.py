"""The relying party of OpenID Connect's authorization code flow with PKCE (RFC 7636).

Authlib's core makes the PKCE challenge and the random values; the project's httpx talks
to the provider (discovery, the token endpoint); joserfc checks the ID token
(web/jwks.py). No framework state: the route keeps state, nonce and verifier in a signed
cookie of the browser that started the flow (web/sso_flow.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from storage.sso_config import OidcSettings
from web.jwks import FETCH_TIMEOUT_SECS, check_claims, fetch_json, verified_claims
from web.sso_errors import SsoRefused

# The provider's discovery document is read again after this long.
DISCOVERY_CACHE_SECS = 3600.0


@dataclass(frozen=True)
class ProviderMetadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class FlowSecrets:
    """What one browser's sign-in must bring back: the state in the redirect, the nonce in
    the ID token, and the PKCE verifier only the token request reveals."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> FlowSecrets:
        return cls(generate_token(32), generate_token(32), generate_token(64))


@dataclass(frozen=True)
class Identity:
    email: str
    email_verified: bool
    name: str
    subject: str


_discovered: dict[str, tuple[float, ProviderMetadata]] = {}


async def metadata(config: OidcSettings) -> ProviderMetadata:
    cached = _discovered.get(config.issuer)
    if cached is not None and time.monotonic() - cached[0] < DISCOVERY_CACHE_SECS:
        return cached[1]
    doc = await fetch_json(f"{config.issuer}/.well-known/openid-configuration")
    # OpenID Connect Discovery 4.3: the document must name the issuer we asked.
    if doc.get("issuer", "").rstrip("/") != config.issuer:
        raise SsoRefused(
            "provider_misconfigured",
            f"the provider's discovery document names issuer {doc.get('issuer')!r}, "
            f"not OIDC_ISSUER {config.issuer!r}",
            502,
        )
    try:
        found = ProviderMetadata(
            str(doc["authorization_endpoint"]), str(doc["token_endpoint"]), str(doc["jwks_uri"])
        )
    except KeyError as missing:
        raise SsoRefused(
            "provider_misconfigured", f"the discovery document lacks {missing}", 502
        ) from None
    _discovered[config.issuer] = (time.monotonic(), found)
    return found


def authorization_url(
    config: OidcSettings, meta: ProviderMetadata, secrets: FlowSecrets, redirect_uri: str
) -> str:
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": config.scopes,
        "state": secrets.state,
        "nonce": secrets.nonce,
        "code_challenge": create_s256_code_challenge(secrets.verifier),
        "code_challenge_method": "S256",
    }
    sep = "&" if "?" in meta.authorization_endpoint else "?"
    return f"{meta.authorization_endpoint}{sep}{urlencode(params)}"


async def redeem_code(
    config: OidcSettings, meta: ProviderMetadata, code: str, verifier: str, redirect_uri: str
) -> str:
    """The ID token the provider gives for ``code`` (and our PKCE verifier)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": config.client_id,
    }
    # client_secret_basic for a confidential client; a public one proves itself by PKCE.
    auth: httpx.Auth = (
        httpx.BasicAuth(config.client_id, config.client_secret)
        if config.client_secret else httpx.Auth()
    )
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECS) as client:
            response = await client.post(
                meta.token_endpoint, data=form, auth=auth, headers={"Accept": "application/json"}
            )
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoRefused(
            "provider_unavailable", f"the token endpoint failed ({exc})", 502
        ) from None
    if response.status_code != 200 or not isinstance(answer, dict):
        error = answer.get("error", response.status_code) if isinstance(answer, dict) else ""
        raise SsoRefused("code_refused", f"the provider refused the sign-in code ({error})")
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise SsoRefused("code_refused", "the provider's answer has no ID token")
    return id_token


async def identity(
    config: OidcSettings, meta: ProviderMetadata, id_token: str, nonce: str
) -> Identity:
    """Who the ID token names, once signature, issuer, audience, expiry and nonce check."""
    claims = await verified_claims(id_token, meta.jwks_uri)
    check_claims(claims, iss=config.issuer, aud=config.client_id, nonce=nonce)
    aud = claims.get("aud")
    # Core 3.1.3.7: with several audiences, azp must be us.
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != config.client_id:
        raise SsoRefused("bad_token", "the ID token was issued to another client (azp)")
    return _identity_of(config, claims)


def _identity_of(config: OidcSettings, claims: dict[str, Any]) -> Identity:
    email = claims.get(config.email_claim)
    name = claims.get(config.name_claim)
    verified = claims.get("email_verified")
    # Some providers send the flag as the string "true".
    return Identity(
        email=email if isinstance(email, str) else "",
        email_verified=verified is True or verified == "true",
        name=name if isinstance(name, str) else "",
        subject=str(claims["sub"]),
    )
